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
