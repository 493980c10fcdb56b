"""The simulation's state and plumbing, and the draws every order starts from.

Orders advance stage by stage as numpy arrays (one array operation per stage and loop round, never
one Python step per event). Every status change is appended as a chunk of events; every record a
stage causes (task, QC report, scan, notification, ...) as a chunk of records with a per-kind
running id ("rid") that the writer later turns into a readable, chronological record id. The
stages themselves are in `warehouse` and `shipping`, run in order by `lifecycle.simulate`.

Every component draws from its own named random stream (world.stream), and the draws of each
stream happen in a fixed order: the same seed gives the same data, byte for byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from orderscope.generator import world as W
from orderscope.generator.records import D_ADDR, D_CANCEL, D_NONE, D_REFUND, I8, I32, I64, K, T
from orderscope.generator.world import DAY, HOUR, NODE, RC, SEC

# Orders per local hour of the day (00-11, 12-23) and per weekday (Monday first), relative.
DIURNAL = np.array(
    (0.35, 0.2, 0.12, 0.08, 0.08, 0.12, 0.3, 0.55, 0.8, 0.95, 1.0, 1.05)
    + (1.15, 1.05, 1.0, 0.95, 0.95, 1.0, 1.1, 1.3, 1.55, 1.6, 1.3, 0.75)
)
WEEKLY = np.array([1.08, 1.0, 0.98, 0.97, 1.02, 0.95, 1.05])

Values = np.ndarray | int  # a column of values, or one value for every row


@dataclass
class Incidents:
    """Which incidents are planted, when, and on which entities (indexes into the world)."""

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
    """Per-order arrays (dimensions, fates, outcomes) and the event and record chunks so far.

    draw_orders sets the per-order arrays; the stages fill the outcomes (paid_t, delivered_t,
    ...) and set what later stages, the auxiliary records and the ground truth read:
    pay_attempt, wave_slot (warehouse), loop_apr, qc_incident_reports (the planted loop and QC
    incident), customs_stall, customs_stall_decl, hold_t (shipping), late (delay notices)."""

    seed: int
    n: int
    start: int
    end: int
    inc: Incidents
    actors: W.Actors = field(init=False)
    events: list[dict[str, np.ndarray]] = field(default_factory=list)
    recs: dict[str, list[dict[str, np.ndarray]]] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)

    # -- plumbing ----------------------------------------------------------------------------
    def rng(self, name: str) -> np.random.Generator:
        return W.stream(self.seed, name)

    def ev(
        self,
        oi: Values,
        at: Values,
        frm: Values,
        to: Values,
        role: Values,
        actor: Values,
        reason: Values = -1,
        evk: Values = -1,
        evr: Values = -1,
        imps: Sequence[tuple[Values, Values]] = (),
        diff: Values = D_NONE,
        dv: Values = 0,
    ) -> None:
        """Append one chunk of status changes (`seq` keeps same-instant events in call order)."""
        n = len(oi)  # type: ignore[arg-type]
        if n == 0:
            return

        def full(x: Any, dt: type) -> np.ndarray:
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

    def rec(self, kind: str, n: int, **cols: Any) -> np.ndarray:
        """Append `n` records of `kind`; returns their running ids."""
        base = self.counters.get(kind, 0)
        rid = np.arange(base, base + n, dtype=I64)
        self.counters[kind] = base + n
        if n:
            chunk = {"rid": rid}
            for c, v in cols.items():
                chunk[c] = np.full(n, v) if np.isscalar(v) else np.array(v)
            self.recs.setdefault(kind, []).append(chunk)
        return rid

    def ln(self, rng: np.random.Generator, median_ms: float, sigma: float, n: int) -> np.ndarray:
        """`n` log-normal durations (ms, at least a second) around `median_ms`."""
        return np.maximum((median_ms * np.exp(sigma * rng.standard_normal(n))).astype(I64), SEC)

    def _work_grid(self) -> None:
        """Work-time: warehouses work at full rate 06-22 local, a reduced night crew 22-06,
        lighter Sundays."""
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

    def notify(self, oi: np.ndarray, at: np.ndarray, template: int) -> np.ndarray:
        return self.rec("notifications", len(oi), oi=oi, t=at, template=template)

    def scan(self, oi: np.ndarray, at: np.ndarray, hub: Values, scan_type: int) -> np.ndarray:
        return self.rec(
            "logistics_tracks", len(oi), oi=oi, ship=self.ship_rid[oi], t=at, hub=hub, type=scan_type
        )

    def carrier_actor(self, oi: np.ndarray) -> np.ndarray:
        """The actor index of each order's carrier."""
        return self.actors.carrier + self.carrier[oi]

    # -- the orders ------------------------------------------------------------------------------
    def draw_orders(self) -> None:
        """Creation times, dimensions and fates of every order (before any stage runs)."""
        self._work_grid()
        rng = self.rng("orders")
        self._creation(rng)
        self._dimensions(rng)
        self._fates()
        self._outcomes()

    def _creation(self, rng: np.random.Generator) -> None:
        n = self.n
        hours = np.arange(self.start, self.end, HOUR, dtype=I64)
        local = hours + W.LOCAL
        h = (local % DAY) // HOUR
        dow = ((local // DAY) + 3) % 7
        w = DIURNAL[h] * WEEKLY[dow]
        slot = rng.choice(len(hours), size=n, p=w / w.sum())
        self.created = np.sort(hours[slot] + rng.integers(0, HOUR, n))

    def _dimensions(self, rng: np.random.Generator) -> None:
        """Customer, warehouse, channel, SKU, amount, route, carrier, broker of each order."""
        n = self.n
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

    def _fates(self) -> None:
        """What will happen to each order: drawn for every order in every scenario, so clean
        and incident runs share the noise."""
        n, created = self.n, self.created
        u = self.rng("fates").random((16, n))
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

    def _outcomes(self) -> None:
        """Per-order outcomes the stages fill in (-1: did not happen)."""
        n = self.n
        self.refund_t = np.full(n, -1, I64)
        self.paid_t = np.full(n, -1, I64)
        self.delivered_t = np.full(n, -1, I64)
        self.ship_rid = np.full(n, -1, I64)
        self.failed_t = np.full(n, -1, I64)
        self.held = np.zeros(n, bool)
        self.return_t = np.full(n, -1, I64)
        self.last_t = self.created.copy()

    # -- helpers the stages share ----------------------------------------------------------------
    def cancel(
        self,
        oi: np.ndarray,
        at: np.ndarray,
        frm: int,
        reason: str,
        actor: Values,
        role: int,
        evk: int = -1,
        evr: Values = -1,
        imps: Sequence[tuple[Values, Values]] = (),
    ) -> None:
        """Cancel orders (with the customer's notice), and refund the ones that had paid."""
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

    def _refund_after_cancel(self, oi: np.ndarray, at: np.ndarray) -> None:
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

    def amend(
        self, oi: np.ndarray, node: int, t0: np.ndarray, t1: np.ndarray, rng: np.random.Generator
    ) -> None:
        """The address change of the orders whose amendment falls in `node` (between t0, t1)."""
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

    def customer_cancel(
        self, oi: np.ndarray, node: int, t0: np.ndarray, t1: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """Orders whose customer cancels while in `node`: emit the cancel, return the survivors."""
        m = self.cancel_node[oi] == node
        c = oi[m]
        at = t0[m] + ((t1[m] - t0[m]) * rng.uniform(0.1, 0.9, len(c))).astype(I64)
        self.cancel(c, at, node, "CUSTOMER_CANCELLED", self.cust_actor[c], W.R_USER)
        return ~m

    def staff(
        self, crews: np.ndarray, base: int, zone: np.ndarray, t: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """The actor index of a crew member on shift at `t` in `zone`."""
        return base + W.crew_member(crews, zone, t, rng.random(len(t)))
