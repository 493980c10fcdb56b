"""Vectorised order-lifecycle simulation.

Orders advance stage by stage as numpy arrays (one array operation per stage and loop round, never
one Python step per event). Every status change is appended as a chunk of events; every record a
stage causes (task, QC report, scan, notification, ...) as a chunk of records with a per-kind
running id ("rid") that the writer later turns into a readable, chronological record id.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from orderscope.generator import _world as W
from orderscope.generator._world import DAY, HOUR, MIN, NODE, RC, SEC

I8, I32, I64 = np.int8, np.int32, np.int64

# record kinds referenced from events (impact / evidence)
K = {
    k: i
    for i, k in enumerate(
        (
            "payments",
            "inventory_allocations",
            "warehouse_tasks",
            "qc_reports",
            "shipments",
            "logistics_tracks",
            "customs_declarations",
            "approvals",
            "notifications",
            "returns",
        )
    )
}
KIND_NAMES = tuple(K)

# diff templates, rendered by the writer
D_NONE, D_PAY, D_ALLOC, D_ADDR, D_WAYBILL, D_CANCEL, D_REFUND, D_CUSTOMS, D_ATTEMPT, D_QC = range(10)

# enumerations of record columns
TASK_TYPES = ("wave", "pick", "pack", "sort")
QC_RESULTS = ("pass", "fail", "rework")
DEFECTS = ("D-SCRATCH", "D-LABEL", "D-PACKAGING", "D-MISSING-PART", "D-MEASUREMENT")
ALLOC_STATUS = ("allocated", "stockout", "short")
SCAN_TYPES = (
    "pickup",
    "departed",
    "in_transit",
    "arrived",
    "out_for_delivery",
    "delivered",
    "exception",
    "customs",
)
APPROVAL_TYPES = ("risk_review", "reinstatement", "refund")
TEMPLATES = (
    "order_confirmed",
    "shipped",
    "out_for_delivery",
    "delivered",
    "order_cancelled",
    "refund_issued",
    "delivery_failed",
    "customs_hold",
    "out_of_stock",
    "address_confirmed",
    "delay_notice",
)
T = {t: i for i, t in enumerate(TEMPLATES)}
PROACTIVE = np.array(
    [
        t in ("out_for_delivery", "delivery_failed", "customs_hold", "out_of_stock", "delay_notice")
        for t in TEMPLATES
    ]
)
TOPICS = (
    "where_is_my_order",
    "delivery_failed",
    "return",
    "customs",
    "cancellation",
    "address_change",
    "product_question",
)
RETURN_REASONS = ("DAMAGED", "WRONG_ITEM", "NOT_AS_DESCRIBED", "CHANGED_MIND")


@dataclass
class Incidents:
    qc: bool
    customs: bool
    loop: bool
    period: tuple[int, int]
    baseline: tuple[int, int]
    qc_eq: int = 2  # EQ-N1-Z2-1 (warehouse WH-N1, zone WH-N1-Z2)
    qc_zone: int = 1
    qc_wh: int = 0
    broker: int = 1  # BRK-02
    broker_window: tuple[int, int] = (0, 0)
    loop_channel: int = 2  # marketplace
    loop_category: int = 0  # electronics


@dataclass
class Sim:
    seed: int
    n: int
    start: int
    end: int
    inc: Incidents
    actors: W.Actors = field(init=False)
    events: list[dict] = field(default_factory=list)
    recs: dict[str, list[dict]] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)

    # -- plumbing ----------------------------------------------------------------------------
    def rng(self, name: str) -> np.random.Generator:
        return W.stream(self.seed, name)

    def ev(self, oi, at, frm, to, role, actor, reason=-1, evk=-1, evr=-1, imps=(), diff=D_NONE, dv=0):
        n = len(oi)
        if n == 0:
            return

        def full(x, dt):
            return np.full(n, x, dt) if np.isscalar(x) else np.array(x, dt)  # copy: callers reuse arrays

        chunk = {
            "oi": full(oi, I32),
            "at": full(at, I64),
            "frm": full(frm, I8),
            "to": full(to, I8),
            "role": full(role, I8),
            "actor": full(actor, I32),
            "reason": full(reason, I8),
            "evk": full(evk, I8),
            "evr": full(evr, I32),
            "diff": full(diff, I8),
            "dv": full(dv, I64),
            "seq": np.full(n, len(self.events), I32),
        }
        for j in range(3):
            k, r = imps[j] if j < len(imps) else (-1, -1)
            chunk[f"ik{j}"] = full(k, I8)
            chunk[f"ir{j}"] = full(r, I32)
        self.events.append(chunk)

    def rec(self, kind: str, n: int, **cols) -> np.ndarray:
        base = self.counters.get(kind, 0)
        rid = np.arange(base, base + n, dtype=I64)
        self.counters[kind] = base + n
        if n:
            chunk = {"rid": rid}
            for c, v in cols.items():
                chunk[c] = np.full(n, v) if np.isscalar(v) else np.array(v)
            self.recs.setdefault(kind, []).append(chunk)
        return rid

    def ln(self, rng, median_ms: float, sigma: float, n: int) -> np.ndarray:
        return np.maximum((median_ms * np.exp(sigma * rng.standard_normal(n))).astype(I64), SEC)

    # work-time: warehouses work at full rate 06-22 local, a reduced night crew 22-06, lighter Sundays
    def _work_grid(self):
        g0 = self.start - 3 * DAY
        g1 = self.end + 120 * DAY
        grid = np.arange(g0, g1 + HOUR, HOUR, dtype=I64)
        local = grid[:-1] + W.LOCAL
        hour = (local % DAY) // HOUR
        dow = ((local // DAY) + 3) % 7  # 1970-01-01 was a Thursday -> Monday = 0
        rate = np.where((hour >= 6) & (hour < 22), 1.0, 0.3) * np.where(dow == 6, 0.75, 1.0)
        self._wg = grid.astype(np.float64)
        self._wc = np.concatenate([[0.0], np.cumsum(rate * HOUR)])

    def wt(self, t: np.ndarray, d: np.ndarray) -> np.ndarray:
        """End time of `d` ms of work started at t under the shift rhythm."""
        w = np.interp(t.astype(np.float64), self._wg, self._wc) + d
        out = np.rint(np.interp(w, self._wc, self._wg)).astype(I64)
        return np.maximum(out, t + SEC)

    def notify(self, oi, at, template) -> np.ndarray:
        return self.rec("notifications", len(oi), oi=oi, t=at, template=template)

    # -- the run ---------------------------------------------------------------------------------
    def run(self) -> None:
        self._work_grid()
        self._orders()
        self._lifecycle()

    def _orders(self) -> None:
        n, rng = self.n, self.rng("orders")
        hours = np.arange(self.start, self.end, HOUR, dtype=I64)
        local = hours + W.LOCAL
        h = (local % DAY) // HOUR
        dow = ((local // DAY) + 3) % 7
        diurnal = np.array(
            [
                0.35,
                0.2,
                0.12,
                0.08,
                0.08,
                0.12,
                0.3,
                0.55,
                0.8,
                0.95,
                1.0,
                1.05,
                1.15,
                1.05,
                1.0,
                0.95,
                0.95,
                1.0,
                1.1,
                1.3,
                1.55,
                1.6,
                1.3,
                0.75,
            ]
        )
        weekly = np.array([1.08, 1.0, 0.98, 0.97, 1.02, 0.95, 1.05])
        w = diurnal[h] * weekly[dow]
        slot = rng.choice(len(hours), size=n, p=w / w.sum())
        created = np.sort(hours[slot] + rng.integers(0, HOUR, n))
        self.created = created

        n_cust = max(200, n // 3)
        self.n_customers = n_cust
        self.actors = W.Actors(n_cust)
        crng = self.rng("customers")
        cust_region = crng.choice(5, size=n_cust, p=W.REGION_SHARE)
        pop = crng.lognormal(0, 1.0, n_cust)
        cust = rng.choice(n_cust, size=n, p=pop / pop.sum())
        self.cust = cust
        dest_region = cust_region[cust]
        same = rng.random(n) < 0.85
        region = np.where(same, dest_region, rng.choice(5, size=n, p=W.REGION_SHARE))
        second = rng.random(n) >= W.WH_SHARE_IN_REGION[region * 2]
        self.wh = region * 2 + second
        self.region = region
        self.dest_wh = dest_region * 2 + (cust % 2)
        self.channel = rng.choice(4, size=n, p=W.CHANNEL_SHARE)
        self.cat = rng.choice(6, size=n, p=W.CAT_SHARE)
        rank = np.minimum(rng.zipf(1.6, n) - 1, W.SKUS_PER_CAT - 1)
        self.sku = self.cat * W.SKUS_PER_CAT + rank
        self.qty = np.minimum(rng.geometric(0.65, n), 6)
        wrng = self.rng("world")  # sku prices do not depend on the number of orders
        price = W.CAT_PRICE[np.repeat(np.arange(6), W.SKUS_PER_CAT)] * wrng.lognormal(0, 0.5, len(W.SKUS))
        amount_cny = price[self.sku] * self.qty
        self.cross = (rng.random(n) < W.CROSS_BORDER_SHARE / 0.9) & (self.channel != 3)
        self.country = rng.choice(len(W.COUNTRIES), size=n, p=W.COUNTRY_SHARE)
        fx = np.where(self.cross, W.FX[self.country], 1.0)
        self.amount = np.round(amount_cny * fx, 2)
        self.zone = self.wh * 4 + W.CAT_ZONE[self.cat]
        self.speed = W.WH_SPEED[self.wh]
        self.carrier = np.where(
            self.cross,
            rng.choice(5, size=n, p=W.CARRIER_XB_SHARE),
            rng.choice(5, size=n, p=W.CARRIER_DOMESTIC_SHARE),
        )
        self.origin_hub = W.dom_hub(self.carrier, self.wh)
        self.dest_hub = np.where(
            self.cross,
            W.xb_hub(np.maximum(self.carrier, 3), self.country),
            W.dom_hub(self.carrier, self.dest_wh),
        )
        self.broker = rng.choice(4, size=n, p=W.BROKER_SHARE)
        self.pay_method = rng.choice(4, size=n, p=[0.45, 0.3, 0.2, 0.05])
        self.notif_channel = cust % 3
        self.cust_actor = self.actors.customer_id(cust)

        # fates (drawn for every order in every scenario: clean and incident runs share the noise)
        f = self.rng("fates")
        u = f.random((16, n))
        self.pay_timeout = u[0] < 0.015
        self.express = ~self.pay_timeout & (u[1] < 0.03)
        self.loops = np.where(self.express & (u[2] < 0.06), 1, 0)
        p0, p1 = self.inc.period
        if self.inc.loop:
            sl = (
                (self.channel == self.inc.loop_channel)
                & (self.cat == self.inc.loop_category)
                & (created >= p0)
                & (created < p1)
                & ~self.pay_timeout
                & (u[3] < 0.45)
            )
            self.express |= sl
            self.loops = np.where(sl, 1 + (u[4] * 3).astype(I64), self.loops)
            self.planted_loop = sl
        else:
            self.planted_loop = np.zeros(n, bool)
        self.risk_review = ~self.express & ~self.pay_timeout & (u[5] < 0.03)
        self.risk_reject = self.risk_review & (u[6] < 0.12)
        self.stockout = ~self.express & ~self.pay_timeout & ~self.risk_reject & (u[7] < 0.012)
        live = ~self.pay_timeout & ~self.risk_reject & ~self.stockout & (self.loops == 0)
        self.cust_cancel = live & (u[8] < 0.025)
        # node the customer cancels from: ALLOCATED, WAVE_RELEASED or PICKING (express: PICKING)
        cn = np.array([NODE["ALLOCATED"], NODE["WAVE_RELEASED"], NODE["PICKING"]])[(u[9] * 3).astype(I64)]
        self.cancel_node = np.where(self.cust_cancel, np.where(self.express, NODE["PICKING"], cn), -1)
        self.fail_deliv = u[10] < 0.04
        self.fail_twice = self.fail_deliv & (u[11] < 0.15)
        self.returned = u[12] < 0.055
        an = np.array([NODE["ALLOCATED"], NODE["WAVE_RELEASED"], NODE["SORTED"], NODE["DEPARTED_ORIGIN_HUB"]])
        amend_node = an[(u[13] * 4).astype(I64)]
        amend_node = np.where(
            self.express & (amend_node <= NODE["WAVE_RELEASED"]), NODE["SORTED"], amend_node
        )
        self.amend_node = np.where((u[14] < 0.02) & ~self.cust_cancel, amend_node, -1)
        self.service_express = self.express | (u[15] < 0.12)
        self.promised = created + np.where(
            self.cross, 8 * DAY, np.where(self.service_express, 2 * DAY, 3 * DAY)
        )

        # per-order outcomes filled by the lifecycle
        self.refund_t = np.full(n, -1, I64)
        self.paid_t = np.full(n, -1, I64)
        self.delivered_t = np.full(n, -1, I64)
        self.ship_rid = np.full(n, -1, I64)
        self.failed_t = np.full(n, -1, I64)
        self.held = np.zeros(n, bool)
        self.return_t = np.full(n, -1, I64)
        self.last_t = created.copy()

    # -- helpers for stage branches ------------------------------------------------------------
    def _cancel(self, oi, at, frm, reason, actor, role, evk=-1, evr=-1, imps=()):
        nt = self.notify(oi, at, T["order_cancelled"])
        self.ev(
            oi,
            at,
            frm,
            NODE["CANCELLED"],
            role,
            actor,
            RC[reason],
            evk,
            evr,
            (*imps, (K["notifications"], nt)),
            D_CANCEL,
        )
        self._refund_after_cancel(oi, at)

    def _refund_after_cancel(self, oi, at):
        paid = self.paid_t[oi] >= 0
        oi, at = oi[paid], at[paid]
        rng = self.rng("refund_cancel")
        tr = at + self.ln(rng, 5 * HOUR, 0.6, len(oi))
        nt = self.notify(oi, tr, T["refund_issued"])
        self.ev(
            oi,
            tr,
            NODE["CANCELLED"],
            NODE["REFUNDED"],
            W.R_SYSTEM,
            W.A_PAY,
            imps=((K["payments"], oi), (K["notifications"], nt)),
            diff=D_REFUND,
            dv=np.rint(self.amount[oi] * 100).astype(I64),
        )
        self.refund_t[oi] = tr
        self.last_t[oi] = tr

    def _amend(self, oi, node, t0, t1, rng):
        m = self.amend_node[oi] == node
        oi, t0, t1 = oi[m], t0[m], t1[m]
        at = t0 + ((t1 - t0) * rng.uniform(0.15, 0.85, len(oi))).astype(I64)
        nt = self.notify(oi, at, T["address_confirmed"])
        self.ev(
            oi,
            at,
            node,
            node,
            W.R_USER,
            self.cust_actor[oi],
            RC["ADDRESS_CHANGED"],
            imps=((K["notifications"], nt),),
            diff=D_ADDR,
            dv=oi,
        )

    def _cust_cancel(self, oi, node, t0, t1, rng):
        """Orders whose customer cancels while in `node`: emit the cancel, return the survivors."""
        m = self.cancel_node[oi] == node
        c = oi[m]
        at = t0[m] + ((t1[m] - t0[m]) * rng.uniform(0.1, 0.9, len(c))).astype(I64)
        self._cancel(c, at, node, "CUSTOMER_CANCELLED", self.cust_actor[c], W.R_USER)
        return ~m

    def _staff(self, crews, base, zone, t, rng):
        return base + W.crew_member(crews, zone, t, rng.random(len(t)))

    # -- the lifecycle -------------------------------------------------------------------------
    def _lifecycle(self) -> None:
        A = self.actors
        N = NODE
        n = self.n
        allo = np.arange(n, dtype=I64)
        t = self.created.copy()
        rng = self.rng("lifecycle")
        self.ev(allo, t, -1, N["CREATED"], W.R_USER, self.cust_actor)

        # payment (or time-out)
        pay_at = t + self.ln(rng, 3 * MIN, 1.0, n)
        pt = allo[self.pay_timeout]
        self.pay_attempt = np.where(self.pay_timeout, t + self.ln(rng, 4 * MIN, 0.6, n), pay_at - 2 * SEC)
        self._cancel(
            pt,
            t[pt] + self.ln(rng, 30 * MIN, 0.15, len(pt)),
            N["CREATED"],
            "PAYMENT_TIMEOUT",
            W.A_PAY,
            W.R_SYSTEM,
        )
        ok = allo[~self.pay_timeout]
        t[ok] = pay_at[ok]
        self.paid_t[ok] = pay_at[ok]
        nt = self.notify(ok, t[ok], T["order_confirmed"])
        self.ev(
            ok,
            t[ok],
            N["CREATED"],
            N["PAID"],
            W.R_SYSTEM,
            W.A_PAY,
            imps=((K["payments"], ok), (K["notifications"], nt)),
            diff=D_PAY,
        )

        # --- standard path: risk check, allocation, wave -------------------------------------
        a = ok[~self.express[ok]]
        d = self.ln(rng, 2 * MIN, 0.8, len(a))
        rr = self.risk_review[a]
        d_rr = self.wt(t[a], self.ln(rng, 1.5 * HOUR, 0.7, len(a))) - t[a]
        d = np.where(rr, d_rr, d)
        nxt = t[a] + d
        r_oi = a[rr]
        rej = self.risk_reject[r_oi]
        apr = self.rec(
            "approvals",
            len(r_oi),
            oi=r_oi,
            type=0,
            approver=A.supervisor + (r_oi % 6),
            decision=np.where(rej, 1, 0),
            t=t[r_oi],
            decided=nxt[rr],
        )
        apr_of = np.full(n, -1, I64)
        apr_of[r_oi] = apr
        x = r_oi[rej]
        self._cancel(
            x,
            nxt[rr][rej],
            N["PAID"],
            "RISK_REJECTED",
            A.supervisor + (x % 6),
            W.R_OPERATOR,
            K["approvals"],
            apr_of[x],
        )
        keep = ~self.risk_reject[a]
        a, nxt = a[keep], nxt[keep]
        t[a] = nxt
        has = apr_of[a] >= 0
        self.ev(a[~has], t[a[~has]], N["PAID"], N["RISK_CHECKED"], W.R_SYSTEM, W.A_RISK)
        self.ev(
            a[has],
            t[a[has]],
            N["PAID"],
            N["RISK_CHECKED"],
            W.R_SYSTEM,
            W.A_RISK,
            imps=((K["approvals"], apr_of[a[has]]),),
        )

        # allocation / stock-out
        nxt = t[a] + self.ln(rng, 5 * MIN, 0.7, len(a))
        so = self.stockout[a]
        al = self.rec("inventory_allocations", len(a), oi=a, status=np.where(so, 1, 0), t=nxt)
        x = a[so]
        self._cancel(
            x,
            nxt[so],
            N["RISK_CHECKED"],
            "OUT_OF_STOCK",
            W.A_WMS,
            W.R_SYSTEM,
            imps=((K["inventory_allocations"], al[so]),),
        )
        a, nxt, al = a[~so], nxt[~so], al[~so]
        t[a] = nxt
        self.ev(
            a,
            t[a],
            N["RISK_CHECKED"],
            N["ALLOCATED"],
            W.R_SYSTEM,
            W.A_WMS,
            imps=((K["inventory_allocations"], al),),
            diff=D_ALLOC,
            dv=self.qty[a],
        )

        # wave release
        nxt = self.wt(t[a], (self.ln(rng, 0.6 * HOUR, 0.6, len(a)) * self.speed[a]).astype(I64))
        self._amend(a, N["ALLOCATED"], t[a], nxt, rng)
        keep = self._cust_cancel(a, N["ALLOCATED"], t[a], nxt, rng)
        a, nxt = a[keep], nxt[keep]
        t[a] = nxt
        self.ev(a, t[a], N["ALLOCATED"], N["WAVE_RELEASED"], W.R_SYSTEM, W.A_WMS)
        wave_t = t.copy()

        # picking starts
        nxt = self.wt(t[a], (self.ln(rng, 0.5 * HOUR, 0.6, len(a)) * self.speed[a]).astype(I64))
        self._amend(a, N["WAVE_RELEASED"], t[a], nxt, rng)
        keep = self._cust_cancel(a, N["WAVE_RELEASED"], t[a], nxt, rng)
        a, nxt = a[keep], nxt[keep]
        picker = self._staff(W.OP_CREW, A.operator, self.zone[a], nxt, rng)
        tk = self.rec(
            "warehouse_tasks",
            len(a),
            oi=a,
            type=0,
            wave=wave_t[a] // (30 * MIN),
            wh=self.wh[a],
            zone=self.zone[a],
            op=picker,
            t=wave_t[a],
            end=nxt,
        )
        t[a] = nxt
        self.ev(
            a,
            t[a],
            N["WAVE_RELEASED"],
            N["PICKING"],
            W.R_OPERATOR,
            picker,
            imps=((K["warehouse_tasks"], tk),),
        )
        self.wave_slot = np.full(n, -1, I64)
        self.wave_slot[a] = wave_t[a] // (30 * MIN)
        picking = [a]

        # --- express path (with out-of-stock / reinstatement loops) --------------------------
        b = ok[self.express[ok]]
        lr = self.rng("loops")
        t[b] = t[b] + self.ln(lr, 10 * MIN, 0.6, len(b))
        self.rec("inventory_allocations", len(b), oi=b, status=0, t=self.paid_t[b] + SEC)
        self.ev(b, t[b], N["PAID"], N["PICKING"], W.R_SYSTEM, W.A_WMS, RC["EXPRESS_PICK"])
        self.loop_apr = []
        for rnd in range(1, 4):
            c = b[self.loops[b] >= rnd]
            if len(c) == 0:
                break
            tc = self.wt(t[c], self.ln(lr, 0.4 * HOUR, 0.6, len(c)))
            op = self._staff(W.OP_CREW, A.operator, self.zone[c], t[c], lr)
            self.rec(
                "warehouse_tasks",
                len(c),
                oi=c,
                type=1,
                wave=-1,
                wh=self.wh[c],
                zone=self.zone[c],
                op=op,
                t=t[c],
                end=tc,
            )
            al = self.rec("inventory_allocations", len(c), oi=c, status=2, t=tc)
            nt = self.notify(c, tc, T["out_of_stock"])
            self.ev(
                c,
                tc,
                N["PICKING"],
                N["CANCELLED"],
                W.R_SYSTEM,
                W.A_WMS,
                RC["OUT_OF_STOCK"],
                imps=((K["inventory_allocations"], al), (K["notifications"], nt)),
                diff=D_CANCEL,
            )
            tr = tc + self.ln(lr, 1.5 * HOUR, 0.6, len(c))
            sup = A.supervisor + ((c + rnd) % 6)
            apr = self.rec("approvals", len(c), oi=c, type=1, approver=sup, decision=0, t=tc, decided=tr)
            self.loop_apr.append((c, apr))
            self.ev(
                c,
                tr,
                N["CANCELLED"],
                N["PAID"],
                W.R_OPERATOR,
                sup,
                RC["ORDER_REINSTATED"],
                K["approvals"],
                apr,
                imps=((K["approvals"], apr),),
            )
            t[c] = tr + self.ln(lr, 10 * MIN, 0.6, len(c))
            self.ev(c, t[c], N["PAID"], N["PICKING"], W.R_SYSTEM, W.A_WMS, RC["EXPRESS_PICK"])
        picking.append(b)
        p = np.sort(np.concatenate(picking))

        # --- pick -> QC, with rework loops ---------------------------------------------------
        qr = self.rng("qc")
        pick_end = self.wt(t[p], (self.ln(qr, 0.2 * HOUR, 0.6, len(p)) * self.speed[p]).astype(I64))
        keep = self._cust_cancel(p, N["PICKING"], t[p], pick_end, qr)
        p, pick_end = p[keep], pick_end[keep]
        picker = self._staff(W.OP_CREW, A.operator, self.zone[p], t[p], qr)
        self.rec(
            "warehouse_tasks",
            len(p),
            oi=p,
            type=1,
            wave=self.wave_slot[p],
            wh=self.wh[p],
            zone=self.zone[p],
            op=picker,
            t=t[p],
            end=pick_end,
        )
        p0, p1 = self.inc.period
        self.qc_incident_reports = []
        cur, cur_end, cur_picker = p, pick_end, picker
        for attempt in range(5):
            m = len(cur)
            if m == 0:
                break
            tpk = cur_end
            self.ev(cur, tpk, N["PICKING"], N["PICKED"], W.R_OPERATOR, cur_picker)
            tq = self.wt(tpk, (self.ln(qr, 0.25 * HOUR, 0.6, m) * self.speed[cur]).astype(I64))
            insp = self._staff(W.QI_CREW, A.inspector, self.zone[cur], tq, qr)
            self.ev(cur, tq, N["PICKED"], N["QC_INSPECTING"], W.R_OPERATOR, insp)
            eq = self.zone[cur] * 2 + (qr.random(m) >= 0.8)  # primary device does most inspections
            faulty = (eq == self.inc.qc_eq) & (tq >= p0) & (tq < p1) if self.inc.qc else np.zeros(m, bool)
            dq = (self.ln(qr, 0.15 * HOUR, 0.5, m) * self.speed[cur] * np.where(faulty, 2.5, 1.0)).astype(I64)
            td = self.wt(tq, dq)
            pf = np.where(faulty, 0.5, 0.02)
            fail = (qr.random(m) < pf) & (attempt < 4)
            res = np.where(fail, 1 + (qr.random(m) < 0.5), 0)
            defect = np.where(faulty & (qr.random(m) < 0.65), 4, (qr.random(m) * 4).astype(I64))
            rep = self.rec(
                "qc_reports",
                m,
                oi=cur,
                wh=self.wh[cur],
                zone=self.zone[cur],
                result=res,
                defect=np.where(fail, defect, -1),
                insp=insp,
                eq=eq,
                t=td,
                incident=faulty & fail,
            )
            ok_ = ~fail
            self.ev(
                cur[ok_],
                td[ok_],
                N["QC_INSPECTING"],
                N["QC_PASSED"],
                W.R_OPERATOR,
                insp[ok_],
                imps=((K["qc_reports"], rep[ok_]),),
            )
            t[cur[ok_]] = td[ok_]
            f_oi, f_t = cur[fail], td[fail]
            if len(f_oi) == 0:
                break
            # re-pick: replacement stock has to be fetched, so it takes longer than a normal pick
            rp_end = self.wt(f_t, (self.ln(qr, 3 * HOUR, 0.6, len(f_oi)) * self.speed[f_oi]).astype(I64))
            rp_op = self._staff(W.OP_CREW, A.operator, self.zone[f_oi], f_t, qr)
            tk = self.rec(
                "warehouse_tasks",
                len(f_oi),
                oi=f_oi,
                type=1,
                wave=-1,
                wh=self.wh[f_oi],
                zone=self.zone[f_oi],
                op=rp_op,
                t=f_t,
                end=rp_end,
            )
            self.qc_incident_reports.append((rep[fail], tk, faulty[fail], f_oi))
            self.ev(
                f_oi,
                f_t,
                N["QC_INSPECTING"],
                N["PICKING"],
                W.R_OPERATOR,
                insp[fail],
                RC["QC_FAILED"],
                K["qc_reports"],
                rep[fail],
                imps=((K["warehouse_tasks"], tk),),
                diff=D_QC,
                dv=res[fail],
            )
            cur, cur_end, cur_picker = f_oi, rp_end, rp_op
        q = p

        # --- pack, sort, load ----------------------------------------------------------------
        wr = self.rng("warehouse")
        nxt = self.wt(t[q], (self.ln(wr, 0.3 * HOUR, 0.6, len(q)) * self.speed[q]).astype(I64))
        op = self._staff(W.OP_CREW, A.operator, self.zone[q], nxt, wr)
        tk = self.rec(
            "warehouse_tasks",
            len(q),
            oi=q,
            type=2,
            wave=-1,
            wh=self.wh[q],
            zone=self.zone[q],
            op=op,
            t=t[q],
            end=nxt,
        )
        sh = self.rec("shipments", len(q), oi=q, t=nxt)
        self.ship_rid[q] = sh
        t[q] = nxt
        self.ev(
            q,
            t[q],
            N["QC_PASSED"],
            N["PACKED"],
            W.R_OPERATOR,
            op,
            imps=((K["warehouse_tasks"], tk), (K["shipments"], sh)),
        )
        nxt = self.wt(t[q], (self.ln(wr, 0.4 * HOUR, 0.6, len(q)) * self.speed[q]).astype(I64))
        op = self._staff(W.OP_CREW, A.operator, self.zone[q], nxt, wr)
        tk = self.rec(
            "warehouse_tasks",
            len(q),
            oi=q,
            type=3,
            wave=-1,
            wh=self.wh[q],
            zone=self.zone[q],
            op=op,
            t=t[q],
            end=nxt,
        )
        t[q] = nxt
        self.ev(q, t[q], N["PACKED"], N["SORTED"], W.R_OPERATOR, op, imps=((K["warehouse_tasks"], tk),))
        nxt = self.wt(t[q], (self.ln(wr, 1.0 * HOUR, 0.5, len(q)) * self.speed[q]).astype(I64))
        self._amend(q, N["SORTED"], t[q], nxt, wr)
        op = self._staff(W.OP_CREW, A.operator, self.zone[q], nxt, wr)
        t[q] = nxt
        self.ev(q, t[q], N["SORTED"], N["LOADED"], W.R_OPERATOR, op)

        # --- carrier ---------------------------------------------------------------------------
        cr = self.rng("carrier")
        carrier_actor = A.carrier + self.carrier
        t[q] = t[q] + self.ln(cr, 1.5 * HOUR, 0.5, len(q))
        sc = self.scan(q, t[q], -1, 0)
        nt = self.notify(q, t[q], T["shipped"])
        self.ev(
            q,
            t[q],
            N["LOADED"],
            N["HANDED_OVER"],
            W.R_CARRIER,
            carrier_actor[q],
            imps=((K["logistics_tracks"], sc), (K["notifications"], nt)),
            diff=D_WAYBILL,
            dv=self.ship_rid[q],
        )
        t[q] = t[q] + self.ln(cr, 5 * HOUR, 0.5, len(q))
        sc = self.scan(q, t[q], self.origin_hub[q], 1)
        self.ev(
            q,
            t[q],
            N["HANDED_OVER"],
            N["DEPARTED_ORIGIN_HUB"],
            W.R_CARRIER,
            carrier_actor[q],
            imps=((K["logistics_tracks"], sc),),
        )

        xb = q[self.cross[q]]
        dom = q[~self.cross[q]]
        # customs: filed by the broker during office hours (08-20 local)
        cu = self.rng("customs")
        td = t[xb] + self.ln(cu, 10 * HOUR, 0.5, len(xb))
        self._amend(xb, N["DEPARTED_ORIGIN_HUB"], t[xb], td, cu)
        loc = (td + W.LOCAL) % DAY
        day0 = td - loc
        early = loc < 8 * HOUR
        late = loc >= 20 * HOUR
        td = np.where(early, day0 + 8 * HOUR, np.where(late, day0 + DAY + 8 * HOUR, td))
        td = td + np.where(early | late, self.ln(cu, 40 * MIN, 0.6, len(xb)), 0)
        decl = self.rec("customs_declarations", len(xb), oi=xb, broker=self.broker[xb], t=td)
        t[xb] = td
        brk_actor = A.broker + self.broker[xb]
        self.ev(
            xb,
            td,
            N["DEPARTED_ORIGIN_HUB"],
            N["CUSTOMS_DECLARED"],
            W.R_BROKER,
            brk_actor,
            evk=K["customs_declarations"],
            evr=decl,
            imps=((K["customs_declarations"], decl),),
        )
        clear = td + self.ln(cu, 6 * HOUR, 0.7, len(xb))
        bg_hold = cu.random(len(xb)) < 0.04
        extra = np.where(bg_hold, self.ln(cu, 12 * HOUR, 0.5, len(xb)), 0)
        w0, w1 = self.inc.broker_window
        stall = (
            (self.broker[xb] == self.inc.broker) & (td >= w0) & (td < w1)
            if self.inc.customs
            else np.zeros(len(xb), bool)
        )
        extra = np.where(stall, (cu.uniform(20, 40, len(xb)) * HOUR).astype(I64), extra)
        held = bg_hold | stall
        clear = clear + extra
        self.customs_stall = xb[stall]
        self.customs_stall_decl = decl[stall]
        h = xb[held]
        th = td[held] + np.minimum(self.ln(cu, 2 * HOUR, 0.5, len(h)), (clear[held] - td[held]) // 2)
        nt = self.notify(h, th, T["customs_hold"])
        self.ev(
            h,
            th,
            N["CUSTOMS_DECLARED"],
            N["CUSTOMS_DECLARED"],
            W.R_BROKER,
            brk_actor[held],
            RC["CUSTOMS_HOLD"],
            K["customs_declarations"],
            decl[held],
            imps=((K["notifications"], nt),),
            diff=D_CUSTOMS,
        )
        self.held[h] = True
        self.hold_t = np.full(n, -1, I64)
        self.hold_t[h] = th
        hold_t = np.full(len(xb), -1, I64)
        hold_t[held] = th
        if len(xb):
            self.recs["customs_declarations"][-1].update(clear=clear, hold_t=hold_t, stall=stall)
        self.ev(
            xb,
            clear,
            N["CUSTOMS_DECLARED"],
            N["CUSTOMS_CLEARED"],
            W.R_BROKER,
            brk_actor,
            np.where(held, RC["CUSTOMS_HOLD"], -1),
            K["customs_declarations"],
            decl,
        )
        t[xb] = clear + self.ln(cu, 18 * HOUR, 0.4, len(xb))
        self.scan(xb, clear + HOUR, self.dest_hub[xb], 7)
        sc = self.scan(xb, t[xb], self.dest_hub[xb], 3)
        self.ev(
            xb,
            t[xb],
            N["CUSTOMS_CLEARED"],
            N["ARRIVED_DEST_HUB"],
            W.R_CARRIER,
            carrier_actor[xb],
            imps=((K["logistics_tracks"], sc),),
        )
        # domestic linehaul
        same = W.WH_REGION[self.wh[dom]] == W.WH_REGION[self.dest_wh[dom]]
        dep = t[dom]
        t[dom] = dep + (
            np.exp(0.4 * cr.standard_normal(len(dom))) * np.where(same, 7 * HOUR, 16 * HOUR)
        ).astype(I64)
        self._amend(dom, N["DEPARTED_ORIGIN_HUB"], dep, t[dom], cr)
        far = dom[~same]
        self.scan(far, dep[~same] + (t[far] - dep[~same]) // 2, -1, 2)
        sc = self.scan(dom, t[dom], self.dest_hub[dom], 3)
        self.ev(
            dom,
            t[dom],
            N["DEPARTED_ORIGIN_HUB"],
            N["ARRIVED_DEST_HUB"],
            W.R_CARRIER,
            carrier_actor[dom],
            imps=((K["logistics_tracks"], sc),),
        )

        # --- last mile: delivery rounds at 08:30 and 13:30 local, failed attempts -----------
        dr = self.rng("delivery")
        cur = q
        for attempt in range(3):
            m = len(cur)
            if m == 0:
                break
            ta = t[cur]
            loc = (ta + W.LOCAL) % DAY
            day0 = ta - loc
            ready = loc + HOUR
            rnd = np.where(
                ready <= 8.5 * HOUR,
                day0 + int(8.5 * HOUR),
                np.where(ready <= 13.5 * HOUR, day0 + int(13.5 * HOUR), day0 + DAY + int(8.5 * HOUR)),
            )
            tofd = rnd + self.ln(dr, 20 * MIN, 0.5, m)
            if attempt == 0:
                self._amend(cur, N["ARRIVED_DEST_HUB"], ta, tofd, dr)
            sc = self.scan(cur, tofd, self.dest_hub[cur], 4)
            nt = self.notify(cur, tofd, T["out_for_delivery"])
            self.ev(
                cur,
                tofd,
                N["ARRIVED_DEST_HUB"],
                N["OUT_FOR_DELIVERY"],
                W.R_CARRIER,
                carrier_actor[cur],
                imps=((K["logistics_tracks"], sc), (K["notifications"], nt)),
            )
            tdl = tofd + np.minimum(self.ln(dr, 2.5 * HOUR, 0.5, m), 9 * HOUR)
            fail = ((attempt == 0) & self.fail_deliv[cur]) | ((attempt == 1) & self.fail_twice[cur])
            ok_ = ~fail
            d_oi, d_t = cur[ok_], tdl[ok_]
            sc = self.scan(d_oi, d_t, -1, 5)
            nt = self.notify(d_oi, d_t, T["delivered"])
            self.ev(
                d_oi,
                d_t,
                N["OUT_FOR_DELIVERY"],
                N["DELIVERED"],
                W.R_CARRIER,
                carrier_actor[d_oi],
                imps=((K["logistics_tracks"], sc), (K["notifications"], nt)),
            )
            self.delivered_t[d_oi] = d_t
            self.last_t[d_oi] = d_t
            f_oi, f_t = cur[fail], tdl[fail]
            addr = dr.random(len(f_oi)) < 0.2
            sc = self.scan(f_oi, f_t, -1, 6)
            nt = self.notify(f_oi, f_t, T["delivery_failed"])
            self.ev(
                f_oi,
                f_t,
                N["OUT_FOR_DELIVERY"],
                N["ARRIVED_DEST_HUB"],
                W.R_CARRIER,
                carrier_actor[f_oi],
                np.where(addr, RC["ADDRESS_CHANGED"], RC["DELIVERY_FAILED"]),
                K["logistics_tracks"],
                sc,
                imps=((K["notifications"], nt),),
                diff=np.where(addr, D_ADDR, D_ATTEMPT),
                dv=np.where(addr, f_oi, attempt + 1),
            )
            self.failed_t[f_oi] = f_t
            t[f_oi] = f_t + self.ln(dr, 40 * MIN, 0.5, len(f_oi))
            cur = f_oi

        # --- returns ---------------------------------------------------------------------------
        rr_ = self.rng("returns")
        r = q[self.returned[q]]
        t1 = self.delivered_t[r] + self.ln(rr_, 3 * DAY, 0.6, len(r))
        reason = (rr_.random(len(r)) * 4).astype(I64)
        t2 = t1 + self.ln(rr_, 3 * DAY, 0.35, len(r))
        t3 = t2 + self.ln(rr_, 20 * HOUR, 0.5, len(r))
        rma = self.rec("returns", len(r), oi=r, reason=reason, t=t1, received=t2, refunded=t3)
        self.return_t[r] = t1
        self.ev(
            r,
            t1,
            N["DELIVERED"],
            N["RETURN_REQUESTED"],
            W.R_USER,
            self.cust_actor[r],
            RC["DAMAGED"] + reason,
            imps=((K["returns"], rma),),
        )
        self.ev(
            r,
            t2,
            N["RETURN_REQUESTED"],
            N["RETURN_RECEIVED"],
            W.R_SYSTEM,
            W.A_RMA,
            imps=((K["returns"], rma),),
        )
        sup = A.supervisor + (r % 6)
        apr = self.rec("approvals", len(r), oi=r, type=2, approver=sup, decision=0, t=t2, decided=t3)
        nt = self.notify(r, t3, T["refund_issued"])
        self.ev(
            r,
            t3,
            N["RETURN_RECEIVED"],
            N["REFUNDED"],
            W.R_SYSTEM,
            W.A_PAY,
            imps=((K["approvals"], apr), (K["payments"], r), (K["notifications"], nt)),
            diff=D_REFUND,
            dv=np.rint(self.amount[r] * 100).astype(I64),
        )
        self.refund_t[r] = t3
        self.last_t[r] = t3

        # --- proactive delay notices: promised time about to be missed ------------------------
        live = ~self.pay_timeout & ~self.risk_reject & ~self.stockout & ~self.cust_cancel
        dn_t = self.promised - 3 * HOUR
        late = live & ((self.delivered_t < 0) | (self.delivered_t > dn_t)) & (dn_t > self.created)
        lo = np.nonzero(late)[0]
        self.notify(lo, dn_t[lo], T["delay_notice"])
        self.late = late

    def scan(self, oi, at, hub, scan_type) -> np.ndarray:
        return self.rec(
            "logistics_tracks", len(oi), oi=oi, ship=self.ship_rid[oi], t=at, hub=hub, type=scan_type
        )
