"""The lifecycle stages up to the loading dock: payment, risk check, allocation, wave, picking
(with the express path's stock-out loops), QC with rework, pack, sort, load.

Each stage takes the orders that reach it and `t`, every order's current time (updated in place),
and returns the orders that go on. The stages draw from the streams "lifecycle", "loops", "qc"
and "warehouse", in the order `lifecycle.simulate` calls them.
"""

from __future__ import annotations

import numpy as np

from orderscope.generator import world as W
from orderscope.generator.records import D_ALLOC, D_CANCEL, D_PAY, D_QC, I64, K, T
from orderscope.generator.simulation import Sim
from orderscope.generator.world import HOUR, MIN, NODE, RC, SEC


def create_and_pay(sim: Sim, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Every order is created; it is paid, or cancelled when the payment times out. Returns
    the paid orders."""
    n = sim.n
    allo = np.arange(n, dtype=I64)
    sim.ev(allo, t, -1, NODE["CREATED"], W.R_USER, sim.cust_actor)
    pay_at = t + sim.ln(rng, 3 * MIN, 1.0, n)
    pt = allo[sim.pay_timeout]
    sim.pay_attempt = np.where(sim.pay_timeout, t + sim.ln(rng, 4 * MIN, 0.6, n), pay_at - 2 * SEC)
    sim.cancel(
        pt,
        t[pt] + sim.ln(rng, 30 * MIN, 0.15, len(pt)),
        NODE["CREATED"],
        "PAYMENT_TIMEOUT",
        W.A_PAY,
        W.R_SYSTEM,
    )
    ok = allo[~sim.pay_timeout]
    t[ok] = pay_at[ok]
    sim.paid_t[ok] = pay_at[ok]
    nt = sim.notify(ok, t[ok], T["order_confirmed"])
    sim.ev(
        ok,
        t[ok],
        NODE["CREATED"],
        NODE["PAID"],
        W.R_SYSTEM,
        W.A_PAY,
        imps=((K["payments"], ok), (K["notifications"], nt)),
        diff=D_PAY,
    )
    return ok


def check_risk(sim: Sim, a: np.ndarray, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The standard path's risk check: a few orders go to a supervisor's review (an approval),
    some of those are rejected (cancelled). Returns the orders that pass."""
    A = sim.actors
    d = sim.ln(rng, 2 * MIN, 0.8, len(a))
    rr = sim.risk_review[a]
    d_rr = sim.wt(t[a], sim.ln(rng, 1.5 * HOUR, 0.7, len(a))) - t[a]
    d = np.where(rr, d_rr, d)
    nxt = t[a] + d
    r_oi = a[rr]
    rej = sim.risk_reject[r_oi]
    apr = sim.rec(
        "approvals",
        len(r_oi),
        oi=r_oi,
        type=0,
        approver=A.supervisor + (r_oi % 6),
        decision=np.where(rej, 1, 0),
        t=t[r_oi],
        decided=nxt[rr],
    )
    apr_of = np.full(sim.n, -1, I64)
    apr_of[r_oi] = apr
    x = r_oi[rej]
    sim.cancel(
        x,
        nxt[rr][rej],
        NODE["PAID"],
        "RISK_REJECTED",
        A.supervisor + (x % 6),
        W.R_OPERATOR,
        K["approvals"],
        apr_of[x],
    )
    keep = ~sim.risk_reject[a]
    a, nxt = a[keep], nxt[keep]
    t[a] = nxt
    has = apr_of[a] >= 0
    sim.ev(a[~has], t[a[~has]], NODE["PAID"], NODE["RISK_CHECKED"], W.R_SYSTEM, W.A_RISK)
    sim.ev(
        a[has],
        t[a[has]],
        NODE["PAID"],
        NODE["RISK_CHECKED"],
        W.R_SYSTEM,
        W.A_RISK,
        imps=((K["approvals"], apr_of[a[has]]),),
    )
    return a


def allocate(sim: Sim, a: np.ndarray, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Stock is allocated, or the order is cancelled out of stock. Returns the allocated."""
    nxt = t[a] + sim.ln(rng, 5 * MIN, 0.7, len(a))
    so = sim.stockout[a]
    al = sim.rec("inventory_allocations", len(a), oi=a, status=np.where(so, 1, 0), t=nxt)
    x = a[so]
    sim.cancel(
        x,
        nxt[so],
        NODE["RISK_CHECKED"],
        "OUT_OF_STOCK",
        W.A_WMS,
        W.R_SYSTEM,
        imps=((K["inventory_allocations"], al[so]),),
    )
    a, nxt, al = a[~so], nxt[~so], al[~so]
    t[a] = nxt
    sim.ev(
        a,
        t[a],
        NODE["RISK_CHECKED"],
        NODE["ALLOCATED"],
        W.R_SYSTEM,
        W.A_WMS,
        imps=((K["inventory_allocations"], al),),
        diff=D_ALLOC,
        dv=sim.qty[a],
    )
    return a


def release_wave(
    sim: Sim, a: np.ndarray, t: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Allocated orders join a pick wave (or the customer amends or cancels first). Returns
    the released orders and a copy of the times at release."""
    nxt = sim.wt(t[a], (sim.ln(rng, 0.6 * HOUR, 0.6, len(a)) * sim.speed[a]).astype(I64))
    sim.amend(a, NODE["ALLOCATED"], t[a], nxt, rng)
    keep = sim.customer_cancel(a, NODE["ALLOCATED"], t[a], nxt, rng)
    a, nxt = a[keep], nxt[keep]
    t[a] = nxt
    sim.ev(a, t[a], NODE["ALLOCATED"], NODE["WAVE_RELEASED"], W.R_SYSTEM, W.A_WMS)
    return a, t.copy()


def start_picking(
    sim: Sim, a: np.ndarray, t: np.ndarray, wave_t: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """An operator starts the wave's pick task. Returns the orders picking."""
    nxt = sim.wt(t[a], (sim.ln(rng, 0.5 * HOUR, 0.6, len(a)) * sim.speed[a]).astype(I64))
    sim.amend(a, NODE["WAVE_RELEASED"], t[a], nxt, rng)
    keep = sim.customer_cancel(a, NODE["WAVE_RELEASED"], t[a], nxt, rng)
    a, nxt = a[keep], nxt[keep]
    picker = sim.staff(W.OP_CREW, sim.actors.operator, sim.zone[a], nxt, rng)
    tk = sim.rec(
        "warehouse_tasks",
        len(a),
        oi=a,
        type=0,
        wave=wave_t[a] // (30 * MIN),
        wh=sim.wh[a],
        zone=sim.zone[a],
        op=picker,
        t=wave_t[a],
        end=nxt,
    )
    t[a] = nxt
    sim.ev(
        a,
        t[a],
        NODE["WAVE_RELEASED"],
        NODE["PICKING"],
        W.R_OPERATOR,
        picker,
        imps=((K["warehouse_tasks"], tk),),
    )
    sim.wave_slot = np.full(sim.n, -1, I64)
    sim.wave_slot[a] = wave_t[a] // (30 * MIN)
    return a


def pick_express(sim: Sim, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Express orders go straight from PAID to PICKING; some hit a stock-out, are cancelled and
    reinstated by a supervisor, up to three rounds (the planted loop). Returns the orders."""
    lr = sim.rng("loops")
    t[b] = t[b] + sim.ln(lr, 10 * MIN, 0.6, len(b))
    sim.rec("inventory_allocations", len(b), oi=b, status=0, t=sim.paid_t[b] + SEC)
    sim.ev(b, t[b], NODE["PAID"], NODE["PICKING"], W.R_SYSTEM, W.A_WMS, RC["EXPRESS_PICK"])
    sim.loop_apr = []
    for rnd in range(1, 4):
        c = b[sim.loops[b] >= rnd]
        if len(c) == 0:
            break
        _stockout_round(sim, c, rnd, t, lr)
    return b


def _stockout_round(sim: Sim, c: np.ndarray, rnd: int, t: np.ndarray, lr: np.random.Generator) -> None:
    """One round of the express loop: pick, stock-out cancel, reinstatement, pick again."""
    A = sim.actors
    tc = sim.wt(t[c], sim.ln(lr, 0.4 * HOUR, 0.6, len(c)))
    op = sim.staff(W.OP_CREW, A.operator, sim.zone[c], t[c], lr)
    sim.rec(
        "warehouse_tasks",
        len(c),
        oi=c,
        type=1,
        wave=-1,
        wh=sim.wh[c],
        zone=sim.zone[c],
        op=op,
        t=t[c],
        end=tc,
    )
    al = sim.rec("inventory_allocations", len(c), oi=c, status=2, t=tc)
    nt = sim.notify(c, tc, T["out_of_stock"])
    sim.ev(
        c,
        tc,
        NODE["PICKING"],
        NODE["CANCELLED"],
        W.R_SYSTEM,
        W.A_WMS,
        RC["OUT_OF_STOCK"],
        imps=((K["inventory_allocations"], al), (K["notifications"], nt)),
        diff=D_CANCEL,
    )
    tr = tc + sim.ln(lr, 1.5 * HOUR, 0.6, len(c))
    sup = A.supervisor + ((c + rnd) % 6)
    apr = sim.rec("approvals", len(c), oi=c, type=1, approver=sup, decision=0, t=tc, decided=tr)
    sim.loop_apr.append((c, apr))
    sim.ev(
        c,
        tr,
        NODE["CANCELLED"],
        NODE["PAID"],
        W.R_OPERATOR,
        sup,
        RC["ORDER_REINSTATED"],
        K["approvals"],
        apr,
        imps=((K["approvals"], apr),),
    )
    t[c] = tr + sim.ln(lr, 10 * MIN, 0.6, len(c))
    sim.ev(c, t[c], NODE["PAID"], NODE["PICKING"], W.R_SYSTEM, W.A_WMS, RC["EXPRESS_PICK"])


def pick_and_inspect(sim: Sim, p: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Picking ends (or the customer cancels); QC inspects, failed items are re-picked and
    inspected again (at most five inspections). Returns the orders that passed QC."""
    qr = sim.rng("qc")
    pick_end = sim.wt(t[p], (sim.ln(qr, 0.2 * HOUR, 0.6, len(p)) * sim.speed[p]).astype(I64))
    keep = sim.customer_cancel(p, NODE["PICKING"], t[p], pick_end, qr)
    p, pick_end = p[keep], pick_end[keep]
    picker = sim.staff(W.OP_CREW, sim.actors.operator, sim.zone[p], t[p], qr)
    sim.rec(
        "warehouse_tasks",
        len(p),
        oi=p,
        type=1,
        wave=sim.wave_slot[p],
        wh=sim.wh[p],
        zone=sim.zone[p],
        op=picker,
        t=t[p],
        end=pick_end,
    )
    sim.qc_incident_reports = []
    cur, cur_end, cur_picker = p, pick_end, picker
    for attempt in range(5):
        if len(cur) == 0:
            break
        cur, cur_end, cur_picker = _inspection(sim, cur, cur_end, cur_picker, attempt, t, qr)
    return p


def _inspection(
    sim: Sim,
    cur: np.ndarray,
    tpk: np.ndarray,
    cur_picker: np.ndarray,
    attempt: int,
    t: np.ndarray,
    qr: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One QC round: picked, inspected (the faulty device fails half during the incident),
    passed or sent back to a (slower) re-pick. Returns the re-picked orders, their pick end and
    picker for the next round."""
    A, inc = sim.actors, sim.inc
    p0, p1 = inc.period
    m = len(cur)
    sim.ev(cur, tpk, NODE["PICKING"], NODE["PICKED"], W.R_OPERATOR, cur_picker)
    tq = sim.wt(tpk, (sim.ln(qr, 0.25 * HOUR, 0.6, m) * sim.speed[cur]).astype(I64))
    insp = sim.staff(W.QI_CREW, A.inspector, sim.zone[cur], tq, qr)
    sim.ev(cur, tq, NODE["PICKED"], NODE["QC_INSPECTING"], W.R_OPERATOR, insp)
    eq = sim.zone[cur] * 2 + (qr.random(m) >= 0.8)  # primary device does most inspections
    faulty = (eq == inc.qc_eq) & (tq >= p0) & (tq < p1) if inc.qc else np.zeros(m, bool)
    dq = (sim.ln(qr, 0.15 * HOUR, 0.5, m) * sim.speed[cur] * np.where(faulty, 2.5, 1.0)).astype(I64)
    td = sim.wt(tq, dq)
    pf = np.where(faulty, 0.5, 0.02)
    fail = (qr.random(m) < pf) & (attempt < 4)
    res = np.where(fail, 1 + (qr.random(m) < 0.5), 0)
    defect = np.where(faulty & (qr.random(m) < 0.65), 4, (qr.random(m) * 4).astype(I64))
    rep = sim.rec(
        "qc_reports",
        m,
        oi=cur,
        wh=sim.wh[cur],
        zone=sim.zone[cur],
        result=res,
        defect=np.where(fail, defect, -1),
        insp=insp,
        eq=eq,
        t=td,
        incident=faulty & fail,
    )
    ok_ = ~fail
    sim.ev(
        cur[ok_],
        td[ok_],
        NODE["QC_INSPECTING"],
        NODE["QC_PASSED"],
        W.R_OPERATOR,
        insp[ok_],
        imps=((K["qc_reports"], rep[ok_]),),
    )
    t[cur[ok_]] = td[ok_]
    f_oi, f_t = cur[fail], td[fail]
    if len(f_oi) == 0:
        return f_oi, f_t, f_oi
    return _repick(sim, f_oi, f_t, insp[fail], rep[fail], res[fail], faulty[fail], qr)


def _repick(
    sim: Sim,
    f_oi: np.ndarray,
    f_t: np.ndarray,
    insp: np.ndarray,
    rep: np.ndarray,
    res: np.ndarray,
    faulty: np.ndarray,
    qr: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Failed items go back to PICKING for a re-pick: replacement stock has to be fetched, so
    it takes longer than a normal pick (`rep`, `res`, `faulty`: the failed reports, their
    results, and whether the faulty device made them). Returns the orders, the re-pick end and the picker."""
    rp_end = sim.wt(f_t, (sim.ln(qr, 3 * HOUR, 0.6, len(f_oi)) * sim.speed[f_oi]).astype(I64))
    rp_op = sim.staff(W.OP_CREW, sim.actors.operator, sim.zone[f_oi], f_t, qr)
    tk = sim.rec(
        "warehouse_tasks",
        len(f_oi),
        oi=f_oi,
        type=1,
        wave=-1,
        wh=sim.wh[f_oi],
        zone=sim.zone[f_oi],
        op=rp_op,
        t=f_t,
        end=rp_end,
    )
    sim.qc_incident_reports.append((rep, tk, faulty, f_oi))  # the planted incident's evidence
    sim.ev(
        f_oi,
        f_t,
        NODE["QC_INSPECTING"],
        NODE["PICKING"],
        W.R_OPERATOR,
        insp,
        RC["QC_FAILED"],
        K["qc_reports"],
        rep,
        imps=((K["warehouse_tasks"], tk),),
        diff=D_QC,
        dv=res,
    )
    return f_oi, rp_end, rp_op


def pack_sort_load(sim: Sim, q: np.ndarray, t: np.ndarray) -> None:
    """Pack (the shipment is created), sort, load: one operator task each but the last."""
    wr = sim.rng("warehouse")
    op = sim.actors.operator
    nxt = sim.wt(t[q], (sim.ln(wr, 0.3 * HOUR, 0.6, len(q)) * sim.speed[q]).astype(I64))
    packer = sim.staff(W.OP_CREW, op, sim.zone[q], nxt, wr)
    tk = _task(sim, q, 2, packer, t[q], nxt)
    sh = sim.rec("shipments", len(q), oi=q, t=nxt)
    sim.ship_rid[q] = sh
    t[q] = nxt
    sim.ev(
        q,
        t[q],
        NODE["QC_PASSED"],
        NODE["PACKED"],
        W.R_OPERATOR,
        packer,
        imps=((K["warehouse_tasks"], tk), (K["shipments"], sh)),
    )
    nxt = sim.wt(t[q], (sim.ln(wr, 0.4 * HOUR, 0.6, len(q)) * sim.speed[q]).astype(I64))
    sorter = sim.staff(W.OP_CREW, op, sim.zone[q], nxt, wr)
    tk = _task(sim, q, 3, sorter, t[q], nxt)
    t[q] = nxt
    sim.ev(q, t[q], NODE["PACKED"], NODE["SORTED"], W.R_OPERATOR, sorter, imps=((K["warehouse_tasks"], tk),))
    nxt = sim.wt(t[q], (sim.ln(wr, 1.0 * HOUR, 0.5, len(q)) * sim.speed[q]).astype(I64))
    sim.amend(q, NODE["SORTED"], t[q], nxt, wr)
    loader = sim.staff(W.OP_CREW, op, sim.zone[q], nxt, wr)
    t[q] = nxt
    sim.ev(q, t[q], NODE["SORTED"], NODE["LOADED"], W.R_OPERATOR, loader)


def _task(
    sim: Sim, q: np.ndarray, task_type: int, op: np.ndarray, begin: np.ndarray, end: np.ndarray
) -> np.ndarray:
    """A warehouse task outside a wave (pack, sort) for each order of `q`."""
    return sim.rec(
        "warehouse_tasks",
        len(q),
        oi=q,
        type=task_type,
        wave=-1,
        wh=sim.wh[q],
        zone=sim.zone[q],
        op=op,
        t=begin,
        end=end,
    )
