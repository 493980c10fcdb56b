"""What became of the rows of one ingested batch (push ingest answers with it)."""

from __future__ import annotations

import polars as pl

from orderscope.ports import Stores

# Quarantined rows of one batch content, in row order. A content is quarantined once, however
# often it is sent (the quarantine de-duplicates by content hash and row number).
_BATCH_ROWS = """
SELECT "row_number" AS row_number, COALESCE("outcome", 'rejected') AS outcome, "reason" AS reason
FROM "quarantine" WHERE "content_hash" = $1
ORDER BY "row_number"
"""


def batch_rows(stores: Stores, content_hash: str) -> pl.DataFrame:
    """row_number, outcome ('rejected' | 'conflict'), reason of every row of the batch that was
    not accepted."""
    return stores.series.query(_BATCH_ROWS, [content_hash])


# The finished batch ingested under one of these file names, newest first (an idempotency key
# names one batch: its file may have any kind's prefix and any format's suffix).
_BATCH_NAMED = """
SELECT "kind" AS kind, "source_file" AS source_file, "content_hash" AS content_hash,
       "rows_read" AS rows_read, "accepted" AS accepted, "rejected" AS rejected,
       "duplicate" AS duplicate, "conflict" AS conflict
FROM "ingest_ledger" WHERE "source_file" = ANY($1) AND "status" = 'done'
ORDER BY "finished_at" DESC, "batch_id" LIMIT 1
"""


def batch_named(stores: Stores, file_names: list[str]) -> dict[str, object] | None:
    """The ledger's entry of the finished batch ingested under one of `file_names`, if any."""
    rows = stores.series.query(_BATCH_NAMED, [file_names]).to_dicts()
    return rows[0] if rows else None
