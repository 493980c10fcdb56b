"""Stall-pattern library: contrast mining of condition sets that co-occur with stalls, kept as
named, versioned patterns whose hits later runs count.

Transactions are the node visits in progress during the window (default: the 7 days up to the
data clock), each with condition items joined through the graph and the series
(orderscope.analytics._pm_items: node, warehouse, zone, zone_humidity, equipment,
equipment_calibration, broker, broker_login_rate, carrier, carrier_load, channel, sku_category).
The target is `stalled` exactly as orderscope.analytics.stalls decides it.

Mining (no extra dependency; polars group-bys over a compacted table):
  1. identical item rows are collapsed into one weighted row (visits n, stalls a);
  2. level-wise (Apriori) enumeration of itemsets of up to MAX_LEN items, with anti-monotone
     support pruning: an item or itemset is kept when it covers at least `min_support` of the
     window's stalls (and at least `min_stalls` of them);
  3. the node is the stratum. Stall rates differ by node by design (thresholds, SLA floors),
     so every contrast is made within nodes: for an itemset with a node item, against the other
     visits of that node (Fisher's exact test, one-sided); for one without, across nodes
     (Mantel-Haenszel risk ratio, one-sided Cochran-Mantel-Haenszel test). A bare `node=X`
     is never a pattern (that is what `orderscope stalls` lists);
  4. Holm's step-down correction over every itemset tested; significant = p_adjusted < alpha
     with a risk ratio above 1;
  5. non-redundant: a superset is dropped when it adds less than 10 % lift over a subset, and a
     subset is dropped when a superset covers exactly its stalls with more lift (closed-pattern
     preference).
Patterns are ranked significant first, then by p-value, then by risk ratio.

Each pattern reports its dwell band profile among its stalls (1–2× or >2× threshold): the band
describes a stall, it is not a condition (as an item it would predict the target trivially).

Library: `keep()` saves an itemset under a name (a new version when the name exists with other
items); every mining run with `record=True` counts the stalled visits matching all items of the
newest version of each kept pattern and stores those not counted before (series port:
save_pattern / patterns / record_pattern_hits / pattern_hits, so it works in server mode).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from orderscope.analytics._pm_items import ATTRIBUTES, BAND_1_2, BAND_GT2, transactions
from orderscope.domain.lifecycle import Catalog
from orderscope.ports import Stores

WINDOW = timedelta(days=7)
MAX_LEN = 3
MIN_SUPPORT = 0.01
MIN_STALLS = 3
ALPHA = 0.05
LARGE_RISK_RATIO = 2.0
NO_LIFT = 1.10  # a superset must raise the risk ratio by more than this factor
RR_CAP = 999.0

_PHRASES = {
    ("equipment_calibration", "overdue"): "overdue calibration",
    ("equipment_calibration", "ok"): "calibration ok",
    ("equipment_calibration", "none"): "no calibration on record",
    ("zone_humidity", "high"): "humid zone",
    ("zone_humidity", "normal"): "normal humidity",
    ("broker_login_rate", "spike"): "broker login spike",
    ("broker_login_rate", "normal"): "normal broker logins",
    ("carrier_load", "high"): "carrier load high",
    ("carrier_load", "normal"): "normal carrier load",
}
_ORDER = ("node", *ATTRIBUTES)


@dataclass
class Pattern:
    id: str
    items: tuple[str, ...]  # "attribute=value", node first, then ATTRIBUTES order
    name: str
    stalls: int  # stalled visits matching all items
    visits: int  # visits matching all items
    support: float  # stalls / all stalls of the window
    confidence: float  # stalls / visits: P(stall | items)
    risk_ratio: float  # P(stall | items) / P(stall | not items), within nodes
    expected: float  # stalls expected from the node stall rates alone
    p_value: float
    p_adjusted: float
    significant: bool
    top_node: str
    dwell_band: dict[str, int] = field(default_factory=dict)
    related: list[str] = field(default_factory=list)  # items of equivalent itemsets

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["items"] = list(self.items)
        return d


@dataclass
class MiningRun:
    since: datetime
    until: datetime
    transactions: int
    stalls: int
    tested: int
    patterns: list[Pattern]  # ranked, non-redundant; significant first
    run_id: str | None = None
    new_hits: dict[str, int] = field(default_factory=dict)  # library name -> hits added

    def to_dict(self, top: int | None = None) -> dict[str, Any]:
        pats = self.patterns[:top] if top else self.patterns
        return {
            "since": self.since,
            "until": self.until,
            "transactions": self.transactions,
            "stalls": self.stalls,
            "tested": self.tested,
            "significant": sum(p.significant for p in self.patterns),
            "patterns": [p.to_dict() for p in pats],
            "run_id": self.run_id,
            "new_hits": self.new_hits,
        }


# --- items ------------------------------------------------------------------------------------


def parse_items(text: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """'node=PICKING, zone_humidity=high' (or a list) -> canonical sorted items."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    out = {}
    for p in parts:
        p = p.strip()
        if not p:
            continue
        attr, sep, value = p.partition("=")
        attr, value = attr.strip(), value.strip()
        if not sep or not value or attr not in _ORDER:
            raise ValueError(
                f"not an item {p!r}: write attribute=value with an attribute among {', '.join(_ORDER)}"
            )
        if attr in out:
            raise ValueError(f"attribute {attr} given twice")
        out[attr] = value
    if not out:
        raise ValueError("no items given")
    return canonical(out)


def canonical(items: dict[str, str]) -> tuple[str, ...]:
    return tuple(f"{a}={items[a]}" for a in _ORDER if a in items)


def pattern_id(items: tuple[str, ...]) -> str:
    return "P" + hashlib.sha1("|".join(items).encode()).hexdigest()[:8]


def display_name(items: tuple[str, ...]) -> str:
    words = []
    for it in items:
        attr, _, value = it.partition("=")
        if attr in ("node", "warehouse", "zone", "equipment", "broker", "carrier"):
            words.append(value)
        else:
            words.append(_PHRASES.get((attr, value), f"{attr.replace('_', ' ')} {value}"))
    return " · ".join(words)


def _as_dict(items: tuple[str, ...]) -> dict[str, str]:
    return dict(it.split("=", 1) for it in items)


# --- mining -----------------------------------------------------------------------------------


def mine_patterns(
    stores: Stores,
    since: datetime | None = None,
    until: datetime | None = None,
    min_support: float = MIN_SUPPORT,
    *,
    min_stalls: int = MIN_STALLS,
    max_len: int = MAX_LEN,
    alpha: float = ALPHA,
    catalog: Catalog | None = None,
) -> list[Pattern]:
    """Ranked non-redundant stall patterns of the window [since, until] (defaults: the 7 days up
    to the data clock); significant ones first."""
    return run_mining(
        stores,
        since,
        until,
        min_support,
        min_stalls=min_stalls,
        max_len=max_len,
        alpha=alpha,
        catalog=catalog,
        record=False,
    ).patterns


def window(
    stores: Stores, since: datetime | None, until: datetime | None
) -> tuple[datetime, datetime] | None:
    until = _utc(until) or stores.series.data_clock()
    if until is None:
        return None
    until = _utc(until)
    return (_utc(since) or until - WINDOW), until  # type: ignore[return-value]


def run_mining(
    stores: Stores,
    since: datetime | None = None,
    until: datetime | None = None,
    min_support: float = MIN_SUPPORT,
    *,
    min_stalls: int = MIN_STALLS,
    max_len: int = MAX_LEN,
    alpha: float = ALPHA,
    catalog: Catalog | None = None,
    record: bool = False,
) -> MiningRun:
    """Mine the window and, with `record`, count and store new hits of the kept patterns."""
    catalog = catalog or stores.catalog
    win = window(stores, since, until)
    if win is None:
        now = datetime.now(UTC)
        return MiningRun(now, now, 0, 0, 0, [])
    since, until = win
    tx = transactions(stores, since, until, catalog)
    pats, tested = mine_frame(tx, min_support, min_stalls=min_stalls, max_len=max_len, alpha=alpha)
    run = MiningRun(since, until, tx.height, int(tx["stalled"].sum()), tested, pats)
    if record:
        run.run_id = f"run-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
        run.new_hits = record_hits(stores, tx, run.run_id)
    return run


def mine_frame(
    tx: pl.DataFrame,
    min_support: float = MIN_SUPPORT,
    *,
    min_stalls: int = MIN_STALLS,
    max_len: int = MAX_LEN,
    alpha: float = ALPHA,
) -> tuple[list[Pattern], int]:
    """Mine a transactions frame (see _pm_items); returns (patterns, itemsets tested)."""
    from scipy.stats import hypergeom, norm

    total_stalls = int(tx["stalled"].sum()) if tx.height else 0
    if total_stalls == 0:
        return [], 0
    min_count = max(min_stalls, math.ceil(min_support * total_stalls))
    attrs = [a for a in ATTRIBUTES if tx[a].null_count() < tx.height]
    compact = tx.group_by(["node", *attrs], maintain_order=True).agg(
        pl.len().alias("n"),
        pl.col("stalled").sum().cast(pl.Int64).alias("a"),
        (pl.col("stalled") & (pl.col("dwell_band") == BAND_GT2)).sum().cast(pl.Int64).alias("a_gt2"),
    )
    strata = compact.group_by("node", maintain_order=True).agg(
        pl.col("n").sum().alias("N"), pl.col("a").sum().alias("A")
    )
    stat_cols = ["n", "a", "a_gt2"]

    # frequent single items (anti-monotone pruning for the longer itemsets)
    frequent: dict[str, list[str]] = {}
    for a in attrs:
        s = compact.filter(pl.col(a).is_not_null()).group_by(a, maintain_order=True).agg(pl.col("a").sum())
        vals = s.filter(pl.col("a") >= min_count)[a].to_list()
        if vals:
            frequent[a] = vals
    frequent_combos: set[tuple[str, ...]] = {(a,) for a in frequent}

    rows: list[pl.DataFrame] = []
    for size in range(1, max_len + 1):
        next_frequent: set[tuple[str, ...]] = set()
        for combo in itertools.combinations(sorted(frequent, key=attrs.index), size):
            if size > 1 and any(
                sub not in frequent_combos for sub in itertools.combinations(combo, size - 1)
            ):
                continue
            f = compact.filter(pl.all_horizontal(pl.col(c).is_in(frequent[c]) for c in combo))
            if f.height == 0:
                continue
            g = f.group_by(["node", *combo], maintain_order=True).agg(pl.col(c).sum() for c in stat_cols)
            g = g.join(strata, on="node")
            found = False
            if size <= max_len - 1:  # with the node item: one stratum
                w = g.filter(pl.col("a") >= min_count)
                if w.height:
                    found = True
                    rows.append(_within(w, combo, hypergeom))
            agg = _across(g, combo, norm).filter(pl.col("a") >= min_count)
            if agg.height:
                found = True
                rows.append(agg)
            if found:
                next_frequent.add(combo)
        frequent_combos |= next_frequent
        if not next_frequent:
            break
    if not rows:
        return [], 0
    cand = pl.concat(rows, how="vertical_relaxed")
    tested = cand.height
    p = cand["p"].to_numpy()
    cand = cand.with_columns(pl.Series("p_adj", _holm(p)))
    cand = cand.with_columns(
        ((pl.col("p_adj") < alpha) & (pl.col("rr") > 1.0)).alias("significant"),
        (pl.col("a") / total_stalls).alias("support"),
        (pl.col("a") / pl.col("n")).alias("confidence"),
    )
    pats = [_pattern(r) for r in cand.filter(pl.col("rr") > 1.0).iter_rows(named=True)]
    pats = _non_redundant(pats)
    pats.sort(
        key=lambda x: (
            not x.significant,
            x.p_value,
            -x.risk_ratio,
            -x.stalls,
            -_conditions(x.items),
            -_depth(x.items),
            x.items,
        )
    )
    return _merge_equivalent(pats), tested


def _items_expr(combo: tuple[str, ...], with_node: bool) -> pl.Expr:
    parts = [pl.lit(f"{c}=") + pl.col(c) for c in (("node",) if with_node else ()) + combo]
    return pl.concat_list(parts).alias("items")


def _within(g: pl.DataFrame, combo: tuple[str, ...], hypergeom: Any) -> pl.DataFrame:
    """Itemsets {node=X} + combo: contrast against the other visits of node X."""
    a, n1 = g["a"].to_numpy(), g["n"].to_numpy()
    A, N = g["A"].to_numpy(), g["N"].to_numpy()
    c, n0 = A - a, N - n1
    rr = ((a + 0.5) / (n1 + 0.5)) / ((c + 0.5) / (n0 + 0.5))
    p = hypergeom.sf(a - 1, N, A, n1)
    return g.select(
        _items_expr(combo, True),
        pl.col("a").cast(pl.Int64),
        pl.col("n").cast(pl.Int64),
        pl.col("a_gt2").cast(pl.Int64),
        (pl.col("n") * pl.col("A") / pl.col("N")).cast(pl.Float64).alias("expected"),
        pl.col("node").alias("top_node"),
    ).with_columns(pl.Series("rr", np.minimum(rr, RR_CAP)), pl.Series("p", np.clip(p, 0.0, 1.0)))


def _across(g: pl.DataFrame, combo: tuple[str, ...], norm: Any) -> pl.DataFrame:
    """Itemsets of the combo alone, stratified by node: Mantel-Haenszel risk ratio, one-sided
    CMH test with continuity correction (or the Poisson tail, whichever is larger)."""
    from scipy.stats import poisson

    n0 = pl.col("N") - pl.col("n")
    c = pl.col("A") - pl.col("a")
    k = g.with_columns(
        (pl.col("a") * n0 / pl.col("N")).alias("_num"),
        (c * pl.col("n") / pl.col("N")).alias("_den"),
        (pl.col("n") * pl.col("A") / pl.col("N")).alias("_e"),
        pl.when(pl.col("N") > 1)
        .then(
            pl.col("n")
            * n0
            * pl.col("A")
            * (pl.col("N") - pl.col("A"))
            / (pl.col("N") ** 2 * (pl.col("N") - 1))
        )
        .otherwise(0.0)
        .alias("_v"),
    )
    s = k.group_by(list(combo), maintain_order=True).agg(
        pl.col("a").sum(),
        pl.col("n").sum(),
        pl.col("a_gt2").sum(),
        pl.col("_num").sum(),
        pl.col("_den").sum(),
        pl.col("_e").sum(),
        pl.col("_v").sum(),
        pl.col("node").sort_by("a").last().alias("top_node"),
    )
    a = s["a"].to_numpy().astype(float)
    num, den = s["_num"].to_numpy(), s["_den"].to_numpy()
    e, v = s["_e"].to_numpy(), s["_v"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        rr = np.where(den > 0, num / den, np.where(e > 0, a / np.maximum(e, 1e-12), 1.0))
        z = np.where(v > 0, (a - e - 0.5) / np.sqrt(v), -np.inf)
    # the CMH normal approximation is anti-conservative for a few expected stalls: take the
    # larger of it and the exact Poisson tail of the observed stalls given the node rates
    p = np.maximum(np.where(v > 0, norm.sf(z), 1.0), poisson.sf(a - 1, np.maximum(e, 1e-12)))
    return s.select(
        _items_expr(combo, False),
        pl.col("a").cast(pl.Int64),
        pl.col("n").cast(pl.Int64),
        pl.col("a_gt2").cast(pl.Int64),
        pl.col("_e").cast(pl.Float64).alias("expected"),
        "top_node",
    ).with_columns(pl.Series("rr", np.minimum(rr, RR_CAP)), pl.Series("p", np.clip(p, 0.0, 1.0)))


def _holm(p: np.ndarray) -> np.ndarray:
    m = len(p)
    order = np.argsort(p, kind="stable")
    adj = np.minimum(1.0, np.maximum.accumulate(p[order] * (m - np.arange(m))))
    out = np.empty(m)
    out[order] = adj
    return out


def _pattern(r: dict[str, Any]) -> Pattern:
    items = canonical(_as_dict(tuple(r["items"])))
    gt2 = int(r["a_gt2"])
    return Pattern(
        id=pattern_id(items),
        items=items,
        name=display_name(items),
        stalls=int(r["a"]),
        visits=int(r["n"]),
        support=float(r["support"]),
        confidence=float(r["confidence"]),
        risk_ratio=float(r["rr"]),
        expected=float(r["expected"]),
        p_value=float(r["p"]),
        p_adjusted=float(r["p_adj"]),
        significant=bool(r["significant"]),
        top_node=r["top_node"],
        dwell_band={BAND_1_2: int(r["a"]) - gt2, BAND_GT2: gt2},
    )


def _non_redundant(pats: list[Pattern]) -> list[Pattern]:
    by_items = {frozenset(p.items): p for p in pats}
    drop: set[frozenset[str]] = set()
    for key, p in by_items.items():
        for size in range(1, len(key)):
            for sub in itertools.combinations(sorted(key), size):
                q = by_items.get(frozenset(sub))
                if q is None:
                    continue
                if p.stalls == q.stalls and p.visits == q.visits:
                    drop.add(frozenset(sub))  # the same visits: keep the closed (longer) set
                elif p.risk_ratio <= NO_LIFT * q.risk_ratio:
                    drop.add(key)  # the superset adds no lift
                elif p.stalls == q.stalls:
                    drop.add(frozenset(sub))  # the superset covers the same stalls, more sharply
    return [p for k, p in by_items.items() if k not in drop]


_CONDITIONS = frozenset({"equipment_calibration", "zone_humidity", "broker_login_rate", "carrier_load"})
# finer entities first: equipment implies its zone, a zone its warehouse
_DEPTH = {"equipment": 3, "broker": 3, "carrier": 2, "zone": 2, "warehouse": 1}


def _conditions(items: tuple[str, ...]) -> int:
    return sum(it.partition("=")[0] in _CONDITIONS for it in items)


def _depth(items: tuple[str, ...]) -> int:
    return sum(_DEPTH.get(it.partition("=")[0], 0) for it in items)


def _merge_equivalent(pats: list[Pattern]) -> list[Pattern]:
    """Itemsets that describe (nearly) the same visits -- the same stalls, visits within 20 %,
    the same node -- are one finding: the best ranked one (more condition items, finer
    entities) stays, the others' items are listed in its `related`."""
    kept: list[Pattern] = []
    for p in pats:
        twin = next(
            (
                k
                for k in kept
                if k.stalls == p.stalls
                and k.top_node == p.top_node
                and abs(k.visits - p.visits) <= 0.2 * max(k.visits, p.visits)
            ),
            None,
        )
        if twin is None:
            kept.append(p)
        else:
            twin.related = sorted(set(twin.related) | (set(p.items) - set(twin.items)))
    for k in kept:
        extra = tuple(it for it in k.related if it.partition("=")[0] in _CONDITIONS)
        if extra:
            k.name = f"{display_name(k.items)} (≈ {display_name(extra)})"
    return kept


# --- library ----------------------------------------------------------------------------------


def library(stores: Stores) -> pl.DataFrame:
    return stores.series.patterns()


def keep(
    stores: Stores,
    id_or_items: str,
    name: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """Save a pattern into the library under `name`: given by its items ('node=PICKING,
    zone_humidity=high') or by the id of a mined candidate (the window is mined again to find
    it) or of a library entry. A new version when the name exists with other items; nothing new
    when its newest version has the same items. Returns the entry (and `created`)."""
    lib = stores.series.patterns()
    found: Pattern | None = None
    if "=" in id_or_items:
        items = parse_items(id_or_items)
    else:
        known = lib.filter(pl.col("pattern_id") == id_or_items)
        if known.height:
            items = tuple(json.loads(known["items"][0]))
        else:
            run = run_mining(stores, since, until)
            found = next((p for p in run.patterns if p.id == id_or_items), None)
            if found is None:
                raise KeyError(
                    f"no mined pattern or library entry with id {id_or_items!r} in this window; "
                    "run `orderscope patterns mine` (same --since/--until) or give the items"
                )
            items = found.items
    if found is None:
        try:
            run = run_mining(stores, since, until)
            found = next((p for p in run.patterns if p.items == items), None)
        except Exception:  # scores are a courtesy; an empty store still keeps the entry
            found = None
    mine = lib.filter(pl.col("name") == name).sort("version")
    if mine.height and tuple(json.loads(mine["items"][-1])) == items:
        return {**mine.row(-1, named=True), "created": False}
    row = {
        "name": name,
        "version": int(mine["version"].max()) + 1 if mine.height else 1,  # type: ignore[operator]
        "pattern_id": pattern_id(items),
        "items": json.dumps(list(items)),
        "created_at": datetime.now(UTC),
        "support": found.support if found else None,
        "risk_ratio": found.risk_ratio if found else None,
        "p_adjusted": found.p_adjusted if found else None,
        "stalls": found.stalls if found else None,
        "note": note,
    }
    stores.series.save_pattern(row)
    return {**row, "created": True}


def _current(lib: pl.DataFrame) -> pl.DataFrame:
    """The newest version of each name."""
    if lib.height == 0:
        return lib
    return lib.sort("name", "version").group_by("name", maintain_order=True).last()


def record_hits(stores: Stores, tx: pl.DataFrame, run_id: str) -> dict[str, int]:
    """Store the stalled visits of `tx` matching all items of each kept pattern (newest
    version); returns the new hits per library name."""
    cur = _current(stores.series.patterns())
    out: dict[str, int] = {}
    stalled = tx.filter(pl.col("stalled"))
    now = datetime.now(UTC)
    frames = []
    for r in cur.iter_rows(named=True):
        items = _as_dict(tuple(json.loads(r["items"])))
        cond = pl.all_horizontal(pl.col(a) == v for a, v in items.items() if a in tx.columns)
        if any(a not in tx.columns for a in items):
            continue
        hits = stalled.filter(cond).select(
            pl.lit(r["pattern_id"]).alias("pattern_id"),
            "order_id",
            "node",
            pl.col("visit").cast(pl.Int32),
            "entered_at",
            "dwell_ms",
            pl.lit(run_id).alias("run_id"),
            pl.lit(now).cast(pl.Datetime("us", "UTC")).alias("recorded_at"),
        )
        frames.append((r["name"], hits))
    for name, hits in frames:
        out[name] = stores.series.record_pattern_hits(hits) if hits.height else 0
    return out


def library_report(stores: Stores, weeks: int = 4) -> list[dict[str, Any]]:
    """The library with hit counts: total, per run, per ISO week over the last `weeks` weeks up
    to the data clock, and the trend (rising / falling / steady) of the last week against the
    weeks before."""
    lib = stores.series.patterns()
    if lib.height == 0:
        return []
    hits = stores.series.pattern_hits(lib["pattern_id"].unique().to_list())
    clock = stores.series.data_clock() or datetime.now(UTC)
    week0 = _week_start(clock) - timedelta(weeks=weeks - 1)
    labels = [(week0 + timedelta(weeks=i)) for i in range(weeks)]
    out = []
    for r in lib.sort("name", "version").iter_rows(named=True):
        h = hits.filter(pl.col("pattern_id") == r["pattern_id"])
        per_run = (
            h.group_by("run_id", maintain_order=True)
            .agg(pl.len().alias("hits"), pl.col("recorded_at").min().alias("at"))
            .sort("at")
            .to_dicts()
        )
        weekly = []
        for w in labels:
            n = h.filter((pl.col("entered_at") >= w) & (pl.col("entered_at") < w + timedelta(weeks=1))).height
            weekly.append({"week": f"{w.isocalendar().year}-W{w.isocalendar().week:02d}", "hits": n})
        items = tuple(json.loads(r["items"]))
        out.append(
            {
                **{
                    k: r[k]
                    for k in (
                        "name",
                        "version",
                        "pattern_id",
                        "created_at",
                        "support",
                        "risk_ratio",
                        "p_adjusted",
                        "stalls",
                        "note",
                    )
                },
                "items": list(items),
                "label": display_name(items),
                "hits": h.height,
                "hits_per_run": per_run,
                "hits_per_week": weekly,
                "trend": _trend([x["hits"] for x in weekly]),
            }
        )
    return out


def _trend(counts: list[int]) -> str:
    if not counts or sum(counts) == 0:
        return "none"
    last, before = counts[-1], counts[:-1]
    prior = sum(before) / len(before) if before else 0.0
    if last >= max(2.0, 1.5 * prior) and last > prior:
        return "rising"
    if prior >= 2.0 and last <= 0.5 * prior:
        return "falling"
    return "steady"


def _week_start(t: datetime) -> datetime:
    d = t.astimezone(UTC)
    return datetime(d.year, d.month, d.day, tzinfo=UTC) - timedelta(days=d.weekday())


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# --- CLI --------------------------------------------------------------------------------------


__all__ = [
    "MiningRun",
    "Pattern",
    "display_name",
    "keep",
    "library",
    "library_report",
    "mine_frame",
    "mine_patterns",
    "parse_items",
    "pattern_id",
    "record_hits",
    "run_mining",
]
