"""From a finding through the graph and the series to record ids: the affected orders, the
failed QC reports and the re-pick tasks that followed them, the overdue calibration of the
device, the zone's climate sensors, the broker's customs declarations and login-spike sessions,
the reinstatement approvals of looped orders, the carrier's shipments."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from orderscope.analytics.conditions import calibration_at_inspection
from orderscope.analytics.rootcause.membership import LOOKBACK, SPIKE_LOGINS, Records
from orderscope.analytics.rootcause.population import Population
from orderscope.analytics.rootcause.results import ClimateDetail, Evidence, Finding, SessionDetail
from orderscope.analytics.rootcause.shaping import Shaped, rounded
from orderscope.ports import Stores
from orderscope.views.drilldown import approvals_of, calibrations_of, climate_sensors, repick_tasks

__all__ = ["EVIDENCE_FINDINGS", "MAX_IDS", "look_up"]

EVIDENCE_FINDINGS = 3  # evidence is looked up for the top findings only
MAX_IDS = 500
AFFECTED = 0.9  # an affected unit of a continuous metric is above the segment's 90th percentile
MIN_BASELINE = 10  # fewer baseline units in the segment: the slice's baseline sets the bar
REPICK_WITHIN = timedelta(minutes=5)
_QC_DIMENSIONS = {
    "equipment_id",
    "inspector_id",
    "zone_id",
    "warehouse_id",
    "qc_result",
    "calibration",
    "humidity_band",
}
_DEVICES = ("equipment_id", "inspector_id", "zone_id")


def look_up(stores: Stores, pop: Population, records: Records, shaped: Shaped) -> Evidence:
    """The evidence of one finding: the affected orders in the period (stalled, or above the
    segment's baseline 90th percentile), then the records its dimensions point to."""
    mask = shaped.mask
    if mask is None:
        return Evidence()
    fd = shaped.finding
    f = pop.units
    per, y = pop.per, pop.y
    inside = mask & (per == 1)
    if pop.question.metric == "stall_rate":
        hit = inside & (y >= 1)
    else:
        base = y[mask & (per == 0)]
        if len(base) < MIN_BASELINE:
            base = y[per == 0]
        thr = float(np.quantile(base, AFFECTED)) if len(base) else 0.0
        hit = inside & (y > thr)
    orders_all = f.filter(pl.Series(inside))["order_id"].unique().to_list()
    affected = f.filter(pl.Series(hit))["order_id"].unique().sort().to_list()
    ev: dict[str, list[str]] = {}
    if affected:
        ev["orders"] = affected[:MAX_IDS]
    conds = {c.dimension for c in fd.conditions}
    climate = sessions = None
    if records.qc is not None and (_QC_DIMENSIONS & (set(fd.segment) | conds)):
        climate = _qc_evidence(stores, pop, records, fd, orders_all, ev)
    if records.decl is not None and ("broker_id" in fd.segment or "broker_login_rate" in conds):
        sessions = _customs_evidence(pop, records, fd, affected, ev)
    period = pop.question.window.period
    looped = "looped" in f.columns and (
        "flow" in fd.segment or "flow" in conds or fd.kind == "slice" or pop.question.metric == "stall_rate"
    )
    if looped:
        lo = f.filter(pl.Series(inside) & (pl.col("looped") == 1))["order_id"].unique().to_list()
        if lo:
            apr = stores.graph.query(*approvals_of(lo, period.start - LOOKBACK, period.end))
            if not apr.is_empty():
                ev["approvals"] = apr.sort("approval_id")["approval_id"].to_list()[:MAX_IDS]
    if records.ship is not None and "carrier_id" in fd.segment:
        s = records.ship.filter(
            pl.col("order_id").is_in(affected) & (pl.col("carrier_id") == fd.segment["carrier_id"])
        )
        if not s.is_empty():
            ev["shipments"] = s.sort("waybill")["waybill"].to_list()[:MAX_IDS]
    return Evidence(ev, looked_up=True, climate=climate, sessions=sessions)


def _qc_evidence(
    stores: Stores,
    pop: Population,
    records: Records,
    fd: Finding,
    orders: list[Any],
    ev: dict[str, list[str]],
) -> ClimateDetail | None:
    """The failed QC reports of the period: all of the device / inspector / zone named, or
    those of the finding's orders; their re-picks, the device's overdue calibrations, the
    zone's climate sensors (into `ev`, the climate readings' summary returned)."""
    assert records.qc is not None and records.qc_all is not None
    seg = fd.segment
    period = pop.question.window.period
    device = set(_DEVICES) & set(seg)
    src = records.qc_all if device else records.qc.filter(pl.col("order_id").is_in(orders))
    rep = src.filter(
        (pl.col("result") != "pass")
        & (pl.col("inspected_at") >= period.start)
        & (pl.col("inspected_at") < period.end)
    )
    for key in _DEVICES:
        if key in seg:
            rep = rep.filter(pl.col(key) == seg[key])
    if "warehouse_id" in seg:
        rep = rep.filter(pl.col("qc_warehouse_id") == seg["warehouse_id"])
    if rep.is_empty():
        return None
    ev["qc_reports"] = rep.sort("inspected_at")["report_no"].to_list()[:MAX_IDS]
    ev["warehouse_tasks"] = _repicks(stores, rep)
    eqs = [seg["equipment_id"]] if "equipment_id" in seg else rep["equipment_id"].mode().to_list()[:1]
    cals: list[str] = []
    for eq in eqs:
        cals += _overdue_calibrations(stores, eq, rep.filter(pl.col("equipment_id") == eq))
    if cals:
        ev["equipment_calibrations"] = cals
    zone = seg.get("zone_id") or rep["zone_id"].mode().sort()[0]
    sens = stores.series.query(*climate_sensors(zone, period.start, period.end))
    if sens.is_empty():
        return None
    ev["climate_readings"] = sens["sensor_id"].to_list()
    return ClimateDetail(
        zone_id=zone,
        start=period.start,
        end=period.end,
        readings=int(sens["readings"].sum()),
        avg_humidity_pct=rounded(sens["humidity"].mean()),
        max_humidity_pct=rounded(sens["humidity_max"].max()),
    )


def _customs_evidence(
    pop: Population, records: Records, fd: Finding, affected: list[Any], ev: dict[str, list[str]]
) -> SessionDetail | None:
    """The affected orders' declarations (of the broker named) and the brokers' login-spike
    sessions in the period (into `ev`, the spike's summary returned)."""
    assert records.decl is not None
    seg = fd.segment
    period = pop.question.window.period
    d = records.decl.filter(
        pl.col("order_id").is_in(affected)
        & (pl.col("declared_at") >= period.start - LOOKBACK)
        & (pl.col("declared_at") < period.end)
    )
    if "broker_id" in seg:
        d = d.filter(pl.col("broker_id") == seg["broker_id"])
    if not d.is_empty():
        ev["customs_declarations"] = d.sort("declared_at")["declaration_no"].to_list()[:MAX_IDS]
    brokers = [seg["broker_id"]] if "broker_id" in seg else d["broker_id"].unique().to_list()
    if records.logins is None or not brokers:
        return None
    lg = records.logins.filter(
        pl.col("actor_id").is_in(brokers)
        & (pl.col("near") >= SPIKE_LOGINS)
        & (pl.col("login_at") >= period.start)
        & (pl.col("login_at") < period.end)
    ).sort("login_at")
    if lg.is_empty():
        return None
    ev["operator_sessions"] = lg["session_id"].to_list()[:MAX_IDS]
    first, last = lg["login_at"].min(), lg["login_at"].max()
    assert isinstance(first, datetime) and isinstance(last, datetime)
    return SessionDetail(actor_ids=brokers, start=first, end=last, spike_logins=len(lg))


def _repicks(stores: Stores, rep: pl.DataFrame) -> list[str]:
    """The pick task of each failed report's order that started within REPICK_WITHIN after it."""
    ids = rep["order_id"].unique().to_list()
    tasks = stores.graph.query(*repick_tasks(ids))
    if tasks.is_empty():
        return []
    tasks = tasks.with_columns(pl.col("started_at").cast(pl.Datetime("us", "UTC"))).sort("started_at")
    r = rep.select("order_id", "inspected_at").sort("inspected_at")
    m = r.join_asof(
        tasks,
        left_on="inspected_at",
        right_on="started_at",
        by="order_id",
        strategy="forward",
        tolerance=REPICK_WITHIN,
        check_sortedness=False,
    )
    return m["task_id"].drop_nulls().unique().sort().to_list()


def _overdue_calibrations(stores: Stores, eq: str, rep: pl.DataFrame) -> list[str]:
    """The calibrations of `eq` that were overdue at one of the reports' inspections."""
    cal = stores.graph.query(*calibrations_of(eq))
    if cal.is_empty() or rep.is_empty():
        return []
    m = calibration_at_inspection(
        rep.select("inspected_at").with_columns(pl.lit(eq).alias("equipment_id")),
        cal.with_columns(pl.lit(eq).alias("equipment_id")),
    )
    od = m.filter(pl.col("calibration_status") == "overdue")
    return od["calibration_id"].drop_nulls().unique().sort().to_list()
