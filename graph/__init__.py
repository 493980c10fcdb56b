"""The service graph port and its adapters (LadybugDB embedded, Neo4j server)."""

from orderscope.graph.port import GraphStore

__all__ = ["GraphStore"]
