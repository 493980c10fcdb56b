"""Query texts of the root-cause drill-down (orderscope.analytics.rootcause), beyond the metric
units of orderscope.views.metrics: aggregates the decomposition pushes down into the series
store, the graph hops that link an order to the entities a cause may sit at, the conditions
read from the series (zone humidity, broker logins) and the evidence look-ups.

Every SQL text is accepted as written by DuckDB and PostgreSQL+TimescaleDB, every Cypher text by
LadybugDB and Neo4j 5. Values travel as parameters (`$n` through `Params` in SQL, `$name` in
Cypher); only identifiers of the schema contract are formatted in, quoted by `ident` / `q`.
Each builder returns its text with its parameters, so a caller cannot pair them wrongly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from orderscope.domain.lifecycle import Catalog
from orderscope.graph.port import q
from orderscope.series.port import ident
from orderscope.views.metrics import Params, Window, cycle_time_units, node_dwell_visits

__all__ = [
    "CALIBRATIONS",
    "approvals_of",
    "broker_logins",
    "calibrations_of",
    "climate_hourly",
    "climate_sensors",
    "cycle_stages",
    "graph_declarations",
    "graph_qc",
    "graph_shipments",
    "node_totals",
    "repick_tasks",
    "slice_contrast",
]

BROKER_ROLE = "broker"  # operator_sessions.role of a customs broker
PICK_TASK = "pick"  # warehouse_tasks.task_type of a (re-)pick
REINSTATEMENT = "reinstatement"  # approvals.approval_type of an order reinstated after a cancel

# --- aggregates of the decomposition ------------------------------------------------------------


def node_totals(window: Window, nodes: Sequence[str], slice_: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """Per period and node: visits (k), sum (s) and sum of squares (ss) of their dwell hours."""
    p = Params()
    sql = f"""
    WITH {node_dwell_visits(p, window, nodes, slice_)}
    SELECT per, node, count(*) AS k, sum(y) AS s, sum(y * y) AS ss FROM u GROUP BY per, node
    """
    return sql, p.values


def cycle_stages(catalog: Catalog, window: Window, slice_: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """Per period and node: orders in the population (k), sum (s) and sum of squares (ss) of
    each order's total dwell in the node between its cycle's start and its handover (hours)."""
    p = Params()
    sql = f"""
    WITH {cycle_time_units(p, catalog, window, slice_)}, per_order AS (
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
    unit_sql: str, p: Params, keys: Sequence[str], values: Sequence[Any], twin: str | None = None
) -> str:
    """Wrap a unit query (columns per, y, order dimensions) of the slice's parent population:
    per period and per combination of 'unit matches slice key k' flags (f0, f1, ...), count (n),
    sum (s), sum of squares (ss) of y, and the sum (se) of a 0/1 twin indicator column, when
    named. `p` is the collector the unit query was built with."""
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


# --- conditions from the series ------------------------------------------------------------------

_CLIMATE_HOURLY = """
SELECT c."zone_id" AS zone_id, min(c."sensor_id") AS sensor_id, date_trunc('hour', c."at") AS hour,
       avg(c."humidity_pct") AS humidity
FROM "climate_readings" c
WHERE c."at" >= $1 AND c."at" < $2
GROUP BY c."zone_id", date_trunc('hour', c."at")
"""

# Each broker login with the number of the same broker's logins within one hour either side.
_BROKER_LOGINS = """
SELECT s."session_id" AS session_id, s."actor_id" AS actor_id, s."login_at" AS login_at,
       s."logout_at" AS logout_at,
       (SELECT count(*) FROM "operator_sessions" s2
        WHERE s2."actor_id" = s."actor_id"
          AND s2."login_at" >= s."login_at" - INTERVAL '1 hour'
          AND s2."login_at" <= s."login_at" + INTERVAL '1 hour') AS near
FROM "operator_sessions" s
WHERE s."role" = $3 AND s."login_at" >= $1 AND s."login_at" < $2
"""

_CLIMATE_SENSORS = """
SELECT c."sensor_id" AS sensor_id, count(*) AS readings, avg(c."humidity_pct") AS humidity,
       max(c."humidity_pct") AS humidity_max
FROM "climate_readings" c
WHERE c."zone_id" = $1 AND c."at" >= $2 AND c."at" < $3
GROUP BY c."sensor_id" ORDER BY c."sensor_id"
"""


def climate_hourly(start: datetime, end: datetime) -> tuple[str, list[Any]]:
    """Per zone and hour in [start, end): the mean humidity (and the zone's first sensor)."""
    return _CLIMATE_HOURLY, [start, end]


def broker_logins(start: datetime, end: datetime) -> tuple[str, list[Any]]:
    """Broker logins in [start, end), each with `near`: that broker's logins within an hour."""
    return _BROKER_LOGINS, [start, end, BROKER_ROLE]


def climate_sensors(zone: str, start: datetime, end: datetime) -> tuple[str, list[Any]]:
    """The zone's sensors with their readings in [start, end): count, mean and max humidity."""
    return _CLIMATE_SENSORS, [zone, start, end]


# --- graph hops ------------------------------------------------------------------------------------


def _order_hop(rel: str, label: str, var: str, slice_: Mapping[str, Any], params: dict[str, Any]) -> str:
    """MATCH of a record kind, through the Order when the slice names order properties."""
    if not slice_:
        return f"MATCH ({var}:{q(label)})"
    conds = []
    for i, (k, v) in enumerate(slice_.items()):
        params[f"s{i}"] = v
        conds.append(f"o.{q(k)} = $s{i}")
    return f"MATCH (o:{q('Order')})-[:{q(rel)}]->({var}:{q(label)}) WHERE {' AND '.join(conds)} WITH {var}"


def graph_qc(slice_: Mapping[str, Any], t0: datetime, t1: datetime) -> tuple[str, dict[str, Any]]:
    """QC reports inspected in [t0, t1) of the slice's orders: who, with what, where, result."""
    params: dict[str, Any] = {"t0": t0, "t1": t1}
    m = _order_hop("HAS_QC_REPORT", "QCReport", "x", slice_, params)
    return (
        f"{m} MATCH (x) WHERE x.{q('inspected_at')} >= $t0 AND x.{q('inspected_at')} < $t1 "
        f"RETURN x.{q('order_id')} AS order_id, x.{q('report_no')} AS report_no, "
        f"x.{q('result')} AS result, x.{q('equipment_id')} AS equipment_id, "
        f"x.{q('inspector_id')} AS inspector_id, x.{q('zone_id')} AS zone_id, "
        f"x.{q('warehouse_id')} AS qc_warehouse_id, x.{q('inspected_at')} AS inspected_at"
    ), params


def graph_shipments(slice_: Mapping[str, Any], t0: datetime, t1: datetime) -> tuple[str, dict[str, Any]]:
    """Shipments created in [t0, t1) of the slice's orders, with their carrier."""
    params: dict[str, Any] = {"t0": t0, "t1": t1}
    m = _order_hop("SHIPPED_AS", "Shipment", "x", slice_, params)
    return (
        f"{m} MATCH (x) WHERE x.{q('created_at')} >= $t0 AND x.{q('created_at')} < $t1 "
        f"RETURN x.{q('order_id')} AS order_id, x.{q('waybill')} AS waybill, "
        f"x.{q('carrier_id')} AS carrier_id"
    ), params


def graph_declarations(slice_: Mapping[str, Any], t0: datetime, t1: datetime) -> tuple[str, dict[str, Any]]:
    """Customs declarations made in [t0, t1) for the slice's orders, with their broker."""
    params: dict[str, Any] = {"t0": t0, "t1": t1}
    m = _order_hop("DECLARED_AS", "CustomsDeclaration", "x", slice_, params)
    return (
        f"{m} MATCH (x) WHERE x.{q('declared_at')} >= $t0 AND x.{q('declared_at')} < $t1 "
        f"RETURN x.{q('order_id')} AS order_id, x.{q('declaration_no')} AS declaration_no, "
        f"x.{q('broker_id')} AS broker_id, x.{q('declared_at')} AS declared_at"
    ), params


# Every calibration with the equipment it calibrates (the CALIBRATES edge).
CALIBRATIONS = (
    f"MATCH (c:{q('Calibration')})-[:{q('CALIBRATES')}]->(e:{q('Equipment')}) "
    f"RETURN e.{q('id')} AS equipment_id, c.{q('calibration_id')} AS calibration_id, "
    f"c.{q('calibrated_at')} AS calibrated_at, c.{q('due_at')} AS due_at"
)

_CALIBRATIONS_OF = (
    f"MATCH (c:{q('Calibration')})-[:{q('CALIBRATES')}]->(e:{q('Equipment')}) "
    f"WHERE e.{q('id')} = $eq "
    f"RETURN c.{q('calibration_id')} AS calibration_id, c.{q('calibrated_at')} AS calibrated_at, "
    f"c.{q('due_at')} AS due_at ORDER BY calibrated_at"
)

# UNWIND + a key match uses the primary-key index in both engines; `WHERE o.key IN $ids` makes
# LadybugDB scan every order (seconds at a million orders).
_REPICK_TASKS = (
    f"UNWIND $ids AS id MATCH (o:{q('Order')} {{{q('order_id')}: id}})"
    f"-[:{q('HAS_TASK')}]->(t:{q('WarehouseTask')}) "
    f"WHERE t.{q('task_type')} = $task_type "
    f"RETURN t.{q('order_id')} AS order_id, t.{q('task_id')} AS task_id, t.{q('started_at')} AS started_at"
)

_APPROVALS_OF = (
    f"UNWIND $ids AS id MATCH (o:{q('Order')} {{{q('order_id')}: id}})"
    f"-[:{q('HAS_APPROVAL')}]->(a:{q('Approval')}) "
    f"WHERE a.{q('approval_type')} = $approval_type "
    f"AND a.{q('requested_at')} >= $t0 AND a.{q('requested_at')} < $t1 "
    f"RETURN a.{q('approval_id')} AS approval_id, a.{q('order_id')} AS order_id"
)


def calibrations_of(equipment_id: str) -> tuple[str, dict[str, Any]]:
    """The calibrations of one piece of equipment, oldest first."""
    return _CALIBRATIONS_OF, {"eq": equipment_id}


def repick_tasks(order_ids: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """The pick tasks of these orders (a re-pick follows a failed inspection)."""
    return _REPICK_TASKS, {"ids": list(order_ids), "task_type": PICK_TASK}


def approvals_of(order_ids: Sequence[str], t0: datetime, t1: datetime) -> tuple[str, dict[str, Any]]:
    """The reinstatement approvals of these orders requested in [t0, t1)."""
    return _APPROVALS_OF, {"ids": list(order_ids), "approval_type": REINSTATEMENT, "t0": t0, "t1": t1}
