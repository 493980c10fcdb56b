"""Conditions that several analytics judge the same way, defined once."""

from __future__ import annotations

import polars as pl

TS: pl.DataType = pl.Datetime("us", "UTC")


def calibration_at_inspection(reports: pl.DataFrame, calibrations: pl.DataFrame) -> pl.DataFrame:
    """Each QC report (equipment_id, inspected_at, …) with its equipment's latest calibration at
    inspection time (calibration_id, calibrated_at, due_at, when the frame has them) and
    `calibration_status`: "overdue" when that calibration's due_at had passed, "ok", or "none"
    when the equipment had no calibration yet."""
    wanted: dict[str, pl.DataType] = {
        "calibration_id": pl.String(),
        "equipment_id": pl.String(),
        "calibrated_at": TS,
        "due_at": TS,
    }
    cals = (
        calibrations.select([c for c in wanted if c in calibrations.columns]) if calibrations.height else None
    )
    if cals is None:
        cals = pl.DataFrame(schema={c: t for c, t in wanted.items() if c != "calibration_id"})
    cals = cals.cast({c: t for c, t in wanted.items() if c in cals.columns})
    return (
        reports.with_columns(pl.col("inspected_at").cast(TS))
        .sort("inspected_at")
        .join_asof(
            cals.sort("calibrated_at"),
            left_on="inspected_at",
            right_on="calibrated_at",
            by="equipment_id",
            strategy="backward",
            check_sortedness=False,
        )
        .with_columns(
            pl.when(pl.col("due_at").is_null())
            .then(pl.lit("none"))
            .when(pl.col("due_at") < pl.col("inspected_at"))
            .then(pl.lit("overdue"))
            .otherwise(pl.lit("ok"))
            .alias("calibration_status")
        )
    )
