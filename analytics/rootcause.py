"""Root-cause drill-down: explain a metric change between two periods for a slice.

    from orderscope.analytics.rootcause import explain
    explain(stores, "cycle_time", {"region": "North"}, parse_period("2026-W47"),
            parse_period("2026-W46"))

Metrics (all in the store's own time, UTC):
  cycle_time  -- fulfilment cycle of an order, hours from its first CREATED to its first
                 HANDED_OVER. An order belongs to the period in which it was handed over (so the
                 last days of a period are not biased towards fast orders, and carrier / customs
                 legs after the handover do not blur warehouse causes).
  node_dwell  -- hours of a visit to a node (stage_dwell). A closed visit belongs to the period
                 in which it left the node, an open one to the period in which it entered (its
                 dwell runs to the data clock). Resting nodes are left out unless sliced.
  stall_rate  -- share of units that stalled. Sliced by `node`: visits of that node (assigned as
                 for node_dwell) whose dwell passed the node's catalog SLA. Otherwise: orders
                 created in the period, stalled when, as of the period's end, any visit had
                 dwelt past its node's SLA, or the order was reinstated after CANCELLED (a flow
                 loop such as PAID -> PICKING -> CANCELLED -> PAID).

Method:
  1. One SQL query (pushed down into the series store) yields the slice's units of both periods
     with their metric value and order dimensions; further aggregates (stage decomposition, the
     slice against its parent population) are SQL GROUP BYs. Graph hops (QC reports,
     shipments, customs declarations, calibrations via CALIBRATES) and series conditions (zone
     humidity per hour, broker login rate) are fetched for the periods' window and joined in
     polars to a unit -> (dimension, value) membership table.
  2. Every segment (dimension = value; multi-valued dimensions such as equipment count an order
     in each segment it touched) gets a mix + rate decomposition of the delta:
         contribution = w1 (m1 - m0) + (w1 - w0) (m0 - M0)
     (w = the segment's share of units, m its mean, M the slice mean; for single-valued
     dimensions the contributions sum to the delta). `contribution` in a finding is that
     amount as a share of the delta.
  3. Surprise: z = contribution / its standard error (segment variance pooled over both periods,
     shrunk towards the slice variance; mix term with binomial noise) -- the change measured
     against the segment's own baseline. p-values are Bonferroni-adjusted over every segment
     tested, so noise across hundreds of segments does not look like a cause.
  4. Segments telling the same story (their intersection keeps >= 75 % of each one's
     contribution) are merged: the finding is the intersection of the entity segments
     (equipment within its zone and warehouse, or a compound channel + sku category), with
     conditions (calibration overdue, humidity band, broker login-rate band, QC result, flow
     loop, node) attached. The slice itself is also tested against its parent population (the
     slice's keys dropped): a change specific to the combination (e.g. marketplace x
     electronics, but neither alone) is a compound finding.
  5. Confidence = (1 - adjusted p) x min(1, share / 0.5): "high" >= 0.9, "medium" >= 0.5.
  6. Evidence: from the top findings through the graph and the series to record ids.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from orderscope.analytics import _rc_sql as R
from orderscope.analytics.conditions import calibration_at_inspection
from orderscope.domain.periods import Period

METRICS = ("cycle_time", "node_dwell", "stall_rate")
UNITS = {"cycle_time": "h", "node_dwell": "h", "stall_rate": ""}

# Dimension kinds: entities are where a cause can be acted on; conditions and mechanisms explain.
ENTITY = {
    "equipment_id": "equipment",
    "inspector_id": "inspector",
    "zone_id": "zone",
    "broker_id": "broker",
    "carrier_id": "carrier",
    "warehouse_id": "warehouse",
    "sku_category": "sku category",
    "channel": "channel",
    "destination_country": "destination",
    "cross_border": "cross-border",
    "region": "region",
}
CONDITION = {
    "calibration": "equipment calibration",
    "humidity_band": "zone humidity",
    "broker_login_rate": "broker login rate",
}
MECHANISM = {"qc_result": "QC result", "node": "node", "flow": "flow"}
LABEL = {**ENTITY, **CONDITION, **MECHANISM}
KIND_WEIGHT = {"entity": 1.0, "condition": 0.8, "mechanism": 0.6}
HUMIDITY_BANDS = ((35.0, "dry (<35 %)"), (60.0, "normal (35-60 %)"), (70.0, "humid (60-70 %)"))
HUMID_TOP = "very humid (>=70 %)"
SPIKE_LOGINS = 4  # a broker's logins within one hour either side: >= 4 is a spike
LOOKBACK = timedelta(days=14)  # records of units' orders are looked for this far before the baseline
SHRINK = 10.0  # pseudo-units of slice variance mixed into a segment's variance
MIN_UNITS = 5
POPULATION = 0.7  # a segment holding more than this share of units in both periods is the slice
# Values that describe things as they should be: they cannot explain a deterioration.
NORMAL_VALUES = {
    "calibration": ("in date",),
    "qc_result": ("pass",),
    "broker_login_rate": ("normal",),
    "humidity_band": (HUMIDITY_BANDS[1][1],),
}
SAME_STORY = 0.75
HOST_MAX = 0.5
SLICE_TESTS = 10  # the slice against its parent is one question; allow for a few asked in a row
STAGE_WEIGHT = 0.35  # stage time (cycle_time by node) says where, never who: ranks below causes
NARROW = 0.9  # a narrower intersection must keep this share of the story's explanatory power
HIGH, MEDIUM = 0.9, 0.5
EVIDENCE_FINDINGS = 3
MAX_IDS = 500


class RootCauseError(ValueError):
    """The question cannot be answered as asked; the message says why."""


# --- entry point ------------------------------------------------------------------------------


def explain(
    stores: Any,
    metric: str,
    slice: dict[str, str],
    period: Period,
    baseline: Period,
    top: int = 10,
) -> dict:
    if metric not in METRICS:
        raise RootCauseError(f"unknown metric {metric!r}; use one of {', '.join(METRICS)}")
    if period.start < baseline.end and baseline.start < period.end:
        raise RootCauseError(f"period {period.label} and baseline {baseline.label} overlap")
    catalog = stores.catalog
    order_slice, node = _parse_slice(slice or {}, catalog)
    if node is not None and metric == "cycle_time":
        raise RootCauseError("a node slice applies to node_dwell and stall_rate, not cycle_time")
    clock = stores.series.data_clock()
    if clock is None:
        raise RootCauseError("the store holds no events yet: ingest data first")
    w = {
        "pre_handover": list(catalog.before(catalog.roles.handover)),
        "b0": baseline.start,
        "b1": baseline.end,
        "p0": period.start,
        "p1": period.end,
        "clock": clock,
        "p_asof": min(period.end, clock),
        "b_asof": min(baseline.end, clock),
    }
    ctx = _Ctx(stores, metric, order_slice, node, w, catalog)
    ctx.limit = max(0, int(top)) + 5
    out = {
        "metric": metric,
        "slice": dict(slice or {}),
        "period": period.label,
        "baseline": baseline.label,
        "period_range": [period.start, period.end],
        "baseline_range": [baseline.start, baseline.end],
    }
    ctx.load_units()
    f = ctx.units
    n1 = int((f["per"] == 1).sum()) if len(f) else 0
    n0 = len(f) - n1
    if n0 == 0 or n1 == 0:
        out.update(
            value={"period": ctx.mean(1), "baseline": ctx.mean(0), "delta": None},
            units={"period": n1, "baseline": n0},
            findings=[],
            note="no units in " + ("the period" if n1 == 0 else "the baseline"),
        )
        return out
    m1, m0 = ctx.mean(1), ctx.mean(0)
    out["value"] = {"period": m1, "baseline": m0, "delta": m1 - m0}
    out["units"] = {"period": n1, "baseline": n0}
    if ctx.focus_node is not None:
        out["focus_node"] = ctx.focus_node
    findings = ctx.findings()
    findings = findings[: max(0, int(top))]
    for fd in findings[:EVIDENCE_FINDINGS]:
        ctx.evidence(fd)
    for fd in findings:
        fd.pop("_mask", None)
        fd.setdefault("evidence", {})
    out["findings"] = findings
    return out


def _parse_slice(slice_: dict[str, str], catalog: Any) -> tuple[dict[str, Any], str | None]:
    order_slice: dict[str, Any] = {}
    node = None
    for k, v in slice_.items():
        if k == "node":
            if v not in catalog.nodes:
                raise RootCauseError(f"unknown node {v!r}; known: {', '.join(catalog.nodes)}")
            node = v
        elif k in R.ORDER_SLICE_COLUMNS:
            if k == "cross_border":
                low = str(v).strip().lower()
                if low not in ("true", "false", "1", "0", "yes", "no"):
                    raise RootCauseError(f"cross_border must be true or false, not {v!r}")
                order_slice[k] = low in ("true", "1", "yes")
            else:
                order_slice[k] = str(v)
        else:
            raise RootCauseError(
                f"cannot slice by {k!r}; use node or an order dimension: {', '.join(R.ORDER_SLICE_COLUMNS)}"
            )
    return order_slice, node


# --- statistics ---------------------------------------------------------------------------------


def _norm_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2.0))


class _Stats:
    """Decomposition of the slice delta for segments given as unit masks."""

    def __init__(self, y: np.ndarray, per: np.ndarray, sign: float | None = None):
        self.y, self.per = y, per
        n0, n1 = float((per == 0).sum()), float((per == 1).sum())
        self._set(
            n0,
            float(y[per == 0].sum()),
            float((y[per == 0] ** 2).sum()),
            n1,
            float(y[per == 1].sum()),
            float((y[per == 1] ** 2).sum()),
            sign,
        )

    @classmethod
    def from_sums(cls, n0, s0, ss0, n1, s1, ss1, sign: float | None = None) -> _Stats:
        self = cls.__new__(cls)
        self.y = self.per = None  # type: ignore[assignment]
        self._set(n0, s0, ss0, n1, s1, ss1, sign)
        return self

    def _set(self, n0, s0, ss0, n1, s1, ss1, sign) -> None:
        self.tot = (n0, s0, ss0, n1, s1, ss1)
        self.N0, self.N1 = max(n0, 1.0), max(n1, 1.0)
        self.M0, self.M1 = s0 / self.N0, s1 / self.N1
        self.delta = self.M1 - self.M0
        n = n0 + n1
        self.var = max((ss0 + ss1) / n - ((s0 + s1) / n) ** 2, 0.0) if n else 0.0
        # every metric here is "higher is worse": the drill-down always looks for what pushed
        # it up, also when it fell overall (then findings worsened against the trend)
        self.sign = 1.0 if sign is None else sign

    def of_sums(self, n0, s0, ss0, n1, s1, ss1) -> tuple[float, float, float, float]:
        """(contribution, surprise z, segment mean baseline, period) from sums.

        The surprise is a difference in differences: the segment's change against the change
        of the rest of the slice, in the delta's direction. A big segment that merely shares
        a uniform change is not surprising; one whose change stands out is."""
        n = n0 + n1
        w0 = n0 / self.N0
        w1 = n1 / self.N1
        m0 = s0 / n0 if n0 else self.M0
        m1 = s1 / n1 if n1 else m0
        c = w1 * (m1 - m0) + (w1 - w0) * (m0 - self.M0)
        v = (ss0 + ss1 - (s0 + s1) ** 2 / n) / (n - 1) if n > 1 else self.var
        v = (n * max(v, 0.0) + SHRINK * self.var) / (n + SHRINK)
        inv0 = 1.0 / n0 if n0 else 1.0 / self.N0  # a segment new in the period: against the slice
        se2 = w1 * w1 * v * (1.0 / max(n1, 1.0) + inv0)
        se2 += (m0 - self.M0) ** 2 * (w1 * (1 - w1) / self.N1 + w0 * (1 - w0) / self.N0)
        t = self.tot
        rn0, rs0, rss0, rn1, rs1, rss1 = (t[0] - n0, t[1] - s0, t[2] - ss0, t[3] - n1, t[4] - s1, t[5] - ss1)
        rn = rn0 + rn1
        if rn0 >= 1 and rn1 >= 1:
            rv = (rss0 + rss1 - (rs0 + rs1) ** 2 / rn) / (rn - 1) if rn > 1 else self.var
            rv = (rn * max(rv, 0.0) + SHRINK * self.var) / (rn + SHRINK)
            rest_change = rs1 / rn1 - rs0 / rn0
            rest_var = rv * (1.0 / rn1 + 1.0 / rn0)
        else:
            rest_change, rest_var = 0.0, 0.0
        did = (m1 - m0) - rest_change
        se_did = math.sqrt(v * (1.0 / max(n1, 1.0) + inv0) + rest_var) or 1e-12
        z_did = self.sign * did / se_did
        se = math.sqrt(se2) if se2 > 0 else 1e-12
        return c, min(self.sign * c / se, z_did), m0, m1

    def mask_sums(self, mask: np.ndarray) -> list[float]:
        y, per = self.y[mask], self.per[mask]
        y0, y1 = y[per == 0], y[per == 1]
        return [
            float(len(y0)),
            float(y0.sum()),
            float((y0 * y0).sum()),
            float(len(y1)),
            float(y1.sum()),
            float((y1 * y1).sum()),
        ]

    def of_mask(self, mask: np.ndarray) -> dict[str, float]:
        v = self.mask_sums(mask)
        c, z, m0, m1 = self.of_sums(*v)
        return {"c": c, "z": z, "m0": m0, "m1": m1, "n0": int(v[0]), "n1": int(v[3])}


class _Dual:
    """The metric's decomposition plus a robust twin for continuous metrics on an
    abnormality indicator: the unit is in the slice's baseline top 5 %, or abnormal by the
    catalog (a visit past its node's SLA; for cycle_time a node re-entered before handover:
    rework and cancel loops). Heavy-tailed dwell times make mean-based tests weak, while a
    cause typically pushes its units into abnormality, which is rare in a baseline."""

    def __init__(
        self,
        y: np.ndarray,
        per: np.ndarray,
        binary: bool,
        flags: np.ndarray | None = None,
        twin: np.ndarray | None = None,
    ):
        self.m = _Stats(y, per)
        self.binary = binary and twin is None
        if twin is not None:  # a binary metric with a sharper indicator of its own (flow loops)
            self.e = twin.astype(np.float64)
            self.t = _Stats(self.e, per, sign=self.m.sign)
        elif binary:
            self.t = self.m
            self.e = y
        else:
            base = y[per == 0]
            self.thr = float(np.quantile(base, 0.95)) if len(base) else 0.0
            e = y > self.thr
            if flags is not None:
                e |= flags
            self.e = e.astype(np.float64)
            self.t = _Stats(self.e, per, sign=self.m.sign)
        self.tests = 1 if self.binary else 2
        # what a contribution is a share of: the delta when the metric rose; when it did not,
        # the gross rise (sum of the positive contributions of a dimension's segments)
        self.D, self.Dt = self.m.delta, self.t.delta

    def of_mask(self, mask: np.ndarray) -> dict[str, float]:
        r = self.m.of_mask(mask)
        t = self.t.of_mask(mask)
        r["z_mean"], r["z_tail"] = r["z"], t["z"]
        r["z"] = max(r["z"], t["z"])
        r["ct"] = t["c"]
        r["share"] = c_share(r["c"], self.D)
        r["tail_share"] = None if self.binary else c_share(t["c"], self.Dt)
        return r


def _band(h: float) -> str:
    for limit, name in HUMIDITY_BANDS:
        if h < limit:
            return name
    return HUMID_TOP


# --- the drill-down ---------------------------------------------------------------------------


class _Ctx:
    def __init__(self, stores, metric, order_slice, node, w, catalog):
        self.stores, self.metric, self.slice, self.node = stores, metric, order_slice, node
        self.w, self.catalog = w, catalog
        self.focus_node: str | None = node
        self.node_findings: list[dict] = []
        self.qc: pl.DataFrame | None = None
        self.qc_all: pl.DataFrame | None = None
        self.decl: pl.DataFrame | None = None
        self.logins: pl.DataFrame | None = None
        self.ship: pl.DataFrame | None = None

    # ---- units ------------------------------------------------------------------------------
    def sql(self, text_params: tuple[str, list[Any]]) -> pl.DataFrame:
        return self.stores.series.query(*text_params)

    def sla(self) -> dict[str, int]:
        out = {}
        for n in self.catalog.nodes:
            ms = self.catalog.sla_ms(n)
            if ms is not None:
                out[n] = ms
        return out

    def unit_sql(self, order_slice: dict[str, Any], p: R.Params) -> str:
        w = self.w
        if self.metric == "cycle_time":
            return R.cycle_units(order_slice, w, p)[0]
        if self.metric == "node_dwell":
            return R.visit_units(order_slice, [self.focus_node], w, p)[0]  # type: ignore[list-item]
        if self.focus_node is not None:
            node = self.focus_node
            return R.visit_stall_units(order_slice, node, self.catalog.sla_ms(node) or 0, w, p)[0]
        return R.order_stall_units(order_slice, self.sla(), w, p)[0]

    def load_units(self) -> None:
        if self.metric == "node_dwell" and self.focus_node is None:
            self._pick_node()
        if (
            self.metric == "stall_rate"
            and self.focus_node is not None
            and self.catalog.sla_ms(self.focus_node) is None
        ):
            raise RootCauseError(f"{self.focus_node} is a resting node: it has no SLA, so no stalls")
        p = R.Params()
        sql = self.unit_sql(self.slice, p)
        f = self.stores.series.query(sql, p.values)
        self.units = (
            f.with_columns(pl.col("y").cast(pl.Float64), pl.col("per").cast(pl.Int8))
            .with_row_index("unit")
            .with_columns(pl.col("unit").cast(pl.Int64))
        )

    def _pick_node(self) -> None:
        """node_dwell without a node slice: decompose over nodes in SQL, then drill into the
        node that contributes most."""
        nodes = [n for n in self.catalog.nodes if self.catalog.sla_ms(n) is not None]
        agg = self.sql(R.node_totals(self.slice, nodes, self.w))
        if agg.is_empty():
            self.focus_node = nodes[0]
            return
        t = {(int(r["per"]), r["node"]): r for r in agg.iter_rows(named=True)}
        N = {p: sum(float(r["k"]) for (pp, _), r in t.items() if pp == p) for p in (0, 1)}
        S = {p: sum(float(r["s"]) for (pp, _), r in t.items() if pp == p) for p in (0, 1)}
        SS = {p: sum(float(r["ss"]) for (pp, _), r in t.items() if pp == p) for p in (0, 1)}
        if not N[0] or not N[1]:
            self.focus_node = max(t.values(), key=lambda r: float(r["s"]))["node"]
            return
        fake = _Stats.from_sums(N[0], S[0], SS[0], N[1], S[1], SS[1])
        best, rows = None, []
        for node in {n for _, n in t}:
            a, b = t.get((0, node)), t.get((1, node))
            sums = [float(x[k]) if x else 0.0 for x in (a, b) for k in ("k", "s", "ss")]
            c, z, m0, m1 = fake.of_sums(*sums)
            share = c / fake.delta if fake.delta else 0.0
            rows.append((share, z, node, m0, m1, sums[0], sums[3]))
            if best is None or (share, z) > best[:2]:
                best = (share, z, node)
        self.focus_node = best[2] if best else nodes[0]
        m = len(rows)
        for share, z, node, m0, m1, n0, n1 in rows:
            p_adj = min(1.0, _norm_sf(z) * m)
            self.node_findings.append(
                {
                    "dimension": "node",
                    "value": node,
                    "kind": "mechanism",
                    "share": share,
                    "z": z,
                    "p_adj": p_adj,
                    "m0": m0,
                    "m1": m1,
                    "n0": int(n0),
                    "n1": int(n1),
                    "segment": {"node": node},
                }
            )

    def mean(self, per: int) -> float | None:
        f = self.units
        ys = f.filter(pl.col("per") == per)["y"]
        return float(ys.mean()) if len(ys) else None  # type: ignore[arg-type]

    # ---- membership ------------------------------------------------------------------------
    def window(self) -> tuple[datetime, datetime]:
        w = self.w
        return min(w["b0"], w["p0"]) - LOOKBACK, max(w["b1"], w["p1"])

    def membership(self) -> pl.DataFrame:
        f = self.units
        parts = []
        for d in R.ORDER_DIMENSIONS:
            if d in self.slice:
                continue
            parts.append(f.select("unit", pl.lit(d).alias("dim"), pl.col(d).cast(pl.String).alias("value")))
        if "stalled_nodes" in f.columns:
            parts.append(
                f.select("unit", pl.col("stalled_nodes").str.split(",").alias("value"))
                .explode("value")
                .drop_nulls("value")
                .select("unit", pl.lit("node").alias("dim"), "value")
            )
            parts.append(
                f.filter(pl.col("looped") == 1).select(
                    "unit", pl.lit("flow").alias("dim"), pl.lit("cancel -> reinstate loop").alias("value")
                )
            )
        orders = f.select("unit", "order_id")
        t0, t1 = self.window()
        slice_push = dict(self.slice.items())
        # QC reports -> equipment, inspector, zone, result, calibration status, humidity band
        qc = self.stores.graph.query(*R.graph_qc(slice_push, t0, t1))
        if not qc.is_empty():
            self.qc_all = qc.with_columns(pl.col("inspected_at").cast(pl.Datetime("us", "UTC")))
            qc = qc.join(orders.select("order_id").unique(), on="order_id", how="semi")
            qc = self._qc_conditions(qc)
            self.qc = qc
            uq = orders.join(qc, on="order_id")
            for d in ("equipment_id", "inspector_id", "zone_id", "calibration", "humidity_band"):
                parts.append(
                    uq.select("unit", pl.lit(d).alias("dim"), pl.col(d).cast(pl.String).alias("value"))
                )
            worst = (
                qc.group_by("order_id", maintain_order=True)
                .agg(
                    pl.col("result")
                    .replace_strict({"pass": 0, "fail": 1, "rework": 2}, default=0)
                    .max()
                    .alias("r")
                )
                .with_columns(pl.col("r").replace_strict({0: "pass", 1: "fail", 2: "rework"}).alias("value"))
            )
            parts.append(
                orders.join(worst, on="order_id").select("unit", pl.lit("qc_result").alias("dim"), "value")
            )
        ship = self.stores.graph.query(*R.graph_shipments(slice_push, t0, t1))
        if not ship.is_empty():
            self.ship = ship
            parts.append(
                orders.join(ship, on="order_id").select(
                    "unit", pl.lit("carrier_id").alias("dim"), pl.col("carrier_id").alias("value")
                )
            )
        decl = self.stores.graph.query(*R.graph_declarations(slice_push, t0, t1))
        if not decl.is_empty():
            decl = decl.join(orders.select("order_id").unique(), on="order_id", how="semi")
            decl = self._login_band(decl)
            self.decl = decl
            ud = orders.join(decl, on="order_id")
            parts.append(
                ud.select("unit", pl.lit("broker_id").alias("dim"), pl.col("broker_id").alias("value"))
            )
            parts.append(
                ud.select(
                    "unit",
                    pl.lit("broker_login_rate").alias("dim"),
                    pl.col("broker_login_rate").alias("value"),
                )
            )
        mem = pl.concat([p.with_columns(pl.col("unit").cast(pl.Int64)) for p in parts]) if parts else None
        if mem is None:
            return pl.DataFrame(schema={"unit": pl.Int64, "dim": pl.String, "value": pl.String})
        return mem.drop_nulls("value").unique()

    def _qc_conditions(self, qc: pl.DataFrame) -> pl.DataFrame:
        labels = {"none": "no calibration record", "overdue": "overdue", "ok": "in date"}
        qc = (
            calibration_at_inspection(qc, self.stores.graph.query(R.CALIBRATIONS))
            .with_columns(pl.col("calibration_status").replace_strict(labels).alias("calibration"))
            .drop("calibration_status")
        )
        if "calibration_id" not in qc.columns:  # no calibrations stored at all
            qc = qc.with_columns(pl.lit(None, pl.String).alias("calibration_id"))
        t0, t1 = self.window()
        clim = self.stores.series.query(R.CLIMATE_HOURLY, [t0, t1])
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

    def _login_band(self, decl: pl.DataFrame) -> pl.DataFrame:
        t0, t1 = self.window()
        logins = self.stores.series.query(R.BROKER_LOGINS, [t0 - timedelta(hours=1), t1 + timedelta(hours=1)])
        self.logins = logins
        decl = decl.with_columns(pl.col("declared_at").cast(pl.Datetime("us", "UTC")))
        if logins.is_empty():
            return decl.with_columns(pl.lit("normal").alias("broker_login_rate"))
        counts = np.zeros(len(decl), np.int64)
        la = logins.with_columns(pl.col("login_at").cast(pl.Datetime("us", "UTC")))
        by = {
            b: np.sort(g["login_at"].dt.epoch("ms").to_numpy())
            for (b,), g in la.group_by("actor_id", maintain_order=True)
        }
        ts = decl["declared_at"].dt.epoch("ms").to_numpy()
        brokers = decl["broker_id"].to_numpy()
        hour = 3_600_000
        for b, arr in by.items():
            sel = brokers == b
            t = ts[sel]
            counts[sel] = np.searchsorted(arr, t + hour, "right") - np.searchsorted(arr, t - hour, "left")
        band = np.where(counts >= SPIKE_LOGINS, "spike", np.where(counts >= 2, "elevated", "normal"))
        return decl.with_columns(pl.Series("broker_login_rate", band), pl.Series("logins_near", counts))

    # ---- findings ---------------------------------------------------------------------------
    def findings(self) -> list[dict]:
        f = self.units
        y = f["y"].to_numpy().astype(np.float64)
        per = f["per"].to_numpy()
        flags = None
        if "reentered" in f.columns:
            flags = f["reentered"].to_numpy() == 1
        elif self.metric == "node_dwell" and self.catalog.sla_ms(self.focus_node) is not None:
            flags = y * 3_600_000.0 > self.catalog.sla_ms(self.focus_node)
        twin = f["looped"].to_numpy() == 1 if "looped" in f.columns and (f["looped"] == 1).any() else None
        dual = _Dual(y, per, binary=self.metric == "stall_rate", flags=flags, twin=twin)
        st = dual.m
        self.st, self.dual = st, dual
        mem = self.membership()
        self.mem = mem
        j = mem.join(f.select("unit", "per", "y").with_columns(pl.Series("e", dual.e)), on="unit")
        g = j.group_by("dim", "value", "per", maintain_order=True).agg(
            pl.len().alias("n"),
            pl.col("y").sum().alias("s"),
            (pl.col("y") ** 2).sum().alias("ss"),
            pl.col("e").sum().alias("se"),
        )
        segs: dict[tuple[str, str], list[float]] = {}
        for r in g.iter_rows(named=True):
            v = segs.setdefault((r["dim"], r["value"]), [0.0] * 8)
            o = 3 * int(r["per"])
            v[o], v[o + 1], v[o + 2] = float(r["n"]), float(r["s"]), float(r["ss"])
            v[6 + int(r["per"])] = float(r["se"])
        rows = []
        for (d, val), v in segs.items():
            if v[0] + v[3] < MIN_UNITS or v[3] == 0 or val in NORMAL_VALUES.get(d, ()):
                continue
            if min(v[0] / st.N0, v[3] / st.N1) > POPULATION:
                continue  # (nearly) the whole slice: not a segment that can explain a change
            c, zm, m0, m1 = st.of_sums(*v[:6])
            ct, zt, _, _ = dual.t.of_sums(v[0], v[6], v[6], v[3], v[7], v[7])
            rows.append(
                {
                    "dimension": d,
                    "value": val,
                    "c": c,
                    "z": max(zm, zt),
                    "z_mean": zm,
                    "z_tail": zt,
                    "ct": ct,
                    "m0": m0,
                    "m1": m1,
                    "n0": int(v[0]),
                    "n1": int(v[3]),
                }
            )
        if twin is not None and any(
            r["dimension"] == "flow" and c_share(r["ct"], dual.t.delta) >= SAME_STORY and r["z_tail"] >= 3
            for r in rows
        ):
            # flow loops explain the change: a segment explains it only as far as it
            # concentrates the loops (stall rates near their ceiling would mislead otherwise)
            for r in rows:
                r["z"] = r["z_tail"]
        self.rows_by_key = {(r["dimension"], r["value"]): r for r in rows}
        stages = self._stage_rows(st) if self.metric == "cycle_time" else []
        m_tests = max(1, (len(rows) + len(self.node_findings)) * dual.tests + len(stages))
        self.m_tests = m_tests
        gross: dict[str, list[float]] = {}
        for r in rows:
            g2 = gross.setdefault(r["dimension"], [0.0, 0.0])
            g2[0] += max(r["c"], 0.0)
            g2[1] += max(r["ct"], 0.0)
        floor = [
            max((g[0] for g in gross.values()), default=0.0),
            max((g[1] for g in gross.values()), default=0.0),
        ]
        if st.delta <= 0:
            dual.D = min((g[0] for g in gross.values() if g[0] > 0), default=floor[0]) or 1e-12
        if dual.t.delta <= 0:
            dual.Dt = min((g[1] for g in gross.values() if g[1] > 0), default=floor[1]) or 1e-12
        for r in rows:
            g2 = gross[r["dimension"]]
            r["share"] = c_share(r["c"], st.delta if st.delta > 0 else g2[0])
            r["tail_share"] = c_share(r["ct"], dual.t.delta if dual.t.delta > 0 else g2[1])
            r["p_adj"] = min(1.0, _norm_sf(r["z"]) * m_tests)
            r["kind"] = _kind(r["dimension"])
            r["score"] = _score(r)
        # candidates for merging: segments that explain a real part of the delta
        cand = sorted(
            (r for r in rows if _power(r) >= 0.15 and r["z"] >= 2.0), key=lambda r: (-r["score"], *_tie(r))
        )[:16]
        masks = {}
        unit_count = len(f)
        for r in cand:
            ids = mem.filter((pl.col("dim") == r["dimension"]) & (pl.col("value") == r["value"]))[
                "unit"
            ].to_numpy()
            m = np.zeros(unit_count, bool)
            m[ids] = True
            masks[(r["dimension"], r["value"])] = m
        groups = _merge(cand, masks, dual)
        self.hosted: set[tuple[str, str]] = set()
        out = [self._finding(grp, masks, dual, m_tests) for grp in groups]
        used = {(r["dimension"], r["value"]) for grp in groups for r in grp} | self.hosted
        singles = [r for r in rows if (r["dimension"], r["value"]) not in used and _power(r) > 0]
        singles.sort(key=lambda r: (-r["score"], -r["z"], *_tie(r)))
        for r in singles[: self.limit]:  # only what can be shown is shaped
            out.append(self._single(r))
        for r in stages + self.node_findings:
            out.append(self._single(r))
        sf = self._slice_finding(m_tests)
        if sf is not None:
            out = self._place_slice_finding(sf, out)
        out.sort(key=lambda fd: (-fd["score"], -fd["surprise"], str(fd["dimension"]), str(fd["value"])))
        return out

    def _stage_rows(self, st: _Stats) -> list[dict]:
        agg = self.sql(R.cycle_stages(self.slice, self.w))
        t: dict[str, list[float]] = {}
        for r in agg.iter_rows(named=True):
            v = t.setdefault(r["node"], [0.0] * 4)
            o = 2 * int(r["per"])
            v[o], v[o + 1] = float(r["s"] or 0), float(r["ss"] or 0)
        rows = []
        for node, (s0, ss0, s1, ss1) in t.items():
            a0, a1 = s0 / st.N0, s1 / st.N1
            v0 = max(ss0 / st.N0 - a0 * a0, 0.0)
            v1 = max(ss1 / st.N1 - a1 * a1, 0.0)
            c = a1 - a0
            se = math.sqrt(v0 / st.N0 + v1 / st.N1) or 1e-12
            rows.append(
                {
                    "dimension": "node",
                    "value": node,
                    "c": c,
                    "z": st.sign * c / se,
                    "m0": a0,
                    "m1": a1,
                    "n0": int(st.N0),
                    "n1": int(st.N1),
                    "kind": "mechanism",
                    "stage": True,
                    "slice_weight": STAGE_WEIGHT,
                }
            )
        m = max(1, len(rows))
        for r in rows:
            r["share"] = c_share(r["c"], st.delta if st.delta > 0 else sum(max(x["c"], 0.0) for x in rows))
            r["p_adj"] = min(1.0, _norm_sf(r["z"]) * m * 4)
        return [r for r in rows if r["share"] > 0]

    def _single(self, r: dict) -> dict:
        r = dict(r)
        r.setdefault("kind", _kind(r["dimension"]))
        r.setdefault("segment", {r["dimension"]: r["value"]})
        r["score"] = _score(r)
        return self._shape(r["dimension"], r["value"], r["segment"], {}, [], r)

    def _finding(self, grp: list[dict], masks: dict, dual: _Dual, m_tests: int) -> dict:
        """One finding for a group of segments telling the same story: the narrowest
        intersection of its entity segments that keeps >= 80 % of the strongest one's
        explanatory power, named by the fewest segments that pin it down; the group's other
        entities are context (they contain it) or related; its conditions are attached."""
        mk = lambda r: masks[(r["dimension"], r["value"])]  # noqa: E731
        ents = [r for r in grp if r["kind"] == "entity"]
        conds = [r for r in grp if r["kind"] != "entity"]
        lead = min(grp, key=lambda r: (-r["score"], -r["z"], *_tie(r)))
        cur = mk(lead).copy()
        goal = NARROW * _power(dual.of_mask(cur))
        related = []
        included = [lead]
        for r in sorted(ents, key=lambda r: (-_power(r), -r["z"], *_tie(r))):
            if r is lead:
                continue
            if _keeps(dual, cur, cur & mk(r)):
                cur = cur & mk(r)
                included.append(r)
            else:
                related.append(r)
        if lead["kind"] != "entity" and len(included) == 1:
            host = self._host(cur, goal, dual, {(r["dimension"], r["value"]) for r in grp})
            if host is not None:
                r, m = host
                cur = cur & m
                masks[(r["dimension"], r["value"])] = m
                self.hosted.add((r["dimension"], r["value"]))
                included.append(r)
        if lead["kind"] != "entity" and len(included) > 1:
            included.remove(lead)  # an entity pins the story down; the condition explains it
        else:
            conds = [r for r in conds if r is not lead]
        ents = [r for r in included if r["kind"] == "entity"]
        # name it: the fewest included segments whose intersection is (about) the finding
        included.sort(key=lambda r: (mk(r).sum(), *_tie(r)))
        core, inter = [], None
        size = max(int(cur.sum()), 1)
        for r in included:
            nxt = mk(r) if inter is None else inter & mk(r)
            if inter is None or nxt.sum() < inter.sum():
                core.append(r)
                inter = nxt
            if inter.sum() <= 1.05 * size:
                break
        context = [r for r in included if r not in core]
        s = dual.of_mask(cur)
        dim = "+".join(r["dimension"] for r in core)
        val = "+".join(r["value"] for r in core)
        segment = {r["dimension"]: r["value"] for r in core}
        ctx = {r["dimension"]: r["value"] for r in context}
        stat = {
            "c": s["c"],
            "z": s["z"],
            "m0": s["m0"],
            "m1": s["m1"],
            "n0": s["n0"],
            "n1": s["n1"],
            "share": s["share"],
            "tail_share": s["tail_share"],
            "kind": core[0]["kind"] if len(core) == 1 else "entity",
        }
        stat["p_adj"] = min(1.0, _norm_sf(stat["z"]) * m_tests)
        stat["score"] = _score(stat)
        stat["_mask"] = cur
        cond_list = [
            {
                "dimension": r["dimension"],
                "value": r["value"],
                "contribution": round(r["share"], 3),
                "surprise": round(r["z"], 2),
            }
            for r in sorted(conds, key=lambda r: (-r["score"], *_tie(r)))
        ]
        fd = self._shape(dim, val, segment, ctx, cond_list, stat)
        if related:
            fd["related"] = [
                {
                    "dimension": r["dimension"],
                    "value": r["value"],
                    "contribution": round(r["share"], 3),
                    "surprise": round(r["z"], 2),
                }
                for r in related
            ]
        return fd

    def _host(self, cur: np.ndarray, goal: float, dual: _Dual, skip: set) -> tuple[dict, np.ndarray] | None:
        """The narrowest entity segment holding a condition's story (>= 80 % of its period
        units and of its explanatory power): the broker of a login spike, the zone of a
        humidity excursion."""
        per = self.units["per"].to_numpy()
        units = np.flatnonzero(cur & (per == 1))
        if len(units) == 0:
            return None
        cov = (
            self.mem.filter(pl.col("unit").is_in(units) & pl.col("dim").is_in(list(ENTITY)))
            .group_by("dim", "value", maintain_order=True)
            .agg(pl.len().alias("k"))
            .filter(pl.col("k") >= 0.8 * len(units))
        )
        best = None
        for d, v, _ in cov.iter_rows():
            row = self.rows_by_key.get((d, v))
            if row is None or (d, v) in skip or row["n1"] > HOST_MAX * self.st.N1:
                continue  # a host holding most of the slice pins nothing down
            size = row["n0"] + row["n1"]
            if best is None or size < best[0]:
                best = (size, row)
        if best is None:
            return None
        row = best[1]
        ids = self.mem.filter((pl.col("dim") == row["dimension"]) & (pl.col("value") == row["value"]))[
            "unit"
        ].to_numpy()
        m = np.zeros(len(self.units), bool)
        m[ids] = True
        if _power(dual.of_mask(cur & m)) < goal:
            return None
        return row, m

    def _shape(self, dim, val, segment, context, conditions, r) -> dict:
        conf = _confidence(r)
        ctx = dict(context)
        ctx.update(self._derived_context(segment, ctx))
        fd = {
            "dimension": dim,
            "value": val,
            "segment": {**segment, **ctx},
            "contribution": round(r["share"], 4),
            "surprise": round(r["z"], 3),
            "score": round(r["score"], 4),
            "confidence": _level(conf),
            "confidence_value": round(conf, 3),
            "kind": r["kind"],
            "stats": {
                "baseline_mean": _r(r["m0"]),
                "period_mean": _r(r["m1"]),
                "baseline_units": int(r["n0"]),
                "period_units": int(r["n1"]),
                "p_adjusted": float(f"{r['p_adj']:.3g}"),
            },
        }
        if ctx:
            fd["context"] = ctx
        if conditions:
            fd["conditions"] = conditions
        if r.get("stage"):
            fd["stats"]["note"] = "mean hours per order spent in the node before handover"
        if "_mask" in r:
            fd["_mask"] = r["_mask"]
        elif hasattr(self, "mem") and not r.get("stage") and dim in LABEL:
            ids = self.mem.filter((pl.col("dim") == dim) & (pl.col("value") == val))["unit"].to_numpy()
            m = np.zeros(len(self.units), bool)
            m[ids] = True
            fd["_mask"] = m
        fd["explanation"] = self._sentence(fd)
        return fd

    def _derived_context(self, segment: dict, ctx: dict) -> dict:
        """Where an equipment / inspector / zone sits (from its QC reports), so a finding names
        the warehouse and zone along with the device."""
        out: dict[str, str] = {}
        if self.qc is None:
            return out
        for key in ("equipment_id", "inspector_id", "zone_id"):
            v = segment.get(key)
            if v is None:
                continue
            rows = self.qc.filter(pl.col(key) == v)
            for col, name in (("zone_id", "zone_id"), ("qc_warehouse_id", "warehouse_id")):
                if name in segment or name in ctx or name in out or rows.is_empty():
                    continue
                out[name] = rows[col].mode().sort()[0]
        if (
            self.qc_all is not None
            and "equipment_id" not in segment
            and "equipment_id" not in ctx
            and ({"zone_id", "warehouse_id"} & (set(segment) | set(out)))
        ):
            # follow the QC reports: does one device hold the failed inspections of this place?
            rep = self.qc_all.filter(
                (pl.col("result") != "pass")
                & (pl.col("inspected_at") >= self.w["p0"])
                & (pl.col("inspected_at") < self.w["p1"])
            )
            zone = segment.get("zone_id") or out.get("zone_id")
            if zone:
                rep = rep.filter(pl.col("zone_id") == zone)
            else:
                rep = rep.filter(
                    pl.col("qc_warehouse_id") == (segment.get("warehouse_id") or out.get("warehouse_id"))
                )
            if len(rep) >= 5:
                top = (
                    rep.group_by("equipment_id", maintain_order=True)
                    .len()
                    .sort(["len", "equipment_id"], descending=[True, False])
                )
                eq, k = top.row(0)
                if k >= 0.7 * len(rep):
                    out["equipment_id"] = eq
                    if not zone:
                        z = rep.filter(pl.col("equipment_id") == eq)["zone_id"].mode().sort()[0]
                        out["zone_id"] = z
        if self.focus_node is not None and self.node is None and "node" not in segment:
            out["node"] = self.focus_node
        return out

    # ---- the slice against its parent population -----------------------------------------------
    def _slice_finding(self, m_tests: int) -> dict | None:
        keys = list(self.slice)
        if not keys:
            return None
        p = R.Params()
        vals = ["true" if v is True else "false" if v is False else v for v in self.slice.values()]
        twin = (
            "looped"
            if "looped" in self.units.columns
            else "reentered"
            if "reentered" in self.units.columns
            else None
        )
        sql = R.slice_contrast(self.unit_sql({}, p), p, keys, vals, twin)
        agg = self.stores.series.query(sql, p.values)
        if agg.is_empty():
            return None
        a = agg.to_dicts()
        tot = {
            pp: [sum(float(r[k]) for r in a if int(r["per"]) == pp) for k in ("n", "s", "ss")]
            for pp in (0, 1)
        }
        if not tot[0][0] or not tot[1][0]:
            return None
        parent = _Stats.from_sums(*tot[0], *tot[1], sign=self.st.sign)

        def sums(pred) -> list[float]:
            out = []
            for pp in (0, 1):
                out += [
                    sum(float(r[k]) for r in a if int(r["per"]) == pp and pred(r)) for k in ("n", "s", "ss")
                ]
            return out

        full = sums(lambda r: all(int(r[f"f{i}"]) == 1 for i in range(len(keys))))
        if full[3] == 0:
            return None
        c, z, m0, m1 = parent.of_sums(*full)
        if twin is not None:  # the same contrast on the twin indicator (0/1: ss = s)
            tw = {pp: sum(float(r["se"] or 0) for r in a if int(r["per"]) == pp) for pp in (0, 1)}
            pt = _Stats.from_sums(tot[0][0], tw[0], tw[0], tot[1][0], tw[1], tw[1], sign=self.st.sign)
            fs = [
                sum(
                    float(r["se"] or 0)
                    for r in a
                    if int(r["per"]) == pp and all(int(r[f"f{i}"]) == 1 for i in range(len(keys)))
                )
                for pp in (0, 1)
            ]
            _, zt, _, _ = pt.of_sums(full[0], fs[0], fs[0], full[3], fs[1], fs[1])
            z = max(z, zt)
        # within the parent, does the slice explain each single key's change (an interaction)?
        specific = len(keys) > 1
        for i in range(len(keys)):
            ck, _, _, _ = parent.of_sums(*sums(lambda r, i=i: int(r[f"f{i}"]) == 1))
            if not (ck * parent.sign > 0 and c * parent.sign >= SAME_STORY * ck * parent.sign):
                specific = False
        # the rest of the parent population: did it change the same way?
        rest = [tot[0][0] - full[0], tot[0][1] - full[1], tot[1][0] - full[3], tot[1][1] - full[4]]
        rest_delta = (rest[3] / rest[2] - rest[1] / rest[0]) if rest[0] and rest[2] else 0.0
        own_delta = self.st.delta
        share = 1.0 - max(0.0, rest_delta) / own_delta if own_delta > 0 else 0.0
        share = max(0.0, min(1.0, share))
        r = {
            "dimension": "+".join(keys),
            "value": "+".join(str(v) for v in vals),
            "c": c,
            "z": z,
            "m0": m0,
            "m1": m1,
            "n0": int(full[0]),
            "n1": int(full[3]),
            "share": share,
            "kind": "entity",
            "p_adj": min(1.0, _norm_sf(z) * SLICE_TESTS * (2 if twin else 1)),
            "segment": {k: str(v) for k, v in zip(keys, vals, strict=False)},
            "slice_weight": 1.0 if specific else 0.5,
            "rest_delta": rest_delta,
        }
        r["score"] = _score(r)
        fd = self._shape(r["dimension"], r["value"], r["segment"], {}, [], r)
        fd["kind"] = "slice"
        fd["stats"]["rest_of_population_delta"] = _r(rest_delta)
        fd["stats"]["interaction"] = specific
        fd["_mask"] = np.ones(len(self.units), bool)
        fd["explanation"] = self._slice_sentence(fd, specific, rest_delta)
        return fd

    def _place_slice_finding(self, sf: dict, out: list[dict]) -> list[dict]:
        """An entity finding inside the slice that explains most of its change is the more
        specific story: then the slice finding only ranks by its own score. Otherwise the
        conditions and mechanisms that explain most of the change are attached to it."""
        strong = any(fd["kind"] == "entity" and fd["confidence_value"] >= MEDIUM for fd in out)
        if strong:
            return [*out, sf]
        conds, rest, masks = [], [], []
        for fd in out:
            if (
                fd["kind"] in ("condition", "mechanism")
                and fd["contribution"] >= SAME_STORY
                and "note" not in fd["stats"]
            ):
                conds.append(
                    {
                        "dimension": fd["dimension"],
                        "value": fd["value"],
                        "contribution": fd["contribution"],
                        "surprise": fd["surprise"],
                    }
                )
                if "_mask" in fd:
                    masks.append(fd["_mask"])
            else:
                rest.append(fd)
        if conds:
            sf["conditions"] = conds
        if masks:
            sf["_mask"] = np.logical_or.reduce(masks)
        sf["explanation"] = self._slice_sentence(
            sf, sf["stats"]["interaction"], sf["stats"]["rest_of_population_delta"]
        )
        return [sf, *rest]

    # ---- words --------------------------------------------------------------------------------
    def _metric_words(self) -> str:
        if self.metric == "cycle_time":
            return "average fulfilment cycle time (created to handed over)"
        if self.metric == "node_dwell":
            return f"average dwell in {self.focus_node}"
        return "stall rate" + (f" at {self.focus_node}" if self.focus_node else "")

    def _fmt(self, x: float | None) -> str:
        if x is None:
            return "n/a"
        return f"{100 * x:.1f} %" if self.metric == "stall_rate" else f"{x:.2f} h"

    def _delta_words(self) -> str:
        d = self.st.delta
        if self.metric == "stall_rate":
            return f"{'rise' if d >= 0 else 'fall'} of {abs(100 * d):.1f} points"
        return f"{'rise' if d >= 0 else 'fall'} of {abs(d):.2f} h"

    def _sentence(self, fd: dict) -> str:
        seg = _describe(fd["segment"])
        st = fd["stats"]
        share = fd["contribution"]
        what = self._metric_words()
        if self.st.delta > 0:
            s = (
                f"{seg} accounts for {100 * max(share, 0):.0f} % of the {self._delta_words()} in {what}: "
                f"{self._fmt(st['period_mean'])} against {self._fmt(st['baseline_mean'])} in the baseline"
            )
        else:
            s = (
                f"{seg} worsened against the trend ({self._delta_words()} in {what} overall): "
                f"{self._fmt(st['period_mean'])} against {self._fmt(st['baseline_mean'])} in the baseline, "
                f"{100 * max(share, 0):.0f} % of all the increases seen"
            )
        if st.get("note"):
            s = (
                f"Time spent in {fd['value']} accounts for {100 * max(share, 0):.0f} % of the "
                f"{self._delta_words()} in {what} ({st['period_mean']:.2f} h per order against "
                f"{st['baseline_mean']:.2f} h)"
            )
        conds = fd.get("conditions") or []
        if conds:
            s += "; " + ", ".join(
                f"{LABEL.get(c['dimension'], c['dimension'])} {c['value']}" for c in conds[:3]
            )
        return s + f" ({fd['confidence']} confidence)."

    def _slice_sentence(self, fd: dict, specific: bool, rest_delta: float) -> str:
        seg = _describe(fd["segment"])
        st = fd["stats"]
        s = (
            f"The change is specific to {seg}: {self._metric_words()} went from "
            f"{self._fmt(st['baseline_mean'])} to {self._fmt(st['period_mean'])} while the rest moved by "
            f"{self._fmt(rest_delta)}"
        )
        if specific:
            s += ", and neither part of the combination alone explains it"
        conds = fd.get("conditions") or []
        if conds:
            s += "; driven by " + ", ".join(
                f"{LABEL.get(c['dimension'], c['dimension'])} {c['value']}" for c in conds[:3]
            )
        return s + f" ({fd['confidence']} confidence)."

    # ---- evidence -----------------------------------------------------------------------------
    def evidence(self, fd: dict) -> None:
        mask = fd.get("_mask")
        if mask is None:
            fd["evidence"] = {}
            return
        f = self.units
        per = f["per"].to_numpy()
        y = f["y"].to_numpy()
        seg = fd["segment"]
        inside = mask & (per == 1)
        if self.metric == "stall_rate":
            hit = inside & (y >= 1)
        else:
            base = y[mask & (per == 0)]
            if len(base) < 10:
                base = y[per == 0]
            thr = float(np.quantile(base, 0.9)) if len(base) else 0.0
            hit = inside & (y > thr)
        orders_all = f.filter(pl.Series(inside))["order_id"].unique().to_list()
        affected = f.filter(pl.Series(hit))["order_id"].unique().sort().to_list()
        ev: dict[str, list[str]] = {}
        detail: dict[str, Any] = {}
        w = self.w
        if affected:
            ev["orders"] = affected[:MAX_IDS]
        qc_dims = {
            "equipment_id",
            "inspector_id",
            "zone_id",
            "warehouse_id",
            "qc_result",
            "calibration",
            "humidity_band",
        }
        conds = {c["dimension"] for c in fd.get("conditions") or []}
        if self.qc is not None and (qc_dims & (set(seg) | conds)):
            # the device / inspector / zone named: all its failed inspections in the period;
            # otherwise those of the finding's orders
            device = {"equipment_id", "inspector_id", "zone_id"} & set(seg)
            src = self.qc_all if device else self.qc.filter(pl.col("order_id").is_in(orders_all))
            rep = src.filter(
                (pl.col("result") != "pass")
                & (pl.col("inspected_at") >= w["p0"])
                & (pl.col("inspected_at") < w["p1"])
            )
            for key in ("equipment_id", "inspector_id", "zone_id"):
                if key in seg:
                    rep = rep.filter(pl.col(key) == seg[key])
            if "warehouse_id" in seg:
                rep = rep.filter(pl.col("qc_warehouse_id") == seg["warehouse_id"])
            if not rep.is_empty():
                ev["qc_reports"] = rep.sort("inspected_at")["report_no"].to_list()[:MAX_IDS]
                ev["warehouse_tasks"] = self._repicks(rep)
                eqs = (
                    [seg["equipment_id"]]
                    if "equipment_id" in seg
                    else rep["equipment_id"].mode().to_list()[:1]
                )
                cals = []
                for eq in eqs:
                    cals += self._overdue_calibrations(eq, rep.filter(pl.col("equipment_id") == eq))
                if cals:
                    ev["equipment_calibrations"] = cals
                zone = seg.get("zone_id") or rep["zone_id"].mode().sort()[0]
                sens = self.stores.series.query(R.CLIMATE_SENSORS, [zone, w["p0"], w["p1"]])
                if not sens.is_empty():
                    ev["climate_readings"] = sens["sensor_id"].to_list()
                    detail["climate_readings"] = {
                        "zone_id": zone,
                        "from": w["p0"],
                        "to": w["p1"],
                        "readings": int(sens["readings"].sum()),
                        "avg_humidity_pct": _r(sens["humidity"].mean()),
                        "max_humidity_pct": _r(sens["humidity_max"].max()),
                    }
        if self.decl is not None and ("broker_id" in seg or "broker_login_rate" in conds):
            d = self.decl.filter(
                pl.col("order_id").is_in(affected)
                & (pl.col("declared_at") >= w["p0"] - LOOKBACK)
                & (pl.col("declared_at") < w["p1"])
            )
            if "broker_id" in seg:
                d = d.filter(pl.col("broker_id") == seg["broker_id"])
            if not d.is_empty():
                ev["customs_declarations"] = d.sort("declared_at")["declaration_no"].to_list()[:MAX_IDS]
            brokers = [seg["broker_id"]] if "broker_id" in seg else d["broker_id"].unique().to_list()
            if self.logins is not None and brokers:
                lg = self.logins.filter(
                    pl.col("actor_id").is_in(brokers)
                    & (pl.col("near") >= SPIKE_LOGINS)
                    & (pl.col("login_at") >= w["p0"])
                    & (pl.col("login_at") < w["p1"])
                ).sort("login_at")
                if not lg.is_empty():
                    ev["operator_sessions"] = lg["session_id"].to_list()[:MAX_IDS]
                    detail["operator_sessions"] = {
                        "actor_ids": brokers,
                        "from": lg["login_at"].min(),
                        "to": lg["login_at"].max(),
                        "spike_logins": len(lg),
                    }
        looped = "looped" in f.columns and (
            "flow" in seg or "flow" in conds or fd.get("kind") == "slice" or self.metric == "stall_rate"
        )
        if looped:
            lo = f.filter(pl.Series(inside) & (pl.col("looped") == 1))["order_id"].unique().to_list()
            if lo:
                apr = self.stores.graph.query(
                    R.APPROVALS_OF, {"ids": lo, "t0": w["p0"] - LOOKBACK, "t1": w["p1"]}
                )
                if not apr.is_empty():
                    ev["approvals"] = apr.sort("approval_id")["approval_id"].to_list()[:MAX_IDS]
        if self.ship is not None and "carrier_id" in seg:
            s = self.ship.filter(
                pl.col("order_id").is_in(affected) & (pl.col("carrier_id") == seg["carrier_id"])
            )
            if not s.is_empty():
                ev["shipments"] = s.sort("waybill")["waybill"].to_list()[:MAX_IDS]
        fd["evidence"] = ev
        fd["evidence_counts"] = {k: len(v) for k, v in ev.items()}
        if detail:
            fd["evidence_detail"] = detail

    def _repicks(self, rep: pl.DataFrame) -> list[str]:
        ids = rep["order_id"].unique().to_list()
        tasks = self.stores.graph.query(R.REPICK_TASKS, {"ids": ids})
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
            tolerance=timedelta(minutes=5),
            check_sortedness=False,
        )
        return m["task_id"].drop_nulls().unique().sort().to_list()

    def _overdue_calibrations(self, eq: str, rep: pl.DataFrame) -> list[str]:
        cal = self.stores.graph.query(R.CALIBRATIONS_OF, {"eq": eq})
        if cal.is_empty() or rep.is_empty():
            return []
        m = calibration_at_inspection(
            rep.select("inspected_at").with_columns(pl.lit(eq).alias("equipment_id")),
            cal.with_columns(pl.lit(eq).alias("equipment_id")),
        )
        od = m.filter(pl.col("calibration_status") == "overdue")
        return od["calibration_id"].drop_nulls().unique().sort().to_list()


# --- helpers ----------------------------------------------------------------------------------


def c_share(c: float, delta: float) -> float:
    return c / delta if delta else 0.0


def _kind(dim: str) -> str:
    if dim in CONDITION:
        return "condition"
    if dim in MECHANISM:
        return "mechanism"
    return "entity"


# Ties are broken by specificity (a device before its zone before its warehouse), then by name:
# the same question always gets the same answer, whatever order the store returned rows in.
_SPECIFICITY = {
    "equipment_id": 0,
    "inspector_id": 0,
    "operator_id": 0,
    "zone_id": 1,
    "warehouse_id": 2,
    "region": 3,
}


def _tie(r: dict) -> tuple[int, str, str]:
    return (_SPECIFICITY.get(r["dimension"], 1), str(r["dimension"]), str(r["value"]))


def _power(r: dict) -> float:
    """Explanatory power: the share of the delta explained, averaged with the share of the
    tail's rise explained when the metric is continuous (a robust twin)."""
    share = max(0.0, min(1.0, r["share"]))
    if "tail_share" in r and r["tail_share"] is not None:
        share = 0.5 * (share + max(0.0, min(1.0, r["tail_share"])))
    return share


def _score(r: dict) -> float:
    share = _power(r)
    w = KIND_WEIGHT.get(r.get("kind", "entity"), 1.0) * r.get("slice_weight", 1.0)
    return share * (0.25 + 0.75 * (1.0 - r["p_adj"])) * w


def _confidence(r: dict) -> float:
    share = _power(r)
    return (1.0 - r["p_adj"]) * min(1.0, share / 0.5)


def _level(conf: float) -> str:
    return "high" if conf >= HIGH else "medium" if conf >= MEDIUM else "low"


def _r(x: Any) -> float | None:
    return None if x is None else round(float(x), 4)


def _describe(segment: dict) -> str:
    order = (
        "equipment_id",
        "inspector_id",
        "zone_id",
        "warehouse_id",
        "broker_id",
        "carrier_id",
        "channel",
        "sku_category",
        "region",
        "destination_country",
        "cross_border",
        "node",
    )
    keys = sorted(segment, key=lambda k: order.index(k) if k in order else len(order))
    parts = [f"{LABEL.get(k, k)} {segment[k]}" for k in keys]
    if not parts:
        return "The slice"
    text = parts[0] + (f" ({', '.join(parts[1:])})" if len(parts) > 1 else "")
    return text[0].upper() + text[1:]


def _raw_power(r: dict) -> float:
    share = max(0.0, r["share"])
    if r.get("tail_share") is not None:
        share = 0.5 * (share + max(0.0, r["tail_share"]))
    return share


def _keeps(dual: _Dual, cur: np.ndarray, narrowed: np.ndarray) -> bool:
    """Narrowing a finding to `narrowed` is accepted when it keeps >= NARROW of its (unclipped)
    explanatory power and the part left out shows no change of its own (surprise < 1)."""
    if narrowed.sum() == cur.sum():
        return True
    if _raw_power(dual.of_mask(narrowed)) < NARROW * _raw_power(dual.of_mask(cur)):
        return False
    return dual.of_mask(cur & ~narrowed)["z"] < 1.0


def _merge(cand: list[dict], masks: dict, dual: _Dual) -> list[list[dict]]:
    """Union of segments that tell the same story: their intersection keeps most of each
    one's contribution (on the tail indicator for continuous metrics: robust to outliers)."""
    parent = list(range(len(cand)))
    st = dual.t
    key = "c" if dual.binary else "ct"

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(cand)):
        for j in range(i + 1, len(cand)):
            a, b = cand[i], cand[j]
            if a["dimension"] == b["dimension"]:
                continue
            ca, cb = a[key] * st.sign, b[key] * st.sign
            if ca <= 0 or cb <= 0:
                continue
            inter = masks[(a["dimension"], a["value"])] & masks[(b["dimension"], b["value"])]
            ci = st.of_mask(inter)["c"] * st.sign
            if ci >= SAME_STORY * min(ca, cb):  # the smaller story lies mostly inside the larger
                parent[find(j)] = find(i)
    groups: dict[int, list[dict]] = {}
    for i, r in enumerate(cand):
        groups.setdefault(find(i), []).append(r)
    return list(groups.values())
