"""Finding orders by a piece of their ID, whatever its case."""

from __future__ import annotations

from orderscope.ports import Stores

# Exact matches first, then by ID; LIKE wildcards in the text are escaped, the text is a value.
_SEARCH = r"""
SELECT "order_id" AS order_id, "created_at" AS created_at, "region" AS region,
       "warehouse_id" AS warehouse_id, "channel" AS channel
FROM "orders"
WHERE lower("order_id") LIKE $1 ESCAPE '\'
ORDER BY CASE WHEN lower("order_id") = $2 THEN 0 ELSE 1 END, "order_id"
LIMIT $3
"""


def search_orders(stores: Stores, text: str, limit: int = 20) -> list[dict[str, object]]:
    """Orders whose ID contains `text` (case-insensitive), exact match first."""
    needle = text.strip().lower()
    if not needle:
        return []
    pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return stores.series.query(_SEARCH, [pattern, needle, int(limit)]).to_dicts()
