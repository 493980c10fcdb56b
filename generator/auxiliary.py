"""Records not produced by a status change: tickets, sessions, calibrations, climate, capacity.

They are drawn after the lifecycle (tickets follow its outcomes, capacity its scans), each from
its own random stream.
"""

from __future__ import annotations

import numpy as np

from orderscope.generator import world as W
from orderscope.generator.records import I64
from orderscope.generator.simulation import Sim
from orderscope.generator.world import DAY, HOUR, MIN, SEC


def tickets(sim: Sim) -> None:
    """Service tickets: more likely, and about the matter, when something went wrong."""
    rng = sim.rng("tickets")
    n = sim.n
    failed = sim.failed_t >= 0
    returned = sim.return_t >= 0
    p = (
        0.045
        + 0.35 * failed
        + 0.2 * sim.late
        + 0.2 * returned
        + 0.3 * sim.held
        + 0.15 * sim.cust_cancel
        + 0.1 * (sim.amend_node >= 0)
    )
    u = rng.random((4, n))
    has = u[0] < p
    topic = np.where(u[1] < 0.5, 0, 6)
    opened = sim.created + (u[2] * 2 * DAY).astype(I64)

    def ln(med: float, s: float) -> np.ndarray:
        return sim.ln(rng, med, s, n)

    amend = sim.amend_node >= 0
    topic = np.where(amend, 5, topic)
    opened = np.where(amend, sim.created + ln(6 * HOUR, 0.8), opened)
    topic = np.where(sim.cust_cancel, 4, topic)
    opened = np.where(sim.cust_cancel, sim.created + ln(1 * HOUR, 0.8), opened)
    topic = np.where(sim.late, 0, topic)
    opened = np.where(sim.late, sim.promised + ln(4 * HOUR, 0.7), opened)
    topic = np.where(returned, 2, topic)
    opened = np.where(returned, sim.return_t + ln(2 * HOUR, 0.7), opened)
    topic = np.where(sim.held, 3, topic)
    opened = np.where(sim.held, sim.hold_t + ln(3 * HOUR, 0.7), opened)
    topic = np.where(failed, 1, topic)
    opened = np.where(failed, sim.failed_t + ln(1.5 * HOUR, 0.7), opened)
    oi = np.nonzero(has)[0]
    opened = opened[oi]
    agent = sim.actors.agent + W.crew_member(W.CSA_CREW, np.zeros(len(oi), I64), opened, u[3][oi])
    first = opened + sim.ln(rng, 15 * MIN, 0.8, len(oi))
    resolved = first + sim.ln(rng, 4 * HOUR, 0.9, len(oi))
    sim.rec(
        "service_tickets",
        len(oi),
        oi=oi,
        channel=(rng.random(len(oi)) * 3).astype(I64),
        topic=topic[oi],
        agent=agent,
        t=opened,
        first=first,
        resolved=resolved,
    )


def sessions(sim: Sim) -> None:
    """Shift logins of operators, inspectors and agents; office-hour sessions of brokers; the spike."""
    rng = sim.rng("sessions")
    A = sim.actors
    d_lo = (sim.start + W.LOCAL - 6 * HOUR) // DAY - 1
    d_hi = (sim.end + W.LOCAL - 6 * HOUR) // DAY + 1
    days = np.arange(d_lo, d_hi, dtype=I64)
    cols: dict[str, list] = {"actor": [], "role": [], "site": [], "t": [], "end": [], "spike": []}

    def crew(
        crews: np.ndarray, base: int, role: int, zones: tuple[str, ...], site_of_zone: np.ndarray
    ) -> None:
        per_zone = int(crews.sum())
        idx = np.arange(len(zones) * per_zone)
        zone = idx // per_zone
        within = idx % per_zone
        shift = np.searchsorted(np.cumsum(crews), within, side="right")
        k = within - np.concatenate([[0], np.cumsum(crews)[:-1]])[shift]
        P, D = np.meshgrid(idx, days, indexing="ij")
        P, D = P.ravel(), D.ravel()
        z, s, kk = zone[P], shift[P], k[P]
        works = kk != (D + z) % crews[s]
        P, D, z, s = P[works], D[works], z[works], s[works]
        m = len(P)
        begin = D * DAY + 6 * HOUR + s * 8 * HOUR - W.LOCAL
        login = begin - rng.integers(0, 15 * MIN, m)
        logout = begin + 8 * HOUR + rng.integers(0, 20 * MIN, m)
        split = rng.random(m) < 0.12  # a break with a fresh login
        mid = begin + rng.integers(2 * HOUR, 6 * HOUR, m)
        back = mid + rng.integers(5 * MIN, 35 * MIN, m)
        t = np.concatenate([login, back[split]])
        e = np.concatenate([np.where(split, mid, logout), logout[split]])
        who = np.concatenate([P, P[split]])
        cols["actor"].append(base + who)
        cols["role"].append(np.full(len(t), role))
        cols["site"].append(site_of_zone[np.concatenate([z, z[split]])])
        cols["t"].append(t)
        cols["end"].append(e)
        cols["spike"].append(np.zeros(len(t), bool))

    zone_site = W.ZONE_WH  # site = warehouse of the zone
    crew(W.OP_CREW, A.operator, 0, W.ZONE_SHORT, zone_site)
    crew(W.QI_CREW, A.inspector, 1, W.ZONE_SHORT, zone_site)
    crew(W.CSA_CREW, A.agent, 2, ("CS",), np.array([W.N_WH]))
    # brokers: three office sessions a day, 08:00-20:00 local
    nb = len(W.BROKERS)
    B, D = np.meshgrid(np.arange(nb), days, indexing="ij")
    B, D = B.ravel(), D.ravel()
    day0 = D * DAY + 6 * HOUR - W.LOCAL  # shift days start 06:00 local; office opens 08:00
    for a, b in ((2 * HOUR, 6 * HOUR), (7 * HOUR, 11 * HOUR), (11.5 * HOUR, 14.2 * HOUR)):
        t = day0 + int(a) - rng.integers(0, 10 * MIN, len(B))
        e = day0 + int(b) + rng.integers(0, 15 * MIN, len(B))
        cols["actor"].append(A.broker + B)
        cols["role"].append(np.full(len(B), 3))
        cols["site"].append(np.full(len(B), W.N_WH + 1))
        cols["t"].append(t)
        cols["end"].append(e)
        cols["spike"].append(np.zeros(len(B), bool))
    if sim.inc.customs:
        w0, w1 = sim.inc.broker_window
        k = int((w1 - w0) / (12 * MIN)) + 8
        gaps = rng.exponential(12 * MIN, k).astype(I64) + 30 * SEC
        t = w0 + np.cumsum(gaps)
        t = t[t < w1]
        e = t + rng.integers(2 * MIN, 8 * MIN, len(t))
        cols["actor"].append(np.full(len(t), A.broker + sim.inc.broker))
        cols["role"].append(np.full(len(t), 3))
        cols["site"].append(np.full(len(t), W.N_WH + 1))
        cols["t"].append(t)
        cols["end"].append(e)
        cols["spike"].append(np.ones(len(t), bool))
    c = {k: np.concatenate(v) for k, v in cols.items()}
    sim.rec("operator_sessions", len(c["t"]), oi=np.zeros(len(c["t"]), I64), **c)


SESSION_ROLES = ("operator", "inspector", "agent", "broker")
SESSION_SITES = tuple(W.WAREHOUSES) + ("CS-CENTRE", "CUSTOMS-GATEWAY")


def calibrations(sim: Sim) -> None:
    """Periodic calibrations; due_at 30-90 days later; re-calibrated a few days before due.

    With the qc incident the chosen equipment's last calibration falls due the day before the
    incident week and nothing newer exists."""
    rng = W.stream(sim.seed, "calibrations")
    rows = []
    overdue = None
    p0 = sim.inc.period[0]
    for e in range(len(W.EQUIPMENT)):
        interval = int(rng.choice([30, 60, 90])) * DAY
        phase = rng.uniform(0.15, 0.85)
        jit = rng.uniform(1, 4, 8)
        c = sim.start - int(phase * interval)
        if sim.inc.qc and e == sim.inc.qc_eq:
            due = p0 - DAY + 3 * HOUR
            c = due - interval
        cal = [c]
        for j in range(2):  # history
            cal.insert(0, cal[0] - interval + int(jit[j] * DAY))
        if not (sim.inc.qc and e == sim.inc.qc_eq):
            j = 2
            while cal[-1] + interval - int(jit[j] * DAY) < sim.end:
                cal.append(cal[-1] + interval - int(jit[j] * DAY))
                j += 1
        for ct in cal:
            ct = _office(ct)
            rows.append((e, ct, ct + interval))
        if sim.inc.qc and e == sim.inc.qc_eq:
            overdue = len(rows) - 1
    eq = np.array([r[0] for r in rows], I64)
    t = np.array([r[1] for r in rows], I64)
    due = np.array([r[2] for r in rows], I64)
    result = (rng.random(len(rows)) < 0.12).astype(I64)  # 0 pass, 1 adjusted
    tech = rng.integers(0, len(W.TECHNICIANS), len(rows))
    flag = np.zeros(len(rows), bool)
    if overdue is not None:
        flag[overdue] = True
    sim.rec(
        "equipment_calibrations",
        len(rows),
        oi=np.zeros(len(rows), I64),
        eq=eq,
        t=t,
        due=due,
        result=result,
        tech=tech,
        overdue=flag,
    )


def _office(t: int) -> int:
    """Move a time to 10:00 local of its day (calibrations are done in office hours)."""
    loc = (t + W.LOCAL) % DAY
    return t - loc + 10 * HOUR


def _ar1(eps: np.ndarray, a: float) -> np.ndarray:
    """An AR(1) drift along each row (a Python loop over the columns, vectorised per step)."""
    out = np.empty_like(eps)
    acc = np.zeros(eps.shape[0])
    for j in range(eps.shape[1]):
        acc = a * acc + eps[:, j]
        out[:, j] = acc
    return out


def climate(sim: Sim) -> dict[str, np.ndarray]:
    """Zone sensors every 10 minutes: diurnal temperature and humidity with drift and noise;
    with the qc incident the incident zone turns humid (about 80 %) during the incident week."""
    rng = W.stream(sim.seed, "climate")
    times = np.arange(sim.start, sim.end, 10 * MIN, dtype=I64)
    ns = len(W.SENSORS)
    h = ((times + W.LOCAL) % DAY) / HOUR
    phase = np.sin(2 * np.pi * (h - 9) / 24)[None, :]
    t_off = rng.normal(0, 1.0, ns)[:, None]
    h_off = rng.normal(0, 3.0, ns)[:, None]
    drift_t = _ar1(rng.normal(0, 0.08, (ns, len(times))), 0.97)
    drift_h = _ar1(rng.normal(0, 0.35, (ns, len(times))), 0.97)
    temp = 21.0 + t_off + 2.2 * phase + drift_t + rng.normal(0, 0.15, (ns, len(times)))
    hum = 46.0 + h_off - 5.0 * phase + drift_h + rng.normal(0, 0.8, (ns, len(times)))
    excursion = np.zeros(len(times))
    if sim.inc.qc:
        p0, p1 = sim.inc.period
        ramp = np.clip((times - p0) / (3 * HOUR), 0, 1) * np.clip((p1 - times) / (3 * HOUR), 0, 1)
        excursion = ramp
        z = sim.inc.qc_zone
        hum[z] = hum[z] + excursion * (80.0 - hum[z]) + excursion * rng.normal(0, 1.5, len(times))
        temp[z] = temp[z] + 1.2 * excursion
    hum = np.clip(hum, 5, 99)
    return {
        "sensor": np.repeat(np.arange(ns), len(times)),
        "t": np.tile(times, ns),
        "temp": np.round(temp.ravel(), 2),
        "hum": np.round(hum.ravel(), 2),
    }


def capacity(sim: Sim, scans: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Hourly load per carrier hub from the parcels actually scanned there (plus base load)."""
    rng = W.stream(sim.seed, "capacity")
    hours = np.arange(sim.start, sim.end, HOUR, dtype=I64)
    nh, nt = len(W.HUBS), len(hours)
    m = (scans["hub"] >= 0) & (scans["t"] >= sim.start) & (scans["t"] < sim.end)
    cell = scans["hub"][m] * nt + (scans["t"][m] - sim.start) // HOUR
    count = np.bincount(cell, minlength=nh * nt).reshape(nh, nt).astype(np.float64)
    peak = np.quantile(count, 0.98, axis=1)
    cap = np.maximum(40, np.ceil(peak / 0.8 / 10) * 10).astype(I64)
    h = ((hours + W.LOCAL) % DAY) / HOUR
    base = 10 + 6 * np.sin(2 * np.pi * (h - 14) / 24)
    load = 100 * count / cap[:, None] * 0.85 + base[None, :] + rng.normal(0, 2.0, (nh, nt))
    load = np.round(np.clip(load, 0, 125), 1)
    return {
        "hub": np.repeat(np.arange(nh), nt),
        "t": np.tile(hours, nh),
        "load": load.ravel(),
        "cap": np.repeat(cap, nt),
    }
