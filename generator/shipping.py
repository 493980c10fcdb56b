"""The lifecycle stages after the loading dock: carrier hand-over, customs (cross-border),
linehaul (domestic), the last mile with failed attempts, returns, and delay notices.

Like the warehouse stages, each takes the orders that reach it and `t`, every order's current
time (updated in place). They draw from the streams "carrier", "customs", "delivery" and
"returns", in the order `lifecycle.simulate` calls them.
"""

from __future__ import annotations

import numpy as np

from orderscope.generator import world as W
from orderscope.generator.records import D_ADDR, D_ATTEMPT, D_CUSTOMS, D_REFUND, D_WAYBILL, I64, K, T
from orderscope.generator.simulation import Sim
from orderscope.generator.world import DAY, HOUR, MIN, NODE, RC


def hand_over(sim: Sim, q: np.ndarray, t: np.ndarray, cr: np.random.Generator) -> None:
    """The carrier picks the parcel up (the waybill is set) and it leaves the origin hub."""
    carrier_actor = sim.carrier_actor(q)
    t[q] = t[q] + sim.ln(cr, 1.5 * HOUR, 0.5, len(q))
    sc = sim.scan(q, t[q], -1, 0)
    nt = sim.notify(q, t[q], T["shipped"])
    sim.ev(
        q,
        t[q],
        NODE["LOADED"],
        NODE["HANDED_OVER"],
        W.R_CARRIER,
        carrier_actor,
        imps=((K["logistics_tracks"], sc), (K["notifications"], nt)),
        diff=D_WAYBILL,
        dv=sim.ship_rid[q],
    )
    t[q] = t[q] + sim.ln(cr, 5 * HOUR, 0.5, len(q))
    sc = sim.scan(q, t[q], sim.origin_hub[q], 1)
    sim.ev(
        q,
        t[q],
        NODE["HANDED_OVER"],
        NODE["DEPARTED_ORIGIN_HUB"],
        W.R_CARRIER,
        carrier_actor,
        imps=((K["logistics_tracks"], sc),),
    )


def clear_customs(sim: Sim, xb: np.ndarray, t: np.ndarray) -> None:
    """Cross-border orders: declared by the broker, sometimes held (the planted stall holds
    every declaration of one broker in a window), cleared, then flown to the destination hub."""
    cu = sim.rng("customs")
    td, decl = _declare(sim, xb, t, cu)
    clear, held = _hold(sim, xb, td, decl, cu)
    sim.ev(
        xb,
        clear,
        NODE["CUSTOMS_DECLARED"],
        NODE["CUSTOMS_CLEARED"],
        W.R_BROKER,
        sim.actors.broker + sim.broker[xb],
        np.where(held, RC["CUSTOMS_HOLD"], -1),
        K["customs_declarations"],
        decl,
    )
    t[xb] = clear + sim.ln(cu, 18 * HOUR, 0.4, len(xb))
    sim.scan(xb, clear + HOUR, sim.dest_hub[xb], 7)
    sc = sim.scan(xb, t[xb], sim.dest_hub[xb], 3)
    sim.ev(
        xb,
        t[xb],
        NODE["CUSTOMS_CLEARED"],
        NODE["ARRIVED_DEST_HUB"],
        W.R_CARRIER,
        sim.carrier_actor(xb),
        imps=((K["logistics_tracks"], sc),),
    )


def _declare(
    sim: Sim, xb: np.ndarray, t: np.ndarray, cu: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The broker files the declaration during office hours (08-20 local). Returns the
    declaration times and record ids."""
    td = t[xb] + sim.ln(cu, 10 * HOUR, 0.5, len(xb))
    sim.amend(xb, NODE["DEPARTED_ORIGIN_HUB"], t[xb], td, cu)
    loc = (td + W.LOCAL) % DAY
    day0 = td - loc
    early = loc < 8 * HOUR
    late = loc >= 20 * HOUR
    td = np.where(early, day0 + 8 * HOUR, np.where(late, day0 + DAY + 8 * HOUR, td))
    td = td + np.where(early | late, sim.ln(cu, 40 * MIN, 0.6, len(xb)), 0)
    decl = sim.rec("customs_declarations", len(xb), oi=xb, broker=sim.broker[xb], t=td)
    t[xb] = td
    sim.ev(
        xb,
        td,
        NODE["DEPARTED_ORIGIN_HUB"],
        NODE["CUSTOMS_DECLARED"],
        W.R_BROKER,
        sim.actors.broker + sim.broker[xb],
        evk=K["customs_declarations"],
        evr=decl,
        imps=((K["customs_declarations"], decl),),
    )
    return td, decl


def _hold(
    sim: Sim, xb: np.ndarray, td: np.ndarray, decl: np.ndarray, cu: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """When each declaration clears, and which are held on the way (a background 4 %, plus the
    planted broker stall). Returns the clearance times and the held mask."""
    clear = td + sim.ln(cu, 6 * HOUR, 0.7, len(xb))
    bg_hold = cu.random(len(xb)) < 0.04
    extra = np.where(bg_hold, sim.ln(cu, 12 * HOUR, 0.5, len(xb)), 0)
    w0, w1 = sim.inc.broker_window
    stall = (
        (sim.broker[xb] == sim.inc.broker) & (td >= w0) & (td < w1)
        if sim.inc.customs
        else np.zeros(len(xb), bool)
    )
    extra = np.where(stall, (cu.uniform(20, 40, len(xb)) * HOUR).astype(I64), extra)
    held = bg_hold | stall
    clear = clear + extra
    sim.customs_stall = xb[stall]
    sim.customs_stall_decl = decl[stall]
    h = xb[held]
    th = td[held] + np.minimum(sim.ln(cu, 2 * HOUR, 0.5, len(h)), (clear[held] - td[held]) // 2)
    nt = sim.notify(h, th, T["customs_hold"])
    sim.ev(
        h,
        th,
        NODE["CUSTOMS_DECLARED"],
        NODE["CUSTOMS_DECLARED"],
        W.R_BROKER,
        (sim.actors.broker + sim.broker[xb])[held],
        RC["CUSTOMS_HOLD"],
        K["customs_declarations"],
        decl[held],
        imps=((K["notifications"], nt),),
        diff=D_CUSTOMS,
    )
    sim.held[h] = True
    sim.hold_t = np.full(sim.n, -1, I64)
    sim.hold_t[h] = th
    hold_t = np.full(len(xb), -1, I64)
    hold_t[held] = th
    if len(xb):
        sim.recs["customs_declarations"][-1].update(clear=clear, hold_t=hold_t, stall=stall)
    return clear, held


def linehaul(sim: Sim, dom: np.ndarray, t: np.ndarray, cr: np.random.Generator) -> None:
    """Domestic orders travel to the destination hub (longer between regions, with an
    in-transit scan half-way)."""
    same = W.WH_REGION[sim.wh[dom]] == W.WH_REGION[sim.dest_wh[dom]]
    dep = t[dom]
    t[dom] = dep + (np.exp(0.4 * cr.standard_normal(len(dom))) * np.where(same, 7 * HOUR, 16 * HOUR)).astype(
        I64
    )
    sim.amend(dom, NODE["DEPARTED_ORIGIN_HUB"], dep, t[dom], cr)
    far = dom[~same]
    sim.scan(far, dep[~same] + (t[far] - dep[~same]) // 2, -1, 2)
    sc = sim.scan(dom, t[dom], sim.dest_hub[dom], 3)
    sim.ev(
        dom,
        t[dom],
        NODE["DEPARTED_ORIGIN_HUB"],
        NODE["ARRIVED_DEST_HUB"],
        W.R_CARRIER,
        sim.carrier_actor(dom),
        imps=((K["logistics_tracks"], sc),),
    )


def deliver(sim: Sim, q: np.ndarray, t: np.ndarray) -> None:
    """The last mile: delivery rounds at 08:30 and 13:30 local, up to three attempts."""
    dr = sim.rng("delivery")
    cur = q
    for attempt in range(3):
        if len(cur) == 0:
            break
        cur = _delivery_round(sim, cur, attempt, t, dr)


def _delivery_round(
    sim: Sim, cur: np.ndarray, attempt: int, t: np.ndarray, dr: np.random.Generator
) -> np.ndarray:
    """One delivery attempt: out for delivery, then delivered or failed (back to the hub).
    Returns the orders that failed and try again."""
    m = len(cur)
    ta = t[cur]
    loc = (ta + W.LOCAL) % DAY
    day0 = ta - loc
    ready = loc + HOUR
    rnd = np.where(
        ready <= 8.5 * HOUR,
        day0 + int(8.5 * HOUR),
        np.where(ready <= 13.5 * HOUR, day0 + int(13.5 * HOUR), day0 + DAY + int(8.5 * HOUR)),
    )
    tofd = rnd + sim.ln(dr, 20 * MIN, 0.5, m)
    if attempt == 0:
        sim.amend(cur, NODE["ARRIVED_DEST_HUB"], ta, tofd, dr)
    sc = sim.scan(cur, tofd, sim.dest_hub[cur], 4)
    nt = sim.notify(cur, tofd, T["out_for_delivery"])
    sim.ev(
        cur,
        tofd,
        NODE["ARRIVED_DEST_HUB"],
        NODE["OUT_FOR_DELIVERY"],
        W.R_CARRIER,
        sim.carrier_actor(cur),
        imps=((K["logistics_tracks"], sc), (K["notifications"], nt)),
    )
    tdl = tofd + np.minimum(sim.ln(dr, 2.5 * HOUR, 0.5, m), 9 * HOUR)
    fail = ((attempt == 0) & sim.fail_deliv[cur]) | ((attempt == 1) & sim.fail_twice[cur])
    ok_ = ~fail
    d_oi, d_t = cur[ok_], tdl[ok_]
    sc = sim.scan(d_oi, d_t, -1, 5)
    nt = sim.notify(d_oi, d_t, T["delivered"])
    sim.ev(
        d_oi,
        d_t,
        NODE["OUT_FOR_DELIVERY"],
        NODE["DELIVERED"],
        W.R_CARRIER,
        sim.carrier_actor(d_oi),
        imps=((K["logistics_tracks"], sc), (K["notifications"], nt)),
    )
    sim.delivered_t[d_oi] = d_t
    sim.last_t[d_oi] = d_t
    f_oi, f_t = cur[fail], tdl[fail]
    addr = dr.random(len(f_oi)) < 0.2
    sc = sim.scan(f_oi, f_t, -1, 6)
    nt = sim.notify(f_oi, f_t, T["delivery_failed"])
    sim.ev(
        f_oi,
        f_t,
        NODE["OUT_FOR_DELIVERY"],
        NODE["ARRIVED_DEST_HUB"],
        W.R_CARRIER,
        sim.carrier_actor(f_oi),
        np.where(addr, RC["ADDRESS_CHANGED"], RC["DELIVERY_FAILED"]),
        K["logistics_tracks"],
        sc,
        imps=((K["notifications"], nt),),
        diff=np.where(addr, D_ADDR, D_ATTEMPT),
        dv=np.where(addr, f_oi, attempt + 1),
    )
    sim.failed_t[f_oi] = f_t
    t[f_oi] = f_t + sim.ln(dr, 40 * MIN, 0.5, len(f_oi))
    return f_oi


def take_back(sim: Sim, q: np.ndarray) -> None:
    """Returns: requested some days after delivery, received, approved and refunded."""
    rr_ = sim.rng("returns")
    r = q[sim.returned[q]]
    t1 = sim.delivered_t[r] + sim.ln(rr_, 3 * DAY, 0.6, len(r))
    reason = (rr_.random(len(r)) * 4).astype(I64)
    t2 = t1 + sim.ln(rr_, 3 * DAY, 0.35, len(r))
    t3 = t2 + sim.ln(rr_, 20 * HOUR, 0.5, len(r))
    rma = sim.rec("returns", len(r), oi=r, reason=reason, t=t1, received=t2, refunded=t3)
    sim.return_t[r] = t1
    sim.ev(
        r,
        t1,
        NODE["DELIVERED"],
        NODE["RETURN_REQUESTED"],
        W.R_USER,
        sim.cust_actor[r],
        RC["DAMAGED"] + reason,
        imps=((K["returns"], rma),),
    )
    sim.ev(
        r,
        t2,
        NODE["RETURN_REQUESTED"],
        NODE["RETURN_RECEIVED"],
        W.R_SYSTEM,
        W.A_RMA,
        imps=((K["returns"], rma),),
    )
    sup = sim.actors.supervisor + (r % 6)
    apr = sim.rec("approvals", len(r), oi=r, type=2, approver=sup, decision=0, t=t2, decided=t3)
    nt = sim.notify(r, t3, T["refund_issued"])
    sim.ev(
        r,
        t3,
        NODE["RETURN_RECEIVED"],
        NODE["REFUNDED"],
        W.R_SYSTEM,
        W.A_PAY,
        imps=((K["approvals"], apr), (K["payments"], r), (K["notifications"], nt)),
        diff=D_REFUND,
        dv=np.rint(sim.amount[r] * 100).astype(I64),
    )
    sim.refund_t[r] = t3
    sim.last_t[r] = t3


def warn_of_delays(sim: Sim) -> None:
    """Proactive delay notices: three hours before a promise that is about to be missed."""
    live = ~sim.pay_timeout & ~sim.risk_reject & ~sim.stockout & ~sim.cust_cancel
    dn_t = sim.promised - 3 * HOUR
    late = live & ((sim.delivered_t < 0) | (sim.delivered_t > dn_t)) & (dn_t > sim.created)
    lo = np.nonzero(late)[0]
    sim.notify(lo, dn_t[lo], T["delay_notice"])
    sim.late = late
