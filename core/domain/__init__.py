"""The domain: what an order, a source record and a status change are. No I/O here.

- `sources`: the 17 source kinds (columns, keys, how each links to an order).
- `kinds`: what a source kind is (Column, EntityLink, EntityRelation, SourceKind, the frame
  types of the ports, `conform`); re-exported by `sources`.
- `lifecycle`: the lifecycle catalog (nodes, roles, phases, SLAs, transitions, reason codes),
  shipped as data in `catalog/lifecycle.toml`.
- `guard`: the state-change guard (is this transition legal, with its reason and evidence?).
- `periods`: ISO weeks, dates and ranges as half-open UTC windows.
"""
