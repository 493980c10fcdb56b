"""The transport-side files: shipments, logistics tracks, carrier capacity, customs
declarations."""

from __future__ import annotations

import numpy as np
import polars as pl

from orderscope.generator import world as W
from orderscope.generator.output.formats import Output, chunks, ids, lookup, order_id, ts, ts_native
from orderscope.generator.records import SCAN_TYPES


def write_shipments(o: Output) -> None:
    sim = o.sim
    sh = o.ranked("shipments")
    so = sh["oi"].to_numpy()
    sh = sh.with_columns(
        pl.Series("carrier", sim.carrier[so]),
        pl.Series("ohub", sim.origin_hub[so]),
        pl.Series("dhub", sim.dest_hub[so]),
        pl.Series("express", sim.service_express[so]),
        pl.Series("promised", sim.promised[so]),
    )
    o.writer.write(
        "shipments",
        sh.select(
            ids("shipments", pl.col("rank")).alias("waybill"),
            order_id(),
            lookup("carrier", W.CARRIERS).alias("carrier_id"),
            lookup("ohub", W.HUBS).alias("origin_hub"),
            lookup("dhub", W.HUBS).alias("dest_hub"),
            pl.when(pl.col("express"))
            .then(pl.lit("express"))
            .otherwise(pl.lit("standard"))
            .alias("service_level"),
            ts("t", "shipments").alias("created_at"),
            ts("promised", "shipments").alias("promised_at"),
        ),
    )


def write_tracks(o: Output) -> dict[str, np.ndarray]:
    """The carrier scans (after the shipments: they name the waybill). Returns every scan's
    hub and time, written or not, for the hubs' capacity."""
    sim = o.sim
    every = o.records("logistics_tracks")
    scans = {"hub": every["hub"].to_numpy(), "t": every["t"].to_numpy()}
    tr = o.ranked("logistics_tracks", every)
    to = tr["oi"].to_numpy()
    tr = tr.with_columns(
        pl.Series("wb", o.rank["shipments"][tr["ship"].to_numpy()]),
        pl.Series("wh", sim.wh[to]),
        pl.Series("dest_region", W.WH_REGION[sim.dest_wh[to]]),
        pl.Series("region", sim.region[to]),
        pl.Series("cross", sim.cross[to]),
        pl.Series("country", sim.country[to]),
    )
    columns = (
        ids("logistics_tracks", pl.col("rank")).alias("scan_id"),
        ids("shipments", pl.col("wb")).alias("waybill"),
        ts("t", "logistics_tracks").alias("at"),
        lookup(pl.when(pl.col("hub") >= 0).then(pl.col("hub")), W.HUBS).alias("hub_id"),
        _location().alias("location"),
        lookup("type", SCAN_TYPES).alias("scan_type"),
    )
    o.writer.write("logistics_tracks", frames=chunks(tr, *columns))
    return scans


def _location() -> pl.Expr:
    """Where a scan happened: the hub, the warehouse dock, the linehaul, or the delivery area."""
    area = (
        pl.when(pl.col("cross"))
        .then(lookup("country", W.COUNTRIES))
        .otherwise(lookup("dest_region", W.REGIONS))
    )
    linehaul = pl.concat_str(
        [pl.lit("linehaul "), lookup("region", W.REGIONS), pl.lit(" -> "), lookup("dest_region", W.REGIONS)]
    )
    return (
        pl.when(pl.col("hub") >= 0)
        .then(lookup("hub", W.HUB_LOCATION))
        .when(pl.col("type") == 0)
        .then(pl.concat_str([lookup("wh", W.WAREHOUSES), pl.lit(" dock")]))
        .when(pl.col("type") == 2)
        .then(linehaul)
        .otherwise(pl.concat_str([area, pl.lit(" delivery area")]))
    )


def write_capacity(o: Output, hourly: dict[str, np.ndarray]) -> None:
    """The hubs' hourly load (from auxiliary.capacity), as Parquet."""
    cap = pl.DataFrame(hourly).sort(["t", "hub"])
    cap = cap.with_columns(pl.Series("carrier", W.HUB_CARRIER[cap["hub"].to_numpy()]))
    o.writer.write(
        "carrier_capacity",
        cap.select(
            lookup("carrier", W.CARRIERS).alias("carrier_id"),
            lookup("hub", W.HUBS).alias("hub_id"),
            ts_native("t").alias("at"),
            pl.col("load").alias("load_pct"),
            pl.col("cap").cast(pl.Int64).alias("capacity_parcels"),
        ),
    )


def write_customs(o: Output) -> None:
    """The declarations; the ones of the planted stall are evidence."""
    sim, end = o.sim, o.end
    cd = o.ranked("customs_declarations")
    o.found["customs_stall_rank"] = cd.filter(pl.col("stall"))["rank"].to_numpy()
    co = cd["oi"].to_numpy()
    cd = cd.with_columns(
        pl.Series("wb", o.rank["shipments"][sim.ship_rid[co]]), pl.Series("country", sim.country[co])
    )
    holds = ("documents missing", "valuation query", "physical inspection")
    held = (pl.col("hold_t") >= 0) & (pl.col("hold_t") < end)
    status = (
        pl.when(pl.col("clear") < end)
        .then(pl.lit("cleared"))
        .when(held)
        .then(pl.lit("held"))
        .otherwise(pl.lit("submitted"))
    )
    hold = pl.when(held).then(
        pl.when(pl.col("stall")).then(pl.lit(holds[0])).otherwise(lookup(pl.col("rid") % 3, holds))
    )
    o.writer.write(
        "customs_declarations",
        cd.select(
            ids("customs_declarations", pl.col("rank")).alias("declaration_no"),
            order_id(),
            ids("shipments", pl.col("wb")).alias("waybill"),
            lookup("broker", W.BROKERS).alias("broker_id"),
            lookup("country", W.COUNTRIES).alias("country"),
            status.alias("status"),
            ts("t", "customs_declarations").alias("declared_at"),
            ts("clear", "customs_declarations", end).alias("cleared_at"),
            hold.alias("hold_reason"),
        ),
    )
