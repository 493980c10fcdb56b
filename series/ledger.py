"""The SQL of the ingest bookkeeping: the ledger of file batches and the quarantine of rejected
rows. Shared by both series adapters ($n placeholders; {src} a quoted relation name formatted in
by the adapter).
"""

from __future__ import annotations

from orderscope.series.tables import INGEST_LEDGER, QUARANTINE, idents

_LEDGER_COLUMNS = idents(INGEST_LEDGER.column_names)
LEDGER_START = f"""
INSERT INTO "ingest_ledger" ({_LEDGER_COLUMNS})
VALUES ($1, $2, $3, $4, 'started', NULL, NULL, NULL, NULL, $5, NULL, NULL, NULL)
ON CONFLICT ("batch_id") DO UPDATE SET
    "kind" = excluded."kind", "source_file" = excluded."source_file",
    "content_hash" = excluded."content_hash", "status" = 'started',
    "started_at" = excluded."started_at", "finished_at" = NULL, "error" = NULL
"""
LEDGER_FINISH = """
UPDATE "ingest_ledger" SET "status" = 'done', "rows_read" = $2, "accepted" = $3,
    "rejected" = $4, "duplicate" = $5, "conflict" = $6, "finished_at" = $7
WHERE "batch_id" = $1
"""
LEDGER_FAIL = """
UPDATE "ingest_ledger" SET "status" = 'failed', "error" = $2, "finished_at" = $3
WHERE "batch_id" = $1
"""
LEDGER_COUNTS = ("rows_read", "accepted", "rejected", "duplicate", "conflict")
LEDGER_FIND = f"""
SELECT {_LEDGER_COLUMNS} FROM "ingest_ledger"
WHERE "kind" = $1 AND "content_hash" = $2 AND "status" = 'done'
ORDER BY "finished_at" DESC, "batch_id" LIMIT 1
"""
LEDGER_HASH = 'SELECT "content_hash" FROM "ingest_ledger" WHERE "batch_id" = $1'
LEDGER_ALL = f'SELECT {_LEDGER_COLUMNS} FROM "ingest_ledger" ORDER BY "started_at", "batch_id"'

# $1 batch_id, $2 kind, $3 source_file, $4 content_hash (may be NULL), $5 quarantined_at.
# A row is the same row when it comes from the same content (or, without a hash, the same file)
# at the same row number: a resumed batch that re-rejects it adds nothing.
_QUARANTINE_COLUMNS = idents(QUARANTINE.column_names)
QUARANTINE_INSERT = f"""
INSERT INTO "quarantine" ({_QUARANTINE_COLUMNS})
SELECT $1, $2, $3, $4, s."row_number", s."reason", s."raw", $5, s."outcome"
FROM {{src}} s
WHERE NOT EXISTS (
    SELECT 1 FROM "quarantine" q
    WHERE q."kind" = $2 AND q."row_number" = s."row_number"
      AND COALESCE(q."content_hash", q."source_file") = COALESCE($4, $3)
)
"""
QUARANTINE_SUMMARY = """
SELECT "kind", COALESCE("outcome", 'rejected') AS "outcome", count(*) AS "rows"
FROM "quarantine" GROUP BY 1, 2 ORDER BY 1, 2
"""
QUARANTINE_ROWS = f"""
SELECT {_QUARANTINE_COLUMNS} FROM "quarantine"
ORDER BY "quarantined_at" DESC, "batch_id", "row_number" LIMIT $1
"""
