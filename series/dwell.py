"""The SQL that derives stage_dwell from order_events, and the derive_pending marks that keep it
fresh across crashes. Shared by both series adapters ($n placeholders, {src} a quoted relation
name formatted in by the adapter).

An append of order_events marks its orders in derive_pending in the same transaction; a rebuild
clears the marks in the transaction that rewrites their dwell (see SeriesStore.rebuild_pending_dwell).
"""

from __future__ import annotations

from orderscope.series.tables import STAGE_DWELL, idents

# stage_dwell from order_events, by event time (ties by event_id), never by arrival order.
# A visit opens at an order's first event and at every event whose to_state differs from the
# to_state of the event before it; amendments (from_state = to_state) repeat the current state
# and so do not split a visit. A visit closes when the next one opens; the last visit of an order
# (still open, or a resting node) has left_at / left_by_event / dwell_ms NULL.
# {scope} is empty (all orders) or DWELL_SCOPE formatted with the relation of order ids.
_DWELL_COLUMNS = idents(STAGE_DWELL.column_names)
DWELL_SCOPE = 'WHERE e."order_id" IN (SELECT s."order_id" FROM {src} s)'
DWELL_INSERT = f"""
INSERT INTO "stage_dwell" ({_DWELL_COLUMNS})
WITH ev AS (
    SELECT e."order_id", e."event_id", e."at", e."to_state",
           LAG(e."to_state") OVER (PARTITION BY e."order_id" ORDER BY e."at", e."event_id")
               AS prev_state
    FROM "order_events" e
    {{scope}}
), entries AS (
    SELECT "order_id", "event_id", "at", "to_state" AS node
    FROM ev
    WHERE prev_state IS NULL OR prev_state <> "to_state"
), visits AS (
    SELECT "order_id", node,
           ROW_NUMBER() OVER (PARTITION BY "order_id", node ORDER BY "at", "event_id") AS visit,
           "at" AS entered_at,
           LEAD("at") OVER w AS left_at,
           "event_id" AS entered_by_event,
           LEAD("event_id") OVER w AS left_by_event
    FROM entries
    WINDOW w AS (PARTITION BY "order_id" ORDER BY "at", "event_id")
)
SELECT "order_id", node, CAST(visit AS INTEGER), entered_at, left_at,
       CAST(ROUND(EXTRACT(EPOCH FROM (left_at - entered_at)) * 1000) AS BIGINT),
       entered_by_event, left_by_event
FROM visits
"""
DWELL_DELETE_SCOPE = 'DELETE FROM "stage_dwell" WHERE "order_id" IN (SELECT s."order_id" FROM {src} s)'
DWELL_DELETE_ALL = 'DELETE FROM "stage_dwell"'  # PostgreSQL: TRUNCATE is the faster twin
PENDING_MARK = 'INSERT INTO "derive_pending" ("order_id") SELECT DISTINCT s."order_id" FROM {src} s'
PENDING_COUNT = 'SELECT count(DISTINCT "order_id") AS n FROM "derive_pending"'
PENDING_CLEAR = 'DELETE FROM "derive_pending"'
ORDERS_COUNT = 'SELECT count(*) AS n FROM "orders"'
# A pending scope at least this share of all orders is rebuilt whole (a fresh table is faster).
FULL_REBUILD_SHARE = 0.5
