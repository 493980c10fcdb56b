"""The warehouse-side files: warehouse tasks, QC reports, equipment calibrations, climate
readings, operator sessions."""

from __future__ import annotations

import numpy as np
import polars as pl

from orderscope.generator import auxiliary
from orderscope.generator import records as R
from orderscope.generator import world as W
from orderscope.generator.output.formats import Output, chunks, ids, lookup, order_id, ts, ts_native


def write_tasks(o: Output) -> None:
    t = o.ranked("warehouse_tasks")
    wave_local = (pl.col("wave") * (30 * W.MIN) + W.LOCAL).cast(pl.Datetime("ms")).dt.strftime("%y%m%d-%H%M")
    wave = pl.when(pl.col("wave") >= 0).then(
        pl.concat_str([pl.lit("WV-"), lookup("wh", W.WH_CODES), pl.lit("-"), wave_local])
    )
    columns = (
        ids("warehouse_tasks", pl.col("rank")).alias("task_id"),
        order_id(),
        lookup("type", R.TASK_TYPES).alias("task_type"),
        wave.alias("wave_id"),
        lookup("wh", W.WAREHOUSES).alias("warehouse_id"),
        lookup("zone", W.ZONES).alias("zone_id"),
        o.actor("op").alias("operator_id"),
        ts("t", "warehouse_tasks").alias("started_at"),
        ts("end", "warehouse_tasks", o.end).alias("ended_at"),
    )
    o.writer.write("warehouse_tasks", frames=chunks(t, *columns))


def write_qc_reports(o: Output) -> None:
    q = o.ranked("qc_reports")
    o.found["qc_incident_rank"] = q.filter(pl.col("incident"))["rank"].to_numpy()
    o.found["qc"] = q.select("oi", "eq", "t", "result", "incident")
    defect = pl.when(pl.col("defect") >= 0).then(pl.col("defect"))
    o.writer.write(
        "qc_reports",
        q.select(
            ids("qc_reports", pl.col("rank")).alias("report_no"),
            order_id(),
            lookup("wh", W.WAREHOUSES).alias("warehouse_id"),
            lookup("zone", W.ZONES).alias("zone_id"),
            lookup("result", R.QC_RESULTS).alias("result"),
            lookup(defect, R.DEFECTS).alias("defect_code"),
            o.actor("insp").alias("inspector_id"),
            lookup("eq", W.EQUIPMENT).alias("equipment_id"),
            ts("t", "qc_reports").alias("inspected_at"),
        ),
    )


def write_calibrations(o: Output) -> None:
    """The calibrations (drawn by auxiliary.calibrations); the overdue one is evidence."""
    c = o.ranked("equipment_calibrations")
    o.found["calibration_overdue_rank"] = c.filter(pl.col("overdue"))["rank"].to_numpy()
    c = c.with_columns(pl.Series("zone", W.EQ_ZONE[c["eq"].to_numpy()]))
    o.writer.write(
        "equipment_calibrations",
        c.select(
            ids("equipment_calibrations", pl.col("rank")).alias("calibration_id"),
            lookup("eq", W.EQUIPMENT).alias("equipment_id"),
            lookup(pl.col("zone") // 4, W.WAREHOUSES).alias("warehouse_id"),
            lookup("zone", W.ZONES).alias("zone_id"),
            ts("t", "equipment_calibrations").alias("calibrated_at"),
            ts("due", "equipment_calibrations").alias("due_at"),
            lookup("result", ("pass", "adjusted")).alias("result"),
            lookup("tech", W.TECHNICIANS).alias("technician"),
        ),
    )
    o.found["calibrations"] = c.select("eq", "t", "due", "overdue")


def write_climate(o: Output, readings: dict[str, np.ndarray]) -> None:
    """Zone sensor readings (from auxiliary.climate), as Parquet."""
    cdf = pl.DataFrame(readings).sort(["t", "sensor"])
    o.writer.write(
        "climate_readings",
        cdf.select(
            lookup("sensor", W.SENSORS).alias("sensor_id"),
            lookup(pl.col("sensor") // 4, W.WAREHOUSES).alias("warehouse_id"),
            lookup("sensor", W.ZONES).alias("zone_id"),
            ts_native("t").alias("at"),
            pl.col("temp").alias("temperature_c"),
            pl.col("hum").alias("humidity_pct"),
        ),
    )


def write_sessions(o: Output) -> None:
    """The sessions (drawn by auxiliary.sessions) that overlap the span, as Parquet; the
    broker's login spike is evidence."""
    sim = o.sim
    ss = o.records("operator_sessions").filter(pl.col("end") > sim.start)
    ss = o.ranked("operator_sessions", ss)
    o.found["spike_session_rank"] = ss.filter(pl.col("spike"))["rank"].to_numpy()
    o.found["sessions"] = ss.select("actor", "t", "spike")
    o.writer.write(
        "operator_sessions",
        ss.select(
            ids("operator_sessions", pl.col("rank")).alias("session_id"),
            o.actor("actor").alias("actor_id"),
            lookup("role", auxiliary.SESSION_ROLES).alias("role"),
            lookup("site", auxiliary.SESSION_SITES).alias("site"),
            ts_native("t").alias("login_at"),
            ts_native("end", o.end).alias("logout_at"),
        ),
    )
