"""The series port and its adapters (DuckDB embedded, PostgreSQL + TimescaleDB server).

Public: `SeriesStore` (the port); orderscope.stores picks and opens an adapter. The modules:
  port        -- the SeriesStore protocol and `ident` (quoting for query text over the port);
  duckdb      -- DuckDBSeries, the embedded adapter;
  timescale   -- TimescaleSeries, the server adapter, over
  hypertables -- its schema (hypertables, indexes, compression) and
  postgres    -- its psycopg plumbing (placeholders, COPY / unnest in, frames out, bulk loads);
  tables      -- the table layout and DDL both adapters build from;
  sql         -- the shared writes, reads and key look-ups; dwell -- stage_dwell derivation and
                 its pending marks; ledger -- ingest ledger and quarantine;
  frames      -- incoming frames laid out as a table, empty results with their dtypes.
Everything but the port is adapter-side: use cases talk to SeriesStore only.
"""

from orderscope.series.port import SeriesStore

__all__ = ["SeriesStore"]
