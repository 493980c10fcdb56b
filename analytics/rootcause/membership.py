"""Which segments each unit belongs to: the unit -> (dimension, value) table the decomposition
runs over.

Order dimensions come with the units. The rest is joined in polars from records fetched for the
periods' window (and LOOKBACK before it): through the graph, the orders' QC reports (equipment,
inspector, zone, result, calibration status at inspection via CALIBRATES), shipments (carrier)
and customs declarations (broker); from the series, the zone's humidity in the hour of an
inspection and the broker's login rate around a declaration, as bands. The records are kept
(`Records`): evidence and a finding's context are looked up in them later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from orderscope.analytics.conditions import calibration_at_inspection
from orderscope.analytics.rootcause.population import Population
from orderscope.ports import Stores
from orderscope.views.drilldown import (
    CALIBRATIONS,
    broker_logins,
    climate_hourly,
    graph_declarations,
    graph_qc,
    graph_shipments,
)
from orderscope.views.metrics import ORDER_DIMENSIONS

__all__ = [
    "HUMIDITY_BANDS",
    "HUMID_TOP",
    "LOOKBACK",
    "SPIKE_LOGINS",
    "Membership",
    "Records",
    "humidity_band",
    "load_membership",
]

HUMIDITY_BANDS = ((35.0, "dry (<35 %)"), (60.0, "normal (35-60 %)"), (70.0, "humid (60-70 %)"))
HUMID_TOP = "very humid (>=70 %)"
SPIKE_LOGINS = 4  # a broker's logins within one hour either side: >= 4 is a spike
LOOKBACK = timedelta(days=14)  # records of units' orders are looked for this far before the baseline
LOOP = "cancel -> reinstate loop"  # the flow segment of orders reinstated after a cancel
_QC_DIMENSIONS = ("equipment_id", "inspector_id", "zone_id", "calibration", "humidity_band")
_CALIBRATION_LABELS = {"none": "no calibration record", "overdue": "overdue", "ok": "in date"}
_RESULT_RANK = {"pass": 0, "fail": 1, "rework": 2}


@dataclass
class Records:
    """Records fetched for the window. qc: the units' QC reports with their conditions;
    qc_all: every QC report of the slice in the window; decl: the units' customs declarations
    with the broker's login band; logins: broker logins with `near` counts; ship: shipments."""

    qc: pl.DataFrame | None = None
    qc_all: pl.DataFrame | None = None
    decl: pl.DataFrame | None = None
    logins: pl.DataFrame | None = None
    ship: pl.DataFrame | None = None


@dataclass
class Membership:
    """unit, dim, value: every segment every unit of the population belongs to."""

    table: pl.DataFrame
    size: int  # units in the population

    def mask(self, dimension: str, value: str) -> np.ndarray:
        """The units of segment dimension = value."""
        ids = self.table.filter((pl.col("dim") == dimension) & (pl.col("value") == value))["unit"].to_numpy()
        out = np.zeros(self.size, bool)
        out[ids] = True
        return out


def humidity_band(h: float) -> str:
    for limit, name in HUMIDITY_BANDS:
        if h < limit:
            return name
    return HUMID_TOP


def _part(frame: pl.DataFrame, dim: str, value: str | pl.Expr | None = None) -> pl.DataFrame:
    """unit, dim, value rows of `frame`: the value is column `dim` as text unless given."""
    expr = pl.col(dim).cast(pl.String) if value is None else value
    if isinstance(expr, str):
        expr = pl.col(expr)
    return frame.select("unit", pl.lit(dim).alias("dim"), expr.alias("value"))


def load_membership(stores: Stores, pop: Population) -> tuple[Membership, Records]:
    f = pop.units
    parts = [_part(f, d) for d in ORDER_DIMENSIONS if d not in pop.question.slice]
    if "stalled_nodes" in f.columns:
        nodes = f.select("unit", pl.col("stalled_nodes").str.split(",").alias("value")).explode("value")
        parts.append(nodes.drop_nulls("value").select("unit", pl.lit("node").alias("dim"), "value"))
        parts.append(_part(f.filter(pl.col("looped") == 1), "flow", pl.lit(LOOP)))
    orders = f.select("unit", "order_id")
    t0, t1 = pop.question.window.span(LOOKBACK)
    slice_ = dict(pop.question.slice.items())
    records = Records()
    qc = stores.graph.query(*graph_qc(slice_, t0, t1))
    if not qc.is_empty():
        records.qc_all = qc.with_columns(pl.col("inspected_at").cast(pl.Datetime("us", "UTC")))
        qc = qc.join(orders.select("order_id").unique(), on="order_id", how="semi")
        qc = _qc_conditions(stores, qc, t0, t1)
        records.qc = qc
        uq = orders.join(qc, on="order_id")
        parts.extend(_part(uq, d) for d in _QC_DIMENSIONS)
        worst = (
            qc.group_by("order_id", maintain_order=True)
            .agg(pl.col("result").replace_strict(_RESULT_RANK, default=0).max().alias("r"))
            .with_columns(pl.col("r").replace_strict({v: k for k, v in _RESULT_RANK.items()}).alias("value"))
        )
        parts.append(_part(orders.join(worst, on="order_id"), "qc_result", "value"))
    ship = stores.graph.query(*graph_shipments(slice_, t0, t1))
    if not ship.is_empty():
        records.ship = ship
        parts.append(_part(orders.join(ship, on="order_id"), "carrier_id", "carrier_id"))
    decl = stores.graph.query(*graph_declarations(slice_, t0, t1))
    if not decl.is_empty():
        decl = decl.join(orders.select("order_id").unique(), on="order_id", how="semi")
        decl, records.logins = _login_band(stores, decl, t0, t1)
        records.decl = decl
        ud = orders.join(decl, on="order_id")
        parts.append(_part(ud, "broker_id", "broker_id"))
        parts.append(_part(ud, "broker_login_rate", "broker_login_rate"))
    if not parts:
        empty = pl.DataFrame(schema={"unit": pl.Int64, "dim": pl.String, "value": pl.String})
        return Membership(empty, len(f)), records
    table = pl.concat([p.with_columns(pl.col("unit").cast(pl.Int64)) for p in parts])
    return Membership(table.drop_nulls("value").unique(), len(f)), records


def _qc_conditions(stores: Stores, qc: pl.DataFrame, t0: datetime, t1: datetime) -> pl.DataFrame:
    """QC reports with the calibration status at inspection and the zone's humidity band in
    the hour of the inspection."""
    qc = (
        calibration_at_inspection(qc, stores.graph.query(CALIBRATIONS))
        .with_columns(pl.col("calibration_status").replace_strict(_CALIBRATION_LABELS).alias("calibration"))
        .drop("calibration_status")
    )
    if "calibration_id" not in qc.columns:  # no calibrations stored at all
        qc = qc.with_columns(pl.lit(None, pl.String).alias("calibration_id"))
    clim = stores.series.query(*climate_hourly(t0, t1))
    qc = qc.with_columns(pl.col("inspected_at").dt.truncate("1h").alias("hour"))
    if clim.is_empty():
        return qc.with_columns(
            pl.lit(None, pl.String).alias("humidity_band"), pl.lit(None, pl.Float64).alias("humidity")
        )
    clim = clim.with_columns(pl.col("hour").cast(pl.Datetime("us", "UTC")))
    qc = qc.join(clim.select("zone_id", "hour", "humidity"), on=["zone_id", "hour"], how="left")
    band = pl.lit(HUMID_TOP)
    for limit, name in reversed(HUMIDITY_BANDS):
        band = pl.when(pl.col("humidity") < limit).then(pl.lit(name)).otherwise(band)
    return qc.with_columns(
        pl.when(pl.col("humidity").is_null()).then(None).otherwise(band).alias("humidity_band")
    )


def _login_band(
    stores: Stores, decl: pl.DataFrame, t0: datetime, t1: datetime
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Declarations with their broker's logins within an hour (logins_near) and its band
    (normal, elevated >= 2, spike >= SPIKE_LOGINS); and the broker logins themselves."""
    hour = timedelta(hours=1)
    logins = stores.series.query(*broker_logins(t0 - hour, t1 + hour))
    decl = decl.with_columns(pl.col("declared_at").cast(pl.Datetime("us", "UTC")))
    if logins.is_empty():
        return decl.with_columns(pl.lit("normal").alias("broker_login_rate")), logins
    counts = np.zeros(len(decl), np.int64)
    la = logins.with_columns(pl.col("login_at").cast(pl.Datetime("us", "UTC")))
    by = {
        b: np.sort(g["login_at"].dt.epoch("ms").to_numpy())
        for (b,), g in la.group_by("actor_id", maintain_order=True)
    }
    ts = decl["declared_at"].dt.epoch("ms").to_numpy()
    brokers = decl["broker_id"].to_numpy()
    ms = 3_600_000
    for b, arr in by.items():  # one vectorized search per broker
        sel = brokers == b
        t = ts[sel]
        counts[sel] = np.searchsorted(arr, t + ms, "right") - np.searchsorted(arr, t - ms, "left")
    band = np.where(counts >= SPIKE_LOGINS, "spike", np.where(counts >= 2, "elevated", "normal"))
    return decl.with_columns(pl.Series("broker_login_rate", band), pl.Series("logins_near", counts)), logins
