"""The series port and its adapters (DuckDB embedded, PostgreSQL + TimescaleDB server)."""

from orderscope.series.port import SeriesStore

__all__ = ["SeriesStore"]
