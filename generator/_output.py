"""Turn the simulation into the 17 source files: readable chronological ids, formats, time zones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from orderscope.domain.lifecycle import LIFECYCLE_NODES
from orderscope.domain.sources import BY_NAME, SourceKind
from orderscope.generator import _aux
from orderscope.generator import _sim as S
from orderscope.generator import _world as W

I64 = np.int64
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


def ids(kind: str, rank: pl.Expr) -> pl.Expr:
    """Readable id of the record at 0-based chronological `rank` of `kind`."""
    p, w = PREFIX[kind]
    return pl.concat_str([pl.lit(p), (rank + 1).cast(pl.String).str.zfill(w)])


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
    e = pl.col(col)
    valid = e >= 0 if end is None else (e >= 0) & (e < end)
    return pl.when(valid).then(e).cast(pl.Datetime("ms")).dt.replace_time_zone("UTC")


def lookup(col: str | pl.Expr, table) -> pl.Expr:
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


class Writer:
    def __init__(self, out: Path, progress):
        self.out = out
        self.progress = progress
        self.counts: dict[str, int] = {}

    def write(self, name: str, df: pl.DataFrame | None = None, frames=None) -> None:
        """Write a kind from one frame or an iterator of frames (chunks)."""
        kind = BY_NAME[name]
        path = self.out / kind.file_name
        names = [c.name for c in kind.columns]
        total = 0
        chunks = [df] if df is not None else frames
        with path.open("wb") as f:
            if kind.format == "parquet":
                full = pl.concat(list(chunks)) if df is None else df
                assert full.columns == names, (name, full.columns)
                full.write_parquet(f, compression="zstd", statistics=True)
                total = full.height
            else:
                first = True
                for part in chunks:
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


def _frame(sim: S.Sim, kind: str) -> pl.DataFrame:
    chunks = sim.recs.get(kind, [])
    if not chunks:
        return pl.DataFrame({"rid": np.zeros(0, I64), "oi": np.zeros(0, I64), "t": np.zeros(0, I64)})
    keys = chunks[0].keys()
    return pl.DataFrame({k: np.concatenate([c[k] for c in chunks]) for k in keys})


def _ranked(sim: S.Sim, kind: str, df: pl.DataFrame | None = None) -> tuple[pl.DataFrame, np.ndarray]:
    """Keep records that happened before end, sort chronologically, rank; rid -> rank array."""
    df = _frame(sim, kind) if df is None else df
    df = df.filter(pl.col("t") < sim.end).sort(["t", "oi", "rid"]).with_row_index("rank")
    size = max(int(sim.counters.get(kind, 0)), int(df["rid"].max() or 0) + 1 if df.height else 0)
    rank_of = np.full(size, -1, I64)
    rank_of[df["rid"].to_numpy()] = df["rank"].to_numpy()
    sim.recs.pop(kind, None)
    return df, rank_of


def order_id(col: str = "oi") -> pl.Expr:
    return ids("orders", pl.col(col)).alias("order_id")


def write_all(sim: S.Sim, out: Path, progress=None) -> tuple[dict[str, int], dict[str, np.ndarray], dict]:
    """Write every kind; returns row counts, rid->rank maps, and evidence collected for ground truth."""
    wr = Writer(out, progress)
    end = sim.end
    rank: dict[str, np.ndarray] = {}
    found: dict = {}
    A = sim.actors
    staff = dict(enumerate(A.staff_names))
    cw = W.customer_ids_width(sim.n_customers)

    def actor(col: str) -> pl.Expr:
        e = pl.col(col)
        cust = pl.concat_str([pl.lit("C"), (e - A.customer + 1).cast(pl.String).str.zfill(cw)])
        return (
            pl.when(e >= A.customer)
            .then(cust)
            .otherwise(e.replace_strict(staff, default=None, return_dtype=pl.String))
        )

    n = sim.n
    oi = np.arange(n, dtype=I64)
    # -- orders ---------------------------------------------------------------------------------
    o = pl.DataFrame(
        {
            "oi": oi,
            "cust": sim.cust,
            "channel": sim.channel,
            "region": sim.region,
            "wh": sim.wh,
            "sku": sim.sku,
            "cat": sim.cat,
            "quantity": sim.qty,
            "amount": sim.amount,
            "country": sim.country,
            "cross_border": sim.cross,
            "created": sim.created,
            "promised": sim.promised,
        }
    )
    currency = (
        pl.when(pl.col("cross_border"))
        .then(lookup("country", W.CURRENCIES))
        .otherwise(pl.lit(W.HOME_CURRENCY))
    )
    wr.write(
        "orders",
        o.select(
            order_id().alias("order_id"),
            pl.concat_str([pl.lit("C"), (pl.col("cust") + 1).cast(pl.String).str.zfill(cw)]).alias(
                "customer_id"
            ),
            lookup("channel", W.CHANNELS).alias("channel"),
            lookup("region", W.REGIONS).alias("region"),
            lookup("wh", W.WAREHOUSES).alias("warehouse_id"),
            lookup("sku", W.SKUS).alias("sku"),
            lookup("cat", W.CATEGORIES).alias("sku_category"),
            pl.col("quantity").cast(pl.Int64),
            pl.col("amount").round(2),
            currency.alias("currency"),
            pl.when(pl.col("cross_border"))
            .then(lookup("country", W.COUNTRIES))
            .otherwise(pl.lit(W.HOME_COUNTRY))
            .alias("destination_country"),
            pl.col("cross_border"),
            ts("created", "orders").alias("created_at"),
            ts("promised", "orders").alias("promised_at"),
        ),
    )
    del o

    # -- payments (rid = order index) -------------------------------------------------------------
    p = pl.DataFrame(
        {
            "rid": oi,
            "oi": oi,
            "t": sim.pay_attempt,
            "paid": sim.paid_t,
            "refund": sim.refund_t,
            "method": sim.pay_method,
            "amount": sim.amount,
            "cross": sim.cross,
            "country": sim.country,
        }
    )
    p, rank["payments"] = _ranked(sim, "payments", p)
    status = (
        pl.when((pl.col("refund") >= 0) & (pl.col("refund") < end))
        .then(pl.lit("refunded"))
        .when((pl.col("paid") >= 0) & (pl.col("paid") < end))
        .then(pl.lit("captured"))
        .when(pl.col("paid") < 0)
        .then(pl.lit("failed"))
        .otherwise(pl.lit("authorized"))
    )
    wr.write(
        "payments",
        p.select(
            ids("payments", pl.col("rank")).alias("payment_id"),
            order_id(),
            lookup("method", ("card", "wallet", "bank_transfer", "cash_on_delivery")).alias("method"),
            pl.col("amount").round(2),
            pl.when(pl.col("cross"))
            .then(lookup("country", W.CURRENCIES))
            .otherwise(pl.lit(W.HOME_CURRENCY))
            .alias("currency"),
            status.alias("status"),
            ts("t", "payments").alias("authorized_at"),
            ts("paid", "payments", end).alias("captured_at"),
        ),
    )
    del p

    # -- inventory allocations ----------------------------------------------------------------
    a, rank["inventory_allocations"] = _ranked(sim, "inventory_allocations")
    a = a.with_columns(
        pl.Series("sku", sim.sku[a["oi"].to_numpy()]),
        pl.Series("wh", sim.wh[a["oi"].to_numpy()]),
        pl.Series("qty", sim.qty[a["oi"].to_numpy()]),
    )
    wr.write(
        "inventory_allocations",
        a.select(
            ids("inventory_allocations", pl.col("rank")).alias("allocation_id"),
            order_id(),
            lookup("sku", W.SKUS).alias("sku"),
            lookup("wh", W.WAREHOUSES).alias("warehouse_id"),
            pl.when(pl.col("status") == 0).then(pl.col("qty")).otherwise(0).cast(pl.Int64).alias("quantity"),
            lookup("status", S.ALLOC_STATUS).alias("status"),
            ts("t", "inventory_allocations").alias("allocated_at"),
        ),
    )
    del a

    # -- warehouse tasks ------------------------------------------------------------------------
    t, rank["warehouse_tasks"] = _ranked(sim, "warehouse_tasks")
    wave_local = (pl.col("wave") * (30 * W.MIN) + W.LOCAL).cast(pl.Datetime("ms")).dt.strftime("%y%m%d-%H%M")
    wave = pl.when(pl.col("wave") >= 0).then(
        pl.concat_str([pl.lit("WV-"), lookup("wh", W.WH_CODES), pl.lit("-"), wave_local])
    )

    def task_frames():
        for s in range(0, t.height, CHUNK):
            yield t.slice(s, CHUNK).select(
                ids("warehouse_tasks", pl.col("rank")).alias("task_id"),
                order_id(),
                lookup("type", S.TASK_TYPES).alias("task_type"),
                wave.alias("wave_id"),
                lookup("wh", W.WAREHOUSES).alias("warehouse_id"),
                lookup("zone", W.ZONES).alias("zone_id"),
                actor("op").alias("operator_id"),
                ts("t", "warehouse_tasks").alias("started_at"),
                ts("end", "warehouse_tasks", end).alias("ended_at"),
            )

    wr.write("warehouse_tasks", frames=task_frames())
    del t

    # -- QC reports -----------------------------------------------------------------------------
    q, rank["qc_reports"] = _ranked(sim, "qc_reports")
    found["qc_incident_rank"] = q.filter(pl.col("incident"))["rank"].to_numpy()
    found["qc"] = q.select("oi", "eq", "t", "result", "incident")
    wr.write(
        "qc_reports",
        q.select(
            ids("qc_reports", pl.col("rank")).alias("report_no"),
            order_id(),
            lookup("wh", W.WAREHOUSES).alias("warehouse_id"),
            lookup("zone", W.ZONES).alias("zone_id"),
            lookup("result", S.QC_RESULTS).alias("result"),
            lookup(pl.when(pl.col("defect") >= 0).then(pl.col("defect")), S.DEFECTS).alias("defect_code"),
            actor("insp").alias("inspector_id"),
            lookup("eq", W.EQUIPMENT).alias("equipment_id"),
            ts("t", "qc_reports").alias("inspected_at"),
        ),
    )
    del q

    # -- calibrations ---------------------------------------------------------------------------
    _aux.calibrations(sim)
    c, rank["equipment_calibrations"] = _ranked(sim, "equipment_calibrations")
    found["calibration_overdue_rank"] = c.filter(pl.col("overdue"))["rank"].to_numpy()
    c = c.with_columns(pl.Series("zone", W.EQ_ZONE[c["eq"].to_numpy()]))
    wr.write(
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
    found["calibrations"] = c.select("eq", "t", "due", "overdue")
    del c

    # -- climate (parquet) ------------------------------------------------------------------------
    cl = _aux.climate(sim)
    cdf = pl.DataFrame(cl).sort(["t", "sensor"])
    wr.write(
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
    del cdf, cl

    # -- shipments ------------------------------------------------------------------------------
    sh, rank["shipments"] = _ranked(sim, "shipments")
    so = sh["oi"].to_numpy()
    sh = sh.with_columns(
        pl.Series("carrier", sim.carrier[so]),
        pl.Series("ohub", sim.origin_hub[so]),
        pl.Series("dhub", sim.dest_hub[so]),
        pl.Series("express", sim.service_express[so]),
        pl.Series("promised", sim.promised[so]),
    )
    wr.write(
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
    del sh
    ship_rank = rank["shipments"]

    # -- logistics tracks ---------------------------------------------------------------------------
    tr_all = _frame(sim, "logistics_tracks")
    scans = {"hub": tr_all["hub"].to_numpy(), "t": tr_all["t"].to_numpy()}
    tr, rank["logistics_tracks"] = _ranked(sim, "logistics_tracks", tr_all)
    del tr_all
    to = tr["oi"].to_numpy()
    tr = tr.with_columns(
        pl.Series("wb", ship_rank[tr["ship"].to_numpy()]),
        pl.Series("wh", sim.wh[to]),
        pl.Series("dest_region", W.WH_REGION[sim.dest_wh[to]]),
        pl.Series("region", sim.region[to]),
        pl.Series("cross", sim.cross[to]),
        pl.Series("country", sim.country[to]),
    )
    area = (
        pl.when(pl.col("cross"))
        .then(lookup("country", W.COUNTRIES))
        .otherwise(lookup("dest_region", W.REGIONS))
    )
    location = (
        pl.when(pl.col("hub") >= 0)
        .then(lookup("hub", W.HUB_LOCATION))
        .when(pl.col("type") == 0)
        .then(pl.concat_str([lookup("wh", W.WAREHOUSES), pl.lit(" dock")]))
        .when(pl.col("type") == 2)
        .then(
            pl.concat_str(
                [
                    pl.lit("linehaul "),
                    lookup("region", W.REGIONS),
                    pl.lit(" -> "),
                    lookup("dest_region", W.REGIONS),
                ]
            )
        )
        .otherwise(pl.concat_str([area, pl.lit(" delivery area")]))
    )

    def track_frames():
        for s in range(0, tr.height, CHUNK):
            yield tr.slice(s, CHUNK).select(
                ids("logistics_tracks", pl.col("rank")).alias("scan_id"),
                ids("shipments", pl.col("wb")).alias("waybill"),
                ts("t", "logistics_tracks").alias("at"),
                lookup(pl.when(pl.col("hub") >= 0).then(pl.col("hub")), W.HUBS).alias("hub_id"),
                location.alias("location"),
                lookup("type", S.SCAN_TYPES).alias("scan_type"),
            )

    wr.write("logistics_tracks", frames=track_frames())
    del tr

    # -- carrier capacity (parquet) -----------------------------------------------------------
    cap = pl.DataFrame(_aux.capacity(sim, scans)).sort(["t", "hub"])
    del scans
    cap = cap.with_columns(pl.Series("carrier", W.HUB_CARRIER[cap["hub"].to_numpy()]))
    wr.write(
        "carrier_capacity",
        cap.select(
            lookup("carrier", W.CARRIERS).alias("carrier_id"),
            lookup("hub", W.HUBS).alias("hub_id"),
            ts_native("t").alias("at"),
            pl.col("load").alias("load_pct"),
            pl.col("cap").cast(pl.Int64).alias("capacity_parcels"),
        ),
    )
    del cap

    # -- customs declarations -------------------------------------------------------------------
    cd, rank["customs_declarations"] = _ranked(sim, "customs_declarations")
    found["customs_stall_rank"] = (
        cd.filter(pl.col("stall"))["rank"].to_numpy() if "stall" in cd.columns else np.zeros(0, I64)
    )
    if cd.height:
        co = cd["oi"].to_numpy()
        cd = cd.with_columns(
            pl.Series("wb", ship_rank[sim.ship_rid[co]]), pl.Series("country", sim.country[co])
        )
        holds = ("documents missing", "valuation query", "physical inspection")
        st = (
            pl.when(pl.col("clear") < end)
            .then(pl.lit("cleared"))
            .when((pl.col("hold_t") >= 0) & (pl.col("hold_t") < end))
            .then(pl.lit("held"))
            .otherwise(pl.lit("submitted"))
        )
        hold = pl.when((pl.col("hold_t") >= 0) & (pl.col("hold_t") < end)).then(
            pl.when(pl.col("stall")).then(pl.lit(holds[0])).otherwise(lookup(pl.col("rid") % 3, holds))
        )
        cd = cd.select(
            ids("customs_declarations", pl.col("rank")).alias("declaration_no"),
            order_id(),
            ids("shipments", pl.col("wb")).alias("waybill"),
            lookup("broker", W.BROKERS).alias("broker_id"),
            lookup("country", W.COUNTRIES).alias("country"),
            st.alias("status"),
            ts("t", "customs_declarations").alias("declared_at"),
            ts("clear", "customs_declarations", end).alias("cleared_at"),
            hold.alias("hold_reason"),
        )
    else:
        cd = pl.DataFrame(schema={c.name: pl.String for c in BY_NAME["customs_declarations"].columns})
    wr.write("customs_declarations", cd)
    del cd

    # -- operator sessions (parquet) ------------------------------------------------------------
    _aux.sessions(sim)
    ss = _frame(sim, "operator_sessions").filter(pl.col("end") > sim.start)  # sessions overlapping the span
    ss, rank["operator_sessions"] = _ranked(sim, "operator_sessions", ss)
    found["spike_session_rank"] = ss.filter(pl.col("spike"))["rank"].to_numpy()
    found["sessions"] = ss.select("actor", "t", "spike")
    wr.write(
        "operator_sessions",
        ss.select(
            ids("operator_sessions", pl.col("rank")).alias("session_id"),
            actor("actor").alias("actor_id"),
            lookup("role", _aux.SESSION_ROLES).alias("role"),
            lookup("site", _aux.SESSION_SITES).alias("site"),
            ts_native("t").alias("login_at"),
            ts_native("end", end).alias("logout_at"),
        ),
    )
    del ss

    # -- service tickets ----------------------------------------------------------------------------
    _aux.tickets(sim)
    tk, rank["service_tickets"] = _ranked(sim, "service_tickets")
    st = (
        pl.when(pl.col("resolved") < end)
        .then(pl.lit("resolved"))
        .when(pl.col("first") < end)
        .then(pl.lit("in_progress"))
        .otherwise(pl.lit("open"))
    )
    wr.write(
        "service_tickets",
        tk.select(
            ids("service_tickets", pl.col("rank")).alias("ticket_id"),
            order_id(),
            lookup("channel", ("chat", "phone", "email")).alias("channel"),
            lookup("topic", S.TOPICS).alias("topic"),
            actor("agent").alias("agent_id"),
            st.alias("status"),
            ts("t", "service_tickets").alias("opened_at"),
            ts("first", "service_tickets", end).alias("first_response_at"),
            ts("resolved", "service_tickets", end).alias("resolved_at"),
        ),
    )
    del tk

    # -- approvals ----------------------------------------------------------------------------------
    ap, rank["approvals"] = _ranked(sim, "approvals")
    decided = pl.col("decided") < end
    comment = (
        pl.when(pl.col("type") == 0)
        .then(pl.lit("manual fraud review"))
        .when(pl.col("type") == 1)
        .then(pl.lit("stock found on re-count; reinstate order"))
        .otherwise(pl.lit("return inspected; refund in full"))
    )
    wr.write(
        "approvals",
        ap.select(
            ids("approvals", pl.col("rank")).alias("approval_id"),
            order_id(),
            lookup("type", S.APPROVAL_TYPES).alias("approval_type"),
            actor("approver").alias("approver_id"),
            pl.when(~decided)
            .then(pl.lit("pending"))
            .when(pl.col("decision") == 1)
            .then(pl.lit("rejected"))
            .otherwise(pl.lit("approved"))
            .alias("decision"),
            ts("t", "approvals").alias("requested_at"),
            ts("decided", "approvals", end).alias("decided_at"),
            pl.when(decided).then(comment).alias("comment"),
        ),
    )
    del ap

    # -- notifications --------------------------------------------------------------------------------
    nt, rank["notifications"] = _ranked(sim, "notifications")
    nt = nt.with_columns(pl.Series("nch", sim.notif_channel[nt["oi"].to_numpy()]))

    def notif_frames():
        for s in range(0, nt.height, CHUNK):
            yield nt.slice(s, CHUNK).select(
                ids("notifications", pl.col("rank")).alias("notification_id"),
                order_id(),
                lookup("nch", ("push", "sms", "email")).alias("channel"),
                lookup("template", S.TEMPLATES).alias("template"),
                pl.col("template")
                .replace_strict(dict(enumerate(S.PROACTIVE.tolist())), return_dtype=pl.Boolean)
                .alias("proactive"),
                ts("t", "notifications").alias("sent_at"),
            )

    wr.write("notifications", frames=notif_frames())
    del nt

    # -- returns ----------------------------------------------------------------------------------------
    rt, rank["returns"] = _ranked(sim, "returns")
    rt = rt.with_columns(pl.Series("amount", sim.amount[rt["oi"].to_numpy()]))
    wr.write(
        "returns",
        rt.select(
            ids("returns", pl.col("rank")).alias("rma_id"),
            order_id(),
            lookup("reason", S.RETURN_REASONS).alias("reason"),
            pl.when(pl.col("refunded") < end)
            .then(pl.lit("refunded"))
            .when(pl.col("received") < end)
            .then(pl.lit("received"))
            .otherwise(pl.lit("requested"))
            .alias("status"),
            pl.when(pl.col("refunded") < end).then(pl.col("amount").round(2)).alias("refund_amount"),
            ts("t", "returns").alias("requested_at"),
            ts("received", "returns", end).alias("received_at"),
        ),
    )
    del rt

    # -- order events (last: every referenced record now has its id) ------------------------------
    found["events"] = write_events(sim, wr, rank)
    return wr.counts, rank, found


STREETS = (
    "Pine",
    "Maple",
    "Harbour",
    "Station",
    "Garden",
    "River",
    "Market",
    "Lake",
    "Hill",
    "Park",
    "Bridge",
    "Mill",
)


def write_events(sim: S.Sim, wr: Writer, rank: dict[str, np.ndarray]) -> pl.DataFrame:
    keys = list(sim.events[0].keys())
    cols = {k: np.concatenate([c[k] for c in sim.events]) for k in keys}
    sim.events.clear()
    keep = cols["at"] < sim.end
    cols = {k: v[keep] for k, v in cols.items()}
    # resolve evidence / impact / waybill diff references to chronological ranks (-1: none)
    kinds = S.KIND_NAMES

    def resolve(kcol: np.ndarray, rcol: np.ndarray) -> np.ndarray:
        out = np.full(len(rcol), -1, I64)
        for k, name in enumerate(kinds):
            m = kcol == k
            if m.any():
                out[m] = rank[name][rcol[m]]
        assert (out[kcol >= 0] >= 0).all(), "an event references a record that was not written"
        return out

    cols["evr"] = resolve(cols["evk"], cols["evr"])
    for j in range(3):
        cols[f"ir{j}"] = resolve(cols[f"ik{j}"], cols[f"ir{j}"])
    wb = cols["diff"] == S.D_WAYBILL
    cols["dv"][wb] = rank["shipments"][cols["dv"][wb]]
    df = pl.DataFrame(cols).sort(["at", "oi", "seq"])
    del cols
    summary = df.select("oi", "at", "frm", "to", "reason")

    prefixes = {i: PREFIX[name][0] for i, name in enumerate(kinds)}
    widths = {i: PREFIX[name][1] for i, name in enumerate(kinds)}

    def ref(k: str, r: str) -> pl.Expr:
        """Id of the referenced record: one expression whatever its kind (null when k < 0)."""
        kc = pl.when(pl.col(k) >= 0).then(pl.col(k))
        # zero-padding of a kind-dependent width: add 10**width, print, drop the leading "1"
        pow10 = kc.replace_strict({i: 10**w for i, w in widths.items()}, default=None, return_dtype=pl.Int64)
        num = (pl.col(r) + 1 + pow10).cast(pl.String).str.slice(1)
        return pl.concat_str([kc.replace_strict(prefixes, default=None, return_dtype=pl.String), num])

    def imp(j: int) -> pl.Expr:
        kname = lookup(pl.when(pl.col(f"ik{j}") >= 0).then(pl.col(f"ik{j}")), kinds)
        return pl.concat_str(
            [pl.lit('{"kind":"'), kname, pl.lit('","id":"'), ref(f"ik{j}", f"ir{j}"), pl.lit('"}')]
        )

    impact = pl.concat_str([imp(0), imp(1), imp(2)], separator=",", ignore_nulls=True)
    impact = pl.when(pl.col("ik0") >= 0).then(pl.concat_str([pl.lit("["), impact, pl.lit("]")]))
    dv = pl.col("dv")
    addr = lambda k: pl.concat_str(
        [
            ((dv * 37 + k * 11) % 180 + 1).cast(pl.String),
            pl.lit(" "),
            lookup((dv + k * 5) % 12, STREETS),
            pl.lit(" Rd"),
        ]
    )
    diff = (
        pl.when(pl.col("diff") == S.D_PAY)
        .then(pl.lit('{"payment_status":["pending","captured"]}'))
        .when(pl.col("diff") == S.D_ALLOC)
        .then(pl.concat_str([pl.lit('{"allocated_qty":[0,'), dv.cast(pl.String), pl.lit("]}")]))
        .when(pl.col("diff") == S.D_ADDR)
        .then(
            pl.concat_str([pl.lit('{"shipping_address":["'), addr(0), pl.lit('","'), addr(1), pl.lit('"]}')])
        )
        .when(pl.col("diff") == S.D_WAYBILL)
        .then(pl.concat_str([pl.lit('{"waybill":[null,"'), ids("shipments", dv), pl.lit('"]}')]))
        .when(pl.col("diff") == S.D_CANCEL)
        .then(pl.lit('{"fulfilment_status":["open","cancelled"]}'))
        .when(pl.col("diff") == S.D_REFUND)
        .then(
            pl.concat_str(
                [
                    pl.lit('{"refunded_amount":[0,'),
                    (dv.cast(pl.Float64) / 100).round(2).cast(pl.String),
                    pl.lit("]}"),
                ]
            )
        )
        .when(pl.col("diff") == S.D_CUSTOMS)
        .then(pl.lit('{"customs_status":["submitted","held"]}'))
        .when(pl.col("diff") == S.D_ATTEMPT)
        .then(
            pl.concat_str(
                [
                    pl.lit('{"delivery_attempts":['),
                    dv.cast(pl.String),
                    pl.lit(","),
                    (dv + 1).cast(pl.String),
                    pl.lit("]}"),
                ]
            )
        )
        .when(pl.col("diff") == S.D_QC)
        .then(pl.concat_str([pl.lit('{"qc_result":[null,"'), lookup(dv, S.QC_RESULTS), pl.lit('"]}')]))
    )
    A = sim.actors
    staff = dict(enumerate(A.staff_names))
    cw = W.customer_ids_width(sim.n_customers)
    e = pl.col("actor")
    actor = (
        pl.when(e >= A.customer)
        .then(pl.concat_str([pl.lit("C"), (e - A.customer + 1).cast(pl.String).str.zfill(cw)]))
        .otherwise(e.replace_strict(staff, default=None, return_dtype=pl.String))
    )
    nodes = LIFECYCLE_NODES

    def frames():
        for s in range(0, df.height, CHUNK):
            yield (
                df.slice(s, CHUNK)
                .with_row_index("i", offset=s)
                .select(
                    ids("order_events", pl.col("i").cast(pl.Int64)).alias("event_id"),
                    order_id(),
                    ts("at", "order_events").alias("at"),
                    actor.alias("actor_id"),
                    lookup("role", W.ROLES).alias("actor_role"),
                    lookup(pl.when(pl.col("frm") >= 0).then(pl.col("frm")), nodes).alias("from_state"),
                    lookup("to", nodes).alias("to_state"),
                    lookup(pl.when(pl.col("reason") >= 0).then(pl.col("reason")), W.REASONS).alias(
                        "reason_code"
                    ),
                    ref("evk", "evr").alias("evidence"),
                    diff.alias("diff"),
                    impact.alias("impact"),
                )
            )

    wr.write("order_events", frames=frames())
    return summary
