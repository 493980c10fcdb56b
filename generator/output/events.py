"""The order events file, written last: every record an event names has its id by then."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import polars as pl

from orderscope.domain.lifecycle import LIFECYCLE_NODES
from orderscope.generator import records as R
from orderscope.generator import world as W
from orderscope.generator.output.formats import CHUNK, PREFIX, Output, ids, lookup, order_id, ts

STREETS = ("Pine", "Maple", "Harbour", "Station", "Garden", "River")
STREETS += ("Market", "Lake", "Hill", "Park", "Bridge", "Mill")


def write_events(o: Output) -> pl.DataFrame:
    """Write the events in time order; returns (oi, at, frm, to, reason) of every event written."""
    df = _event_frame(o)
    summary = df.select("oi", "at", "frm", "to", "reason")
    o.writer.write("order_events", frames=_event_chunks(o, df))
    return summary


def _event_frame(o: Output) -> pl.DataFrame:
    """The simulation's event chunks as one frame of the events before end, their evidence,
    impact and waybill references resolved to the records' chronological ranks (-1: none)."""
    sim, rank = o.sim, o.rank
    keys = list(sim.events[0].keys())
    cols = {k: np.concatenate([c[k] for c in sim.events]) for k in keys}
    sim.events.clear()
    keep = cols["at"] < sim.end
    cols = {k: v[keep] for k, v in cols.items()}

    def resolve(kcol: np.ndarray, rcol: np.ndarray) -> np.ndarray:
        out = np.full(len(rcol), -1, R.I64)
        for k, name in enumerate(R.KIND_NAMES):
            m = kcol == k
            if m.any():
                out[m] = rank[name][rcol[m]]
        assert (out[kcol >= 0] >= 0).all(), "an event references a record that was not written"
        return out

    cols["evr"] = resolve(cols["evk"], cols["evr"])
    for j in range(3):
        cols[f"ir{j}"] = resolve(cols[f"ik{j}"], cols[f"ir{j}"])
    wb = cols["diff"] == R.D_WAYBILL
    cols["dv"][wb] = rank["shipments"][cols["dv"][wb]]
    return pl.DataFrame(cols).sort(["at", "oi", "seq"])


def _event_chunks(o: Output, df: pl.DataFrame) -> Iterator[pl.DataFrame]:
    nodes = LIFECYCLE_NODES
    impact = _impact()
    diff = _diff()
    for s in range(0, df.height, CHUNK):
        yield (
            df.slice(s, CHUNK)
            .with_row_index("i", offset=s)
            .select(
                ids("order_events", pl.col("i").cast(pl.Int64)).alias("event_id"),
                order_id(),
                ts("at", "order_events").alias("at"),
                o.actor("actor").alias("actor_id"),
                lookup("role", W.ROLES).alias("actor_role"),
                lookup(pl.when(pl.col("frm") >= 0).then(pl.col("frm")), nodes).alias("from_state"),
                lookup("to", nodes).alias("to_state"),
                lookup(pl.when(pl.col("reason") >= 0).then(pl.col("reason")), W.REASONS).alias("reason_code"),
                _ref("evk", "evr").alias("evidence"),
                diff.alias("diff"),
                impact.alias("impact"),
            )
        )


def _ref(k: str, r: str) -> pl.Expr:
    """Id of the referenced record: one expression whatever its kind (null when k < 0)."""
    prefixes = {i: PREFIX[name][0] for i, name in enumerate(R.KIND_NAMES)}
    widths = {i: PREFIX[name][1] for i, name in enumerate(R.KIND_NAMES)}
    kc = pl.when(pl.col(k) >= 0).then(pl.col(k))
    # zero-padding of a kind-dependent width: add 10**width, print, drop the leading "1"
    pow10 = kc.replace_strict({i: 10**w for i, w in widths.items()}, default=None, return_dtype=pl.Int64)
    num = (pl.col(r) + 1 + pow10).cast(pl.String).str.slice(1)
    return pl.concat_str([kc.replace_strict(prefixes, default=None, return_dtype=pl.String), num])


def _impact() -> pl.Expr:
    """The records an event touched, as a JSON array of {"kind", "id"} (null when none)."""

    def one(j: int) -> pl.Expr:
        kname = lookup(pl.when(pl.col(f"ik{j}") >= 0).then(pl.col(f"ik{j}")), R.KIND_NAMES)
        return pl.concat_str(
            [pl.lit('{"kind":"'), kname, pl.lit('","id":"'), _ref(f"ik{j}", f"ir{j}"), pl.lit('"}')]
        )

    impact = pl.concat_str([one(0), one(1), one(2)], separator=",", ignore_nulls=True)
    return pl.when(pl.col("ik0") >= 0).then(pl.concat_str([pl.lit("["), impact, pl.lit("]")]))


def _address(k: int) -> pl.Expr:
    """A made-up street address from the event's value (k = 0: before, 1: after)."""
    dv = pl.col("dv")
    return pl.concat_str(
        [
            ((dv * 37 + k * 11) % 180 + 1).cast(pl.String),
            pl.lit(" "),
            lookup((dv + k * 5) % 12, STREETS),
            pl.lit(" Rd"),
        ]
    )


def _diff() -> pl.Expr:
    """The event's field change as JSON text, from its diff template and value (dv)."""
    dv = pl.col("dv")
    kind = pl.col("diff")
    refund = (dv.cast(pl.Float64) / 100).round(2).cast(pl.String)
    attempts = [dv.cast(pl.String), pl.lit(","), (dv + 1).cast(pl.String)]
    return (
        pl.when(kind == R.D_PAY)
        .then(pl.lit('{"payment_status":["pending","captured"]}'))
        .when(kind == R.D_ALLOC)
        .then(pl.concat_str([pl.lit('{"allocated_qty":[0,'), dv.cast(pl.String), pl.lit("]}")]))
        .when(kind == R.D_ADDR)
        .then(
            pl.concat_str(
                [pl.lit('{"shipping_address":["'), _address(0), pl.lit('","'), _address(1), pl.lit('"]}')]
            )
        )
        .when(kind == R.D_WAYBILL)
        .then(pl.concat_str([pl.lit('{"waybill":[null,"'), ids("shipments", dv), pl.lit('"]}')]))
        .when(kind == R.D_CANCEL)
        .then(pl.lit('{"fulfilment_status":["open","cancelled"]}'))
        .when(kind == R.D_REFUND)
        .then(pl.concat_str([pl.lit('{"refunded_amount":[0,'), refund, pl.lit("]}")]))
        .when(kind == R.D_CUSTOMS)
        .then(pl.lit('{"customs_status":["submitted","held"]}'))
        .when(kind == R.D_ATTEMPT)
        .then(pl.concat_str([pl.lit('{"delivery_attempts":['), *attempts, pl.lit("]}")]))
        .when(kind == R.D_QC)
        .then(pl.concat_str([pl.lit('{"qc_result":[null,"'), lookup(dv, R.QC_RESULTS), pl.lit('"]}')]))
    )
