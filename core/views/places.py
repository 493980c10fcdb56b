"""Reads of the conditions at the places an order passes through, for the stall-pattern items
(orderscope.analytics.patterns.items): the records that tie an order to a place (QC reports and
their equipment, warehouse tasks and their zone, customs declarations and their broker,
shipments and their carrier and hubs), the equipment's calibrations, and hourly aggregates of
the readings kept in the series (zone humidity, broker logins, carrier load).

Every Cypher text is accepted by LadybugDB and Neo4j 5, every SQL text by DuckDB and
PostgreSQL+TimescaleDB. Values travel as parameters; labels, properties and columns are quoted
by `q` / `ident`. Each read returns a polars frame with its types settled (an empty one keeps
its columns), so both backends give the miner the same frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import polars as pl

from orderscope.graph.port import q
from orderscope.ports import Stores
from orderscope.series.port import ident

__all__ = [
    "broker_logins_hourly",
    "calibrations",
    "carrier_load_hourly",
    "declarations",
    "qc_reports",
    "shipments",
    "task_zones",
    "zone_humidity_hourly",
]

UTC_US = pl.Datetime("us", "UTC")


# --- records that tie an order to a place (graph) ----------------------------------------------


def _records_between(label: str, time_col: str, cols: Sequence[str]) -> str:
    """Every `label` record whose `time_col` lies in [$a, $b], with the columns `cols`."""
    ret = ", ".join(f"x.{q(c)} AS {q(c)}" for c in cols)
    return f"MATCH (x:{q(label)}) WHERE x.{q(time_col)} >= $a AND x.{q(time_col)} <= $b RETURN {ret}"


_QC_REPORTS = _records_between(
    "QCReport", "inspected_at", ("order_id", "zone_id", "equipment_id", "inspected_at")
)
_DECLARATIONS = _records_between(
    "CustomsDeclaration", "declared_at", ("order_id", "broker_id", "declared_at")
)
_SHIPMENTS = _records_between(
    "Shipment", "created_at", ("order_id", "carrier_id", "origin_hub", "dest_hub", "created_at")
)
_TASK_ZONES = (
    f"MATCH (x:{q('WarehouseTask')}) WHERE x.{q('started_at')} >= $a AND x.{q('started_at')} <= $b "
    f"RETURN DISTINCT x.{q('order_id')} AS {q('order_id')}, x.{q('zone_id')} AS {q('zone_id')}"
)
_CALIBRATIONS = (
    f"MATCH (c:{q('Calibration')}) RETURN c.{q('equipment_id')} AS {q('equipment_id')}, "
    f"c.{q('calibrated_at')} AS {q('calibrated_at')}, c.{q('due_at')} AS {q('due_at')}"
)


def _graph(stores: Stores, cypher: str, a: datetime, b: datetime, schema: pl.Schema) -> pl.DataFrame:
    f = stores.graph.query(cypher, {"a": a, "b": b})
    if f.height == 0:
        return pl.DataFrame(schema=schema)
    return f.select(list(schema)).cast(schema)


def qc_reports(stores: Stores, a: datetime, b: datetime) -> pl.DataFrame:
    """QC reports inspected in [a, b]: order_id, zone_id, equipment_id, inspected_at."""
    schema = pl.Schema(
        {"order_id": pl.String(), "zone_id": pl.String(), "equipment_id": pl.String(), "inspected_at": UTC_US}
    )
    return _graph(stores, _QC_REPORTS, a, b, schema)


def task_zones(stores: Stores, a: datetime, b: datetime) -> pl.DataFrame:
    """The zones of the warehouse tasks started in [a, b]: order_id, zone_id (distinct pairs)."""
    return _graph(stores, _TASK_ZONES, a, b, pl.Schema({"order_id": pl.String(), "zone_id": pl.String()}))


def declarations(stores: Stores, a: datetime, b: datetime) -> pl.DataFrame:
    """Customs declarations made in [a, b]: order_id, broker_id, declared_at."""
    schema = pl.Schema({"order_id": pl.String(), "broker_id": pl.String(), "declared_at": UTC_US})
    return _graph(stores, _DECLARATIONS, a, b, schema)


def shipments(stores: Stores, a: datetime, b: datetime) -> pl.DataFrame:
    """Shipments created in [a, b]: order_id, carrier_id, origin_hub, dest_hub, created_at."""
    schema = pl.Schema(
        {
            "order_id": pl.String(),
            "carrier_id": pl.String(),
            "origin_hub": pl.String(),
            "dest_hub": pl.String(),
            "created_at": UTC_US,
        }
    )
    return _graph(stores, _SHIPMENTS, a, b, schema)


def calibrations(stores: Stores) -> pl.DataFrame:
    """Every calibration: equipment_id, calibrated_at, due_at (as the graph returns them; see
    orderscope.analytics.conditions.calibration_at_inspection)."""
    return stores.graph.query(_CALIBRATIONS)


# --- hourly readings (series) ------------------------------------------------------------------


def _hour(column: str) -> str:
    """SQL of the hours since the epoch of a timestamp column (the hour a reading falls in)."""
    return f"CAST(FLOOR(EXTRACT(EPOCH FROM {ident(column)}) / 3600) AS BIGINT)"


_HUMIDITY = f"""
SELECT "zone_id" AS zone, {_hour("at")} AS h, avg("humidity_pct") AS hum
FROM "climate_readings" WHERE "at" >= $1 AND "at" <= $2
GROUP BY 1, 2
"""
_LOGINS = f"""
SELECT "actor_id" AS broker, {_hour("login_at")} AS h, count(*) AS n
FROM "operator_sessions" WHERE "actor_id" = ANY($1) AND "login_at" >= $2 AND "login_at" <= $3
GROUP BY 1, 2
"""
_LOAD = f"""
SELECT "carrier_id" AS carrier, "hub_id" AS hub, {_hour("at")} AS h,
       max("load_pct") AS load
FROM "carrier_capacity" WHERE "at" >= $1 AND "at" <= $2
GROUP BY 1, 2, 3
"""


def zone_humidity_hourly(stores: Stores, start: datetime, end: datetime) -> pl.DataFrame:
    """Mean humidity per zone and hour of the readings in [start, end]: zone, h (hours since the
    epoch), hum."""
    f = stores.series.query(_HUMIDITY, [start, end])
    if f.height == 0:
        return pl.DataFrame(schema={"zone": pl.String(), "h": pl.Int64(), "hum": pl.Float64()})
    return f.select(
        pl.col("zone").cast(pl.String), pl.col("h").cast(pl.Int64), pl.col("hum").cast(pl.Float64)
    )


def broker_logins_hourly(
    stores: Stores, brokers: Sequence[str], start: datetime, end: datetime
) -> pl.DataFrame:
    """Logins of these brokers per hour in [start, end]: broker, h (hours since the epoch), n."""
    f = stores.series.query(_LOGINS, [list(brokers), start, end])
    if f.height == 0:
        return pl.DataFrame(schema={"broker": pl.String(), "h": pl.Int64(), "n": pl.Int64()})
    return f.select(pl.col("broker").cast(pl.String), pl.col("h").cast(pl.Int64), pl.col("n").cast(pl.Int64))


def carrier_load_hourly(stores: Stores, start: datetime, end: datetime) -> pl.DataFrame:
    """The highest load per carrier, hub and hour in [start, end]: carrier, hub, h (hours since
    the epoch), load (percent)."""
    f = stores.series.query(_LOAD, [start, end])
    if f.height == 0:
        return pl.DataFrame(
            schema={"carrier": pl.String(), "hub": pl.String(), "h": pl.Int64(), "load": pl.Float64()}
        )
    return f.select(
        pl.col("carrier").cast(pl.String),
        pl.col("hub").cast(pl.String),
        pl.col("h").cast(pl.Int64),
        pl.col("load").cast(pl.Float64),
    )
