"""Local PostgreSQL 15 + TimescaleDB and Neo4j 5.26 services for machines without Docker."""

from ._util import ServiceError
from .manager import down, status, up

__all__ = ["ServiceError", "down", "status", "up"]
