"""The service graph port and its adapters (LadybugDB embedded, Neo4j server).

Public: `GraphStore` (the port); orderscope.stores picks and opens an adapter. The modules:
  port         -- the GraphStore protocol and `q` (quoting for query text over the port);
  cypher       -- the layout derived from orderscope.domain.sources and the Cypher both
                  adapters share, with the shaping of read results;
  ladybug      -- LadybugGraph, the embedded adapter (bulk COPY from polars);
  neo4j        -- Neo4jGraph, the server adapter (Bolt), over
  neo4j_cypher -- the Cypher only Neo4j speaks: checked names, UNWIND bulk writes, constraints.
Everything but the port is adapter-side: use cases talk to GraphStore only.
"""

from orderscope.graph.port import GraphStore

__all__ = ["GraphStore"]
