"""The order lifecycle, stage by stage: the one place that says in which order the stages run.

The order matters for the data: it fixes the order of the draws of each random stream, of the
records' running ids and of same-instant events, so the same seed gives the same files.
"""

from __future__ import annotations

import numpy as np

from orderscope.generator import shipping, warehouse
from orderscope.generator.simulation import Incidents, Sim


def simulate(seed: int, n: int, start: int, end: int, inc: Incidents) -> Sim:
    """Draw `n` orders created in [start, end) (epoch ms) and run them through the lifecycle."""
    sim = Sim(seed=seed, n=n, start=start, end=end, inc=inc)
    sim.draw_orders()
    t = sim.created.copy()  # every order's current time, moved on by each stage
    rng = sim.rng("lifecycle")
    paid = warehouse.create_and_pay(sim, t, rng)
    # standard path: risk check, allocation, wave, picking; express orders skip to picking
    a = warehouse.check_risk(sim, paid[~sim.express[paid]], t, rng)
    a = warehouse.allocate(sim, a, t, rng)
    a, wave_t = warehouse.release_wave(sim, a, t, rng)
    a = warehouse.start_picking(sim, a, t, wave_t, rng)
    b = warehouse.pick_express(sim, paid[sim.express[paid]], t)
    q = warehouse.pick_and_inspect(sim, np.sort(np.concatenate([a, b])), t)
    warehouse.pack_sort_load(sim, q, t)
    cr = sim.rng("carrier")  # hand-over and domestic linehaul share the carrier's stream
    shipping.hand_over(sim, q, t, cr)
    xb = q[sim.cross[q]]
    dom = q[~sim.cross[q]]
    shipping.clear_customs(sim, xb, t)
    shipping.linehaul(sim, dom, t, cr)
    shipping.deliver(sim, q, t)
    shipping.take_back(sim, q)
    shipping.warn_of_delays(sim)
    return sim
