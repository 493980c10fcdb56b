"""Transactions of the stall-pattern miner: one row per node visit of the window, with its
condition items joined through the graph and the series, and whether it stalled.

Columns of the frame `transactions()` returns:
  order_id, node, visit, entered_at, dwell_ms, stalled (bool), dwell_band
  and one column per attribute of ATTRIBUTES (null where the attribute does not apply).

Where each item comes from (nothing pulls the event log; every series read is an aggregate; the
reads are orderscope.views.visits and orderscope.views.places):
  node, warehouse, channel, sku_category -- stage_dwell joined to the orders dimension (SQL);
  stalled, dwell_band                    -- analytics.stalls.find_stalls (the one stall rule);
  zone                                   -- the zone of the order's warehouse tasks (graph),
                                            nodes of the catalog's warehouse phase;
  zone_humidity   high | normal          -- zone x hour mean humidity (SQL aggregate of
                                            climate_readings) at the visit's entry, middle and
                                            exit hours against the zone's robust baseline;
  equipment, equipment_calibration       -- the order's QC report nearest to the visit (graph)
                  overdue | ok | none       and the equipment's latest Calibration at inspection
                                            time (graph): overdue when its due_at had passed;
                                            nodes of the qc phase;
  broker, broker_login_rate spike|normal -- the order's CustomsDeclaration (graph); the broker's
                                            logins in the 3 hours around declared_at (SQL
                                            aggregate of operator_sessions) against a Poisson
                                            tail of the broker's own hourly rate; customs phase;
  carrier, carrier_load high | normal    -- the order's Shipment (graph); carrier_capacity
                                            load_pct (SQL, hourly max) at the origin hub (or the
                                            destination hub for the last mile) at entry / exit;
                                            origin hub, customs and destination hub phases.

Which nodes a place's attribute attaches to comes from the catalog's [phases]: a zone from the
first warehouse task on (attaching it to an earlier node would leak the order's future
progress), equipment at QC, a broker in customs, a hub and its carrier's load around it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl

from orderscope.analytics.conditions import calibration_at_inspection
from orderscope.analytics.patterns.itemsets import ATTRIBUTES, BAND_1_2, BAND_GT2, BAND_OK
from orderscope.analytics.stalls import find_stalls
from orderscope.domain.lifecycle import Catalog
from orderscope.ports import Stores
from orderscope.views import places
from orderscope.views.visits import visits_in_progress

HUMIDITY_Z = 4.0  # robust z of a zone-hour mean above the zone's median
HUMIDITY_MIN_RISE = 10.0  # and at least this many points above it
HUMIDITY_MIN_HOURS = 48  # zone-hours of history before `since` for a baseline of its own
LOGIN_SPIKE_P = 1e-3  # Poisson tail of the broker's 3-hour login count
LOGIN_SPIKE_MIN = 4
LOAD_HIGH_PCT = 90.0
HISTORY = timedelta(days=28)  # climate / login baselines look this far back
LOOKBACK = timedelta(days=14)  # records that may anchor a visit still open in the window

TS = pl.Datetime("us", "UTC")


def _in_phase(catalog: Catalog, *phases: str) -> pl.Expr:
    nodes: set[str] = set().union(*(catalog.phase(name) for name in phases))
    return pl.col("node").is_in(sorted(nodes))


def _hour(col: str | pl.Expr) -> pl.Expr:
    e = pl.col(col) if isinstance(col, str) else col
    return (e.dt.epoch("s") // 3600).cast(pl.Int64)


def transactions(stores: Stores, since: datetime, as_of: datetime, catalog: Catalog) -> pl.DataFrame:
    """The visits in progress at some moment of [since, as_of] with their items (see module)."""
    raw = visits_in_progress(stores, since, as_of, catalog.resting)
    if raw.height == 0:
        return _empty()
    tx = raw.with_columns(
        (pl.col("left_at").fill_null(pl.lit(as_of).cast(TS)) - pl.col("entered_at"))
        .dt.total_milliseconds()
        .alias("dwell_ms"),
    )
    tx = _with_stalls(tx, find_stalls(stores, since, as_of=as_of, catalog=catalog))
    lo = since - LOOKBACK
    tx = _qc_items(stores, catalog, tx, lo, as_of, since)
    tx = _customs_items(stores, catalog, tx, lo, as_of, since)
    tx = _carrier_items(stores, catalog, tx, lo, as_of)
    return tx.select(
        "order_id",
        "node",
        "visit",
        "entered_at",
        "dwell_ms",
        "stalled",
        "dwell_band",
        *ATTRIBUTES,
    ).cast(dict.fromkeys(ATTRIBUTES, pl.String))


def _empty() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "order_id": pl.String,
            "node": pl.String,
            "visit": pl.Int64,
            "entered_at": TS,
            "dwell_ms": pl.Int64,
            "stalled": pl.Boolean,
            "dwell_band": pl.String,
            **dict.fromkeys(ATTRIBUTES, pl.String),
        }
    )


def _with_stalls(tx: pl.DataFrame, stalls: pl.DataFrame) -> pl.DataFrame:
    """`stalled` and `dwell_band` of each visit from the stall rule's verdicts."""
    st = stalls.select(
        "order_id",
        "node",
        "visit",
        pl.lit(True).alias("stalled"),
        pl.when(pl.col("dwell_ms") > 2 * pl.col("threshold_ms"))
        .then(pl.lit(BAND_GT2))
        .otherwise(pl.lit(BAND_1_2))
        .alias("dwell_band"),
    )
    return tx.join(st, on=["order_id", "node", "visit"], how="left").with_columns(
        pl.col("stalled").fill_null(False), pl.col("dwell_band").fill_null(BAND_OK)
    )


def _points(tx: pl.DataFrame, as_of: datetime) -> pl.DataFrame:
    """Entry, middle and exit hour of each visit (open visits: up to as_of)."""
    end = pl.col("left_at").fill_null(pl.lit(as_of).cast(TS))
    mid = pl.col("entered_at") + (end - pl.col("entered_at")) / 2
    return tx.with_columns(_hour("entered_at").alias("_h0"), _hour(mid).alias("_h1"), _hour(end).alias("_h2"))


# --- zone, equipment, humidity ------------------------------------------------------------------


def _qc_items(
    stores: Stores, catalog: Catalog, tx: pl.DataFrame, lo: datetime, as_of: datetime, since: datetime
) -> pl.DataFrame:
    # calibration status of each report: its equipment's latest calibration at inspection time
    reports = calibration_at_inspection(places.qc_reports(stores, lo, as_of), places.calibrations(stores))
    reports = reports.rename({"calibration_status": "equipment_calibration"})
    zone = (
        places.task_zones(stores, lo, as_of)
        .group_by("order_id", maintain_order=True)
        .agg(pl.col("zone_id").drop_nulls().first().alias("zone"))
    )
    tx = tx.join(zone, on="order_id", how="left").with_columns(
        pl.when(_in_phase(catalog, "warehouse")).then(pl.col("zone")).alias("zone")
    )
    # equipment of the QC report nearest to the visit (the inspection of what it picked, or the
    # failed one that sent it back to picking)
    rep = reports.select(
        "order_id", pl.col("inspected_at").alias("_t"), "equipment_id", "equipment_calibration"
    ).sort("_t")
    qc = _in_phase(catalog, "qc")
    tx = (
        tx.sort("entered_at")
        .join_asof(
            rep,
            left_on="entered_at",
            right_on="_t",
            by="order_id",
            strategy="nearest",
            check_sortedness=False,
        )
        .with_columns(
            pl.when(qc).then(pl.col("equipment_id")).alias("equipment"),
            pl.when(qc).then(pl.col("equipment_calibration")).alias("equipment_calibration"),
        )
        .drop("_t", "equipment_id")
    )
    # humidity of the visit's zone during the visit
    hum = places.zone_humidity_hourly(stores, since - HISTORY, as_of)
    if hum.height == 0:
        return tx.with_columns(pl.lit(None, pl.String).alias("zone_humidity"))
    high = humid_hours(hum, int(since.timestamp() // 3600))
    tx = _points(tx, as_of)
    for i in range(3):
        tx = tx.join(high.rename({"h": f"_h{i}", "_high": f"_high{i}"}), on=["zone", f"_h{i}"], how="left")
    return tx.with_columns(
        pl.when(pl.col("zone").is_null())
        .then(None)
        .when(pl.any_horizontal(pl.col(f"_high{i}").fill_null(False) for i in range(3)))
        .then(pl.lit("high"))
        .otherwise(pl.lit("normal"))
        .alias("zone_humidity")
    ).drop("_h0", "_h1", "_h2", "_high0", "_high1", "_high2")


def humid_hours(hum: pl.DataFrame, since_h: int) -> pl.DataFrame:
    """The zone-hours (zone, h, _high) whose mean humidity `hum` rose above the zone's limit:
    median + max(HUMIDITY_Z x 1.4826 x MAD, HUMIDITY_MIN_RISE) of the zone's hours before
    `since_h` (all of its hours when it has fewer than HUMIDITY_MIN_HOURS of them)."""
    hist = hum.filter(pl.col("h") < since_h)
    enough = (
        hist.group_by("zone", maintain_order=True).len().filter(pl.col("len") >= HUMIDITY_MIN_HOURS)["zone"]
    )
    base_src = pl.concat(
        [
            hist.filter(pl.col("zone").is_in(enough.to_list())),
            hum.filter(~pl.col("zone").is_in(enough.to_list())),
        ]
    )
    base = (
        base_src.group_by("zone", maintain_order=True)
        .agg(pl.col("hum").median().alias("_med"))
        .join(base_src, on="zone")
        .group_by("zone", maintain_order=True)
        .agg(pl.col("_med").first(), (pl.col("hum") - pl.col("_med")).abs().median().alias("_mad"))
        .with_columns(
            (
                pl.col("_med")
                + pl.max_horizontal(HUMIDITY_Z * 1.4826 * pl.col("_mad"), pl.lit(HUMIDITY_MIN_RISE))
            ).alias("_limit")
        )
    )
    return (
        hum.join(base.select("zone", "_limit"), on="zone")
        .filter(pl.col("hum") > pl.col("_limit"))
        .select("zone", "h", pl.lit(True).alias("_high"))
    )


# --- broker and login rate ----------------------------------------------------------------------


def _customs_items(
    stores: Stores, catalog: Catalog, tx: pl.DataFrame, lo: datetime, as_of: datetime, since: datetime
) -> pl.DataFrame:
    decl = places.declarations(stores, lo, as_of).sort("declared_at").unique("order_id", keep="last")
    brokers = sorted(decl["broker_id"].drop_nulls().unique().to_list())
    start = since - HISTORY
    rate = pl.DataFrame(schema={"order_id": pl.String, "broker_login_rate": pl.String})
    if brokers:
        logins = places.broker_logins_hourly(stores, brokers, start, as_of)
        if logins.height:
            rate = login_spikes(decl, logins, start, as_of)
    decl = decl.join(rate, on="order_id", how="left").with_columns(
        pl.col("broker_login_rate").fill_null("normal")
    )
    tx = tx.join(decl.select("order_id", "broker_id", "broker_login_rate"), on="order_id", how="left")
    customs = _in_phase(catalog, "customs")
    return tx.with_columns(
        pl.when(customs).then(pl.col("broker_id")).alias("broker"),
        pl.when(customs & pl.col("broker_id").is_not_null())
        .then(pl.col("broker_login_rate"))
        .alias("broker_login_rate"),
    ).drop("broker_id")


def login_spikes(decl: pl.DataFrame, logins: pl.DataFrame, start: datetime, as_of: datetime) -> pl.DataFrame:
    """order_id, broker_login_rate ("spike" | "normal") of each declaration (order_id,
    broker_id, declared_at): its broker's logins (broker, h, n per hour) in the 3 hours around
    declared_at against a Poisson tail of the broker's own 3-hour rate over [start, as_of]."""
    from scipy.stats import poisson

    h0 = int(start.timestamp() // 3600)
    h0 = max(h0, int(logins["h"].min()))  # type: ignore[arg-type]  # the data may start later than the history
    hours = max(int(as_of.timestamp() // 3600) - h0 + 1, 1)
    mu = logins.group_by("broker", maintain_order=True).agg((3 * pl.col("n").sum() / hours).alias("_mu"))
    d = decl.with_columns(_hour("declared_at").alias("_h")).select("order_id", "broker_id", "_h")
    around = pl.concat([d.with_columns((pl.col("_h") + k).alias("h")) for k in (-1, 0, 1)])
    cnt = (
        around.join(logins, left_on=["broker_id", "h"], right_on=["broker", "h"], how="left")
        .group_by("order_id", "broker_id", maintain_order=True)
        .agg(pl.col("n").fill_null(0).sum().alias("_n"))
        .join(mu, left_on="broker_id", right_on="broker", how="left")
    )
    n = cnt["_n"].to_numpy()
    m = cnt["_mu"].fill_null(0.0).to_numpy()
    tail = poisson.sf(n - 1, np.maximum(m, 1e-9))
    spike = (n >= LOGIN_SPIKE_MIN) & (tail < LOGIN_SPIKE_P)
    return pl.DataFrame(
        {"order_id": cnt["order_id"], "broker_login_rate": np.where(spike, "spike", "normal")}
    )


# --- carrier and load ---------------------------------------------------------------------------


def _carrier_items(
    stores: Stores, catalog: Catalog, tx: pl.DataFrame, lo: datetime, as_of: datetime
) -> pl.DataFrame:
    ship = places.shipments(stores, lo, as_of).sort("created_at").unique("order_id", keep="last")
    tx = tx.join(ship.drop("created_at"), on="order_id", how="left")
    tx = tx.with_columns(
        pl.when(_in_phase(catalog, "origin_hub", "customs", "dest_hub"))
        .then(pl.col("carrier_id"))
        .alias("carrier"),
        pl.when(_in_phase(catalog, "origin_hub"))
        .then(pl.col("origin_hub"))
        .when(_in_phase(catalog, "dest_hub"))
        .then(pl.col("dest_hub"))
        .alias("_hub"),
    ).drop("carrier_id", "origin_hub", "dest_hub")
    load = places.carrier_load_hourly(stores, lo, as_of)
    if load.height == 0:
        return tx.with_columns(pl.lit(None, pl.String).alias("carrier_load")).drop("_hub")
    high = load.select("carrier", "hub", "h", (pl.col("load") >= LOAD_HIGH_PCT).alias("_high")).filter(
        pl.col("_high")
    )
    tx = _points(tx, as_of)
    for i in (0, 2):
        tx = tx.join(
            high.rename({"h": f"_h{i}", "_high": f"_high{i}"}),
            left_on=["carrier", "_hub", f"_h{i}"],
            right_on=["carrier", "hub", f"_h{i}"],
            how="left",
        )
    return tx.with_columns(
        pl.when(pl.col("_hub").is_null() | pl.col("carrier").is_null())
        .then(None)
        .when(pl.col("_high0").fill_null(False) | pl.col("_high2").fill_null(False))
        .then(pl.lit("high"))
        .otherwise(pl.lit("normal"))
        .alias("carrier_load")
    ).drop("_hub", "_h0", "_h1", "_h2", "_high0", "_high2")


__all__ = ["HISTORY", "LOOKBACK", "humid_hours", "login_spikes", "transactions"]
