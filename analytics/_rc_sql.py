"""SQL and Cypher texts of the root-cause drill-down (orderscope.analytics.rootcause).

Every text here is accepted as written by both series dialects (DuckDB, PostgreSQL+TimescaleDB)
and both graph dialects (LadybugDB, Neo4j 5). Values always travel as parameters; the only things
formatted in are identifiers from the schema contract (quoted by `ident` / `q`) and `$n`
placeholders numbered by `Params`.
"""

from __future__ import annotations

from typing import Any

from orderscope.graph.port import q
from orderscope.series.port import ident
from orderscope.views.metrics import ORDER_DIMENSIONS, ORDER_SLICE_COLUMNS, Params

__all__ = ["ORDER_DIMENSIONS", "ORDER_SLICE_COLUMNS", "Params"]


def _slice_where(slice_: dict[str, Any], p: Params, alias: str = "o") -> str:
    conds = [f"{alias}.{ident(k)} = {p(v)}" for k, v in slice_.items()]
    return "".join(f" AND {c}" for c in conds)


def _order_dims(alias: str = "o") -> str:
    return ", ".join(
        f"CAST({alias}.{ident(c)} AS VARCHAR) AS {ident(c)}"
        if c == "cross_border"
        else f"{alias}.{ident(c)} AS {ident(c)}"
        for c in ORDER_DIMENSIONS
    )


def _in_periods(col: str, p: Params, w: dict[str, Any]) -> str:
    return (
        f"(({col} >= {p(w['b0'])} AND {col} < {p(w['b1'])}) "
        f"OR ({col} >= {p(w['p0'])} AND {col} < {p(w['p1'])}))"
    )


# --- cycle_time: first CREATED -> first HANDED_OVER, orders assigned by their handover ---------


def _cycle_units(slice_: dict[str, Any], p: Params, w: dict[str, Any]) -> str:
    return f"""
    cyc AS (
        SELECT d."order_id",
               min(d."entered_at") FILTER (WHERE d."node" = 'CREATED') AS t_start,
               min(d."entered_at") FILTER (WHERE d."node" = 'HANDED_OVER') AS t_end
        FROM "stage_dwell" d
        WHERE d."node" IN ('CREATED', 'HANDED_OVER')
        GROUP BY d."order_id"
    ), rw AS (
        SELECT DISTINCT d."order_id" FROM "stage_dwell" d
        WHERE d."visit" >= 2 AND d."node" = ANY({p(list(w["pre_handover"]))})
    ), u AS (
        SELECT c."order_id", c.t_start, c.t_end,
               CASE WHEN c.t_end >= {p(w["p0"])} AND c.t_end < {p(w["p1"])} THEN 1 ELSE 0 END AS per,
               EXTRACT(EPOCH FROM (c.t_end - c.t_start)) / 3600.0 AS y,
               CASE WHEN rw."order_id" IS NULL THEN 0 ELSE 1 END AS reentered,
               {_order_dims()}
        FROM cyc c JOIN "orders" o ON o."order_id" = c."order_id"
        LEFT JOIN rw ON rw."order_id" = c."order_id"
        WHERE c.t_start IS NOT NULL AND {_in_periods("c.t_end", p, w)}{_slice_where(slice_, p)}
    )"""


def cycle_units(slice_: dict[str, Any], w: dict[str, Any], p: Params | None = None) -> tuple[str, list[Any]]:
    p = p or Params()
    sql = f"WITH {_cycle_units(slice_, p, w)} SELECT * FROM u"
    return sql, p.values


def cycle_stages(slice_: dict[str, Any], w: dict[str, Any]) -> tuple[str, list[Any]]:
    """Per period and node: orders in the population, sum and sum of squares of each order's
    total dwell in the node between its first CREATED and first HANDED_OVER (hours)."""
    p = Params()
    sql = f"""
    WITH {_cycle_units(slice_, p, w)}, per_order AS (
        SELECT u.per, d."node" AS node, d."order_id",
               sum(COALESCE(d."dwell_ms", 0)) / 3600000.0 AS x
        FROM "stage_dwell" d JOIN u ON u."order_id" = d."order_id"
        WHERE d."entered_at" >= u.t_start AND d."entered_at" < u.t_end
        GROUP BY u.per, d."node", d."order_id"
    )
    SELECT per, node, count(*) AS k, sum(x) AS s, sum(x * x) AS ss FROM per_order
    GROUP BY per, node
    """
    return sql, p.values


def slice_contrast(
    unit_sql: str, p: Params, keys: list[str], values: list[str], twin: str | None = None
) -> str:
    """Wrap a unit query (columns per, y, order dimensions) of the slice's parent population:
    per period and per combination of 'unit matches slice key k' flags, count / sum / sum of
    squares of y (and the sum of a 0/1 twin indicator column, when named)."""
    flags = ", ".join(
        f"CASE WHEN u.{ident(k)} = {p(v)} THEN 1 ELSE 0 END AS f{i}"
        for i, (k, v) in enumerate(zip(keys, values, strict=False))
    )
    group = ", ".join(f"f{i}" for i in range(len(keys)))
    tw = f", CAST(u.{ident(twin)} AS DOUBLE PRECISION) AS e" if twin else ", 0.0 AS e"
    return (
        f"SELECT per, {group}, count(*) AS n, sum(y) AS s, sum(y * y) AS ss, sum(e) AS se "
        f"FROM (SELECT u.per, u.y{tw}, {flags} FROM ({unit_sql}) u) z GROUP BY per, {group}"
    )


# --- node_dwell: visits assigned by left_at (open ones by entered_at) --------------------------


def _visit_units(slice_: dict[str, Any], nodes: list[str], p: Params, w: dict[str, Any]) -> str:
    assigned = 'COALESCE(d."left_at", d."entered_at")'
    return f"""
    u AS (
        SELECT d."order_id", d."node" AS node, d."visit" AS visit, d."entered_at", d."left_at",
               CASE WHEN {assigned} >= {p(w["p0"])} AND {assigned} < {p(w["p1"])} THEN 1 ELSE 0 END AS per,
               COALESCE(d."dwell_ms", EXTRACT(EPOCH FROM ({p(w["clock"])} - d."entered_at")) * 1000.0)
                   / 3600000.0 AS y,
               {_order_dims()}
        FROM "stage_dwell" d JOIN "orders" o ON o."order_id" = d."order_id"
        WHERE d."node" = ANY({p(nodes)}) AND {_in_periods(assigned, p, w)}{_slice_where(slice_, p)}
    )"""


def visit_units(
    slice_: dict[str, Any], nodes: list[str], w: dict[str, Any], p: Params | None = None
) -> tuple[str, list[Any]]:
    p = p or Params()
    return f"WITH {_visit_units(slice_, nodes, p, w)} SELECT * FROM u", p.values


def node_totals(slice_: dict[str, Any], nodes: list[str], w: dict[str, Any]) -> tuple[str, list[Any]]:
    p = Params()
    sql = f"""
    WITH {_visit_units(slice_, nodes, p, w)}
    SELECT per, node, count(*) AS k, sum(y) AS s, sum(y * y) AS ss FROM u GROUP BY per, node
    """
    return sql, p.values


def visit_stall_units(
    slice_: dict[str, Any], node: str, sla_ms: int, w: dict[str, Any], p: Params | None = None
) -> tuple[str, list[Any]]:
    """Visits of one node (assigned as for node_dwell); y = 1 when the dwell (open: up to the
    data clock) passed the node's SLA."""
    p = p or Params()
    sql = f"""
    WITH {_visit_units(slice_, [node], p, w)}
    SELECT u."order_id", u.node, u.visit, u."entered_at", u."left_at", u.per, u.y AS dwell_h,
           CASE WHEN u.y * 3600000.0 > {p(sla_ms)} THEN 1.0 ELSE 0.0 END AS y,
           {", ".join("u." + ident(c) for c in ORDER_DIMENSIONS)}
    FROM u
    """
    return sql, p.values


# --- stall_rate: orders created in the period, stalled (or looped) as of the period's end ------


def order_stall_units(
    slice_: dict[str, Any], sla: dict[str, int], w: dict[str, Any], p: Params | None = None
) -> tuple[str, list[Any]]:
    """One row per order created in the baseline or the period (slice applied): per, y (1 when
    any visit entered before the period's end had, as of that end, dwelt past its node's SLA,
    or when the order was reinstated after CANCELLED: a flow loop), stalled nodes (comma list),
    loop flag, order dimensions."""
    p = p or Params()
    case = " ".join(f"WHEN {p(n)} THEN {p(int(ms))}" for n, ms in sla.items())
    sla_expr = f'(CASE d."node" {case} ELSE NULL END)'
    pe, be = p(w["p_asof"]), p(w["b_asof"])
    sql = f"""
    WITH u AS (
        SELECT o."order_id",
               CASE WHEN o."created_at" >= {p(w["p0"])} AND o."created_at" < {p(w["p1"])} THEN 1 ELSE 0 END AS per,
               {_order_dims()}
        FROM "orders" o
        WHERE {_in_periods('o."created_at"', p, w)}{_slice_where(slice_, p)}
    ), v AS (
        SELECT u."order_id", d."node" AS node,
               CASE WHEN u.per = 1 THEN {pe} ELSE {be} END AS e,
               d."entered_at", d."left_at", {sla_expr} AS sla
        FROM "stage_dwell" d JOIN u ON u."order_id" = d."order_id"
    ), f AS (
        SELECT v."order_id", v.node,
               CASE WHEN v.sla IS NOT NULL AND v."entered_at" < v.e
                         AND EXTRACT(EPOCH FROM (LEAST(COALESCE(v."left_at", v.e), v.e) - v."entered_at")) * 1000.0 > v.sla
                    THEN 1 ELSE 0 END AS stalled,
               CASE WHEN v.node = 'CANCELLED' AND v."left_at" IS NOT NULL AND v."left_at" < v.e
                    THEN 1 ELSE 0 END AS looped
        FROM v
    ), g AS (
        SELECT f."order_id", max(f.stalled) AS stalled, max(f.looped) AS looped,
               string_agg(CASE WHEN f.stalled = 1 THEN f.node END, ',') AS stalled_nodes
        FROM f GROUP BY f."order_id"
    )
    SELECT u.*, CAST(GREATEST(COALESCE(g.stalled, 0), COALESCE(g.looped, 0)) AS DOUBLE PRECISION) AS y,
           COALESCE(g.looped, 0) AS looped, g.stalled_nodes
    FROM u LEFT JOIN g ON g."order_id" = u."order_id"
    """
    return sql, p.values


# --- conditions from the series -------------------------------------------------------------

CLIMATE_HOURLY = """
SELECT c."zone_id" AS zone_id, min(c."sensor_id") AS sensor_id, date_trunc('hour', c."at") AS hour,
       avg(c."humidity_pct") AS humidity
FROM "climate_readings" c
WHERE c."at" >= $1 AND c."at" < $2
GROUP BY c."zone_id", date_trunc('hour', c."at")
"""

# Each broker login with the number of the same broker's logins within one hour either side.
BROKER_LOGINS = """
SELECT s."session_id" AS session_id, s."actor_id" AS actor_id, s."login_at" AS login_at,
       s."logout_at" AS logout_at,
       (SELECT count(*) FROM "operator_sessions" s2
        WHERE s2."actor_id" = s."actor_id"
          AND s2."login_at" >= s."login_at" - INTERVAL '1 hour'
          AND s2."login_at" <= s."login_at" + INTERVAL '1 hour') AS near
FROM "operator_sessions" s
WHERE s."role" = 'broker' AND s."login_at" >= $1 AND s."login_at" < $2
"""

CLIMATE_SENSORS = """
SELECT c."sensor_id" AS sensor_id, count(*) AS readings, avg(c."humidity_pct") AS humidity,
       max(c."humidity_pct") AS humidity_max
FROM "climate_readings" c
WHERE c."zone_id" = $1 AND c."at" >= $2 AND c."at" < $3
GROUP BY c."sensor_id" ORDER BY c."sensor_id"
"""

# --- graph hops -------------------------------------------------------------------------------


def _order_hop(rel: str, label: str, var: str, slice_: dict[str, Any], params: dict[str, Any]) -> str:
    """MATCH of a record kind, through the Order when the slice names order properties."""
    if not slice_:
        return f"MATCH ({var}:{q(label)})"
    conds = []
    for i, (k, v) in enumerate(slice_.items()):
        params[f"s{i}"] = v
        conds.append(f"o.{q(k)} = $s{i}")
    return f"MATCH (o:{q('Order')})-[:{q(rel)}]->({var}:{q(label)}) WHERE {' AND '.join(conds)} WITH {var}"


def graph_qc(slice_: dict[str, Any], t0: Any, t1: Any) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {"t0": t0, "t1": t1}
    m = _order_hop("HAS_QC_REPORT", "QCReport", "x", slice_, params)
    return (
        f"{m} MATCH (x) WHERE x.{q('inspected_at')} >= $t0 AND x.{q('inspected_at')} < $t1 "
        f"RETURN x.{q('order_id')} AS order_id, x.{q('report_no')} AS report_no, "
        f"x.{q('result')} AS result, x.{q('equipment_id')} AS equipment_id, "
        f"x.{q('inspector_id')} AS inspector_id, x.{q('zone_id')} AS zone_id, "
        f"x.{q('warehouse_id')} AS qc_warehouse_id, x.{q('inspected_at')} AS inspected_at"
    ), params


def graph_shipments(slice_: dict[str, Any], t0: Any, t1: Any) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {"t0": t0, "t1": t1}
    m = _order_hop("SHIPPED_AS", "Shipment", "x", slice_, params)
    return (
        f"{m} MATCH (x) WHERE x.{q('created_at')} >= $t0 AND x.{q('created_at')} < $t1 "
        f"RETURN x.{q('order_id')} AS order_id, x.{q('waybill')} AS waybill, "
        f"x.{q('carrier_id')} AS carrier_id"
    ), params


def graph_declarations(slice_: dict[str, Any], t0: Any, t1: Any) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {"t0": t0, "t1": t1}
    m = _order_hop("DECLARED_AS", "CustomsDeclaration", "x", slice_, params)
    return (
        f"{m} MATCH (x) WHERE x.{q('declared_at')} >= $t0 AND x.{q('declared_at')} < $t1 "
        f"RETURN x.{q('order_id')} AS order_id, x.{q('declaration_no')} AS declaration_no, "
        f"x.{q('broker_id')} AS broker_id, x.{q('declared_at')} AS declared_at"
    ), params


CALIBRATIONS = (
    f"MATCH (c:{q('Calibration')})-[:{q('CALIBRATES')}]->(e:{q('Equipment')}) "
    f"RETURN e.{q('id')} AS equipment_id, c.{q('calibration_id')} AS calibration_id, "
    f"c.{q('calibrated_at')} AS calibrated_at, c.{q('due_at')} AS due_at"
)

CALIBRATIONS_OF = (
    f"MATCH (c:{q('Calibration')})-[:{q('CALIBRATES')}]->(e:{q('Equipment')}) "
    f"WHERE e.{q('id')} = $eq "
    f"RETURN c.{q('calibration_id')} AS calibration_id, c.{q('calibrated_at')} AS calibrated_at, "
    f"c.{q('due_at')} AS due_at ORDER BY calibrated_at"
)

EQUIPMENT_PLACE = (
    f"MATCH (e:{q('Equipment')})-[:{q('IN_ZONE')}]->(z:{q('Zone')})-[:{q('IN_WAREHOUSE')}]->"
    f"(w:{q('Warehouse')}) WHERE e.{q('id')} = $eq RETURN z.{q('id')} AS zone_id, w.{q('id')} AS warehouse_id"
)

# UNWIND + a key match uses the primary-key index in both engines; `WHERE o.key IN $ids` makes
# LadybugDB scan every order (seconds at a million orders).
REPICK_TASKS = (
    f"UNWIND $ids AS id MATCH (o:{q('Order')} {{{q('order_id')}: id}})"
    f"-[:{q('HAS_TASK')}]->(t:{q('WarehouseTask')}) "
    f"WHERE t.{q('task_type')} = 'pick' "
    f"RETURN t.{q('order_id')} AS order_id, t.{q('task_id')} AS task_id, t.{q('started_at')} AS started_at"
)

APPROVALS_OF = (
    f"UNWIND $ids AS id MATCH (o:{q('Order')} {{{q('order_id')}: id}})"
    f"-[:{q('HAS_APPROVAL')}]->(a:{q('Approval')}) "
    f"WHERE a.{q('approval_type')} = 'reinstatement' "
    f"AND a.{q('requested_at')} >= $t0 AND a.{q('requested_at')} < $t1 "
    f"RETURN a.{q('approval_id')} AS approval_id, a.{q('order_id')} AS order_id"
)
