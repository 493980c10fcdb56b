"""What every file writer shares: readable chronological ids, timestamps with the source's
offset, code lookups, JSON lines built column-wise, and the `Output` of one generation run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from orderscope.domain.sources import BY_NAME, SourceKind
from orderscope.generator import world as W
from orderscope.generator.records import I64, LAYOUT
from orderscope.generator.simulation import Sim

TS_Z = "%Y-%m-%dT%H:%M:%S%.3fZ"
TS_OFF = "%Y-%m-%dT%H:%M:%S%.3f%:z"
# some systems write their local offset (same instant): warehouse systems UTC+08:00, customs UTC+01:00
OFFSET_H = {"warehouse_tasks": 8, "qc_reports": 8, "equipment_calibrations": 8, "customs_declarations": 1}
CHUNK = 500_000

PREFIX = {  # kind -> (id prefix, digits)
    "orders": ("O", 7),
    "order_events": ("EV", 9),
    "payments": ("PAY", 8),
    "inventory_allocations": ("AL", 8),
    "warehouse_tasks": ("WT", 9),
    "qc_reports": ("QC", 8),
    "equipment_calibrations": ("CAL-", 5),
    "shipments": ("WB", 10),
    "logistics_tracks": ("SC", 10),
    "customs_declarations": ("CD", 8),
    "operator_sessions": ("SS", 8),
    "service_tickets": ("TK", 8),
    "approvals": ("APR", 8),
    "notifications": ("NT", 9),
    "returns": ("RMA", 8),
}

Progress = Callable[[str, float], None]


def ids(kind: str, rank: pl.Expr) -> pl.Expr:
    """Readable id of the record at 0-based chronological `rank` of `kind`."""
    p, w = PREFIX[kind]
    return pl.concat_str([pl.lit(p), (rank + 1).cast(pl.String).str.zfill(w)])


def order_id(col: str = "oi") -> pl.Expr:
    return ids("orders", pl.col(col)).alias("order_id")


def ts(col: str | pl.Expr, kind: str, end: int | None = None) -> pl.Expr:
    """Int64 epoch-ms -> ISO 8601 text with milliseconds and an offset; null if < 0 or >= end."""
    e = pl.col(col) if isinstance(col, str) else col
    valid = e >= 0 if end is None else (e >= 0) & (e < end)
    dt = pl.when(valid).then(e).cast(pl.Datetime("ms")).dt.replace_time_zone("UTC")
    h = OFFSET_H.get(kind, 0)
    if h == 0:
        return dt.dt.to_string(TS_Z)
    return dt.dt.convert_time_zone(f"Etc/GMT-{h}").dt.to_string(TS_OFF)


def ts_native(col: str, end: int | None = None) -> pl.Expr:
    """Int64 epoch-ms -> a UTC datetime (Parquet files keep native timestamps)."""
    e = pl.col(col)
    valid = e >= 0 if end is None else (e >= 0) & (e < end)
    return pl.when(valid).then(e).cast(pl.Datetime("ms")).dt.replace_time_zone("UTC")


def lookup(col: str | pl.Expr, table: Sequence[Any]) -> pl.Expr:
    """The text of a code: `table[code]` (null for a null code)."""
    e = pl.col(col) if isinstance(col, str) else col
    return e.replace_strict(dict(enumerate(table)), default=None, return_dtype=pl.String)


def _esc(e: pl.Expr) -> pl.Expr:
    return e.str.replace_all("\\", "\\\\", literal=True).str.replace_all('"', '\\"', literal=True)


def jsonl_lines(kind: SourceKind, df: pl.DataFrame, escape: frozenset[str] = frozenset()) -> pl.DataFrame:
    """One JSON object per row, built with vectorised string concatenation (json columns raw)."""
    parts: list[pl.Expr] = []
    for i, c in enumerate(kind.columns):
        e = pl.col(c.name)
        if c.type == "ts" or (c.type == "str" and c.name not in escape):
            frag = pl.concat_str(
                [pl.lit('"'), e, pl.lit('"')]
            )  # generated ids/codes: no quotes or backslashes
        elif c.type == "str":
            frag = pl.concat_str([pl.lit('"'), _esc(e), pl.lit('"')])
        elif c.type == "bool":
            frag = pl.when(e).then(pl.lit("true")).otherwise(pl.lit("false"))
            frag = pl.when(e.is_null()).then(pl.lit(None)).otherwise(frag)
        elif c.type == "json":
            frag = e
        else:
            frag = e.cast(pl.String)
        parts.append(pl.lit(("{" if i == 0 else ",") + f'"{c.name}":'))
        parts.append(frag.fill_null("null"))
    parts.append(pl.lit("}"))
    return df.select(pl.concat_str(parts).alias("line"))


def chunks(frame: pl.DataFrame, *exprs: pl.Expr) -> Iterator[pl.DataFrame]:
    """The file columns of `frame`, selected CHUNK rows at a time (bounded memory)."""
    for s in range(0, frame.height, CHUNK):
        yield frame.slice(s, CHUNK).select(*exprs)


class Writer:
    """Writes one file per source kind into `out`, in the kind's format, and counts the rows."""

    def __init__(self, out: Path, progress: Progress | None) -> None:
        self.out = out
        self.progress = progress
        self.counts: dict[str, int] = {}

    def write(
        self, name: str, df: pl.DataFrame | None = None, frames: Iterable[pl.DataFrame] | None = None
    ) -> None:
        """Write a kind from one frame or an iterator of frames (chunks)."""
        kind = BY_NAME[name]
        path = self.out / kind.file_name
        names = [c.name for c in kind.columns]
        total = 0
        parts: Iterable[pl.DataFrame] = [df] if df is not None else (frames or [])
        with path.open("wb") as f:
            if kind.format == "parquet":
                full = pl.concat(list(parts)) if df is None else df
                assert full.columns == names, (name, full.columns)
                full.write_parquet(f, compression="zstd", statistics=True)
                total = full.height
            else:
                first = True
                for part in parts:
                    assert part.columns == names, (name, part.columns)
                    total += part.height
                    if kind.format == "csv":
                        part.write_csv(f, include_header=first, float_precision=2)
                    else:
                        jsonl_lines(kind, part).write_csv(f, include_header=False, quote_style="never")
                    first = False
                if first:  # no chunks at all: header only
                    pl.DataFrame(schema=names).write_csv(f, include_header=kind.format == "csv")
        self.counts[name] = total
        if self.progress:
            self.progress(name, 1.0)


@dataclass
class Output:
    """One generation run's writing state: the simulation, the file writer, each kind's
    rid -> chronological rank map (events and later kinds refer to records by it), and the
    evidence collected for the ground truth."""

    sim: Sim
    writer: Writer
    rank: dict[str, np.ndarray] = field(default_factory=dict)
    found: dict[str, Any] = field(default_factory=dict)

    @property
    def end(self) -> int:
        return self.sim.end

    def records(self, kind: str) -> pl.DataFrame:
        """The simulation's records of `kind` as one frame (rid, oi, t at least); a kind with no
        records gives zero rows with the columns the simulation would have filled, so every
        writer's select works on it."""
        parts = self.sim.recs.get(kind, [])
        if not parts:
            return pl.DataFrame({c: np.zeros(0, dt) for c, dt in LAYOUT[kind].items()})
        keys = parts[0].keys()
        assert set(keys) == set(LAYOUT[kind]), (kind, sorted(keys))  # records.LAYOUT is current
        return pl.DataFrame({k: np.concatenate([c[k] for c in parts]) for k in keys})

    def ranked(self, kind: str, df: pl.DataFrame | None = None) -> pl.DataFrame:
        """Keep records that happened before end, sort chronologically, rank (column "rank");
        records the rid -> rank map and frees the simulation's chunks of the kind."""
        sim = self.sim
        df = self.records(kind) if df is None else df
        df = df.filter(pl.col("t") < sim.end).sort(["t", "oi", "rid"]).with_row_index("rank")
        size = max(int(sim.counters.get(kind, 0)), int(df["rid"].max() or 0) + 1 if df.height else 0)
        rank_of = np.full(size, -1, I64)
        rank_of[df["rid"].to_numpy()] = df["rank"].to_numpy()
        sim.recs.pop(kind, None)
        self.rank[kind] = rank_of
        return df

    def actor(self, col: str) -> pl.Expr:
        """The actor id of an actor index: a customer id ("C" + number) or a staff id."""
        a = self.sim.actors
        staff = dict(enumerate(a.staff_names))
        e = pl.col(col)
        cust = pl.concat_str(
            [pl.lit("C"), (e - a.customer + 1).cast(pl.String).str.zfill(self.customer_width)]
        )
        return (
            pl.when(e >= a.customer)
            .then(cust)
            .otherwise(e.replace_strict(staff, default=None, return_dtype=pl.String))
        )

    @property
    def customer_width(self) -> int:
        return W.customer_ids_width(self.sim.n_customers)
