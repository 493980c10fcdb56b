"""Stall-pattern library: contrast mining of condition sets that co-occur with stalls, kept as
named, versioned patterns whose hits later runs count.

Transactions are the node visits in progress during the window (default: the 7 days up to the
data clock), each with condition items joined through the graph and the series (node,
warehouse, zone, zone_humidity, equipment, equipment_calibration, broker, broker_login_rate,
carrier, carrier_load, channel, sku_category). The target is `stalled` exactly as
orderscope.analytics.stalls decides it. Each pattern reports its dwell band profile among its
stalls (1–2× or >2× threshold): the band describes a stall, it is not a condition (as an item
it would predict the target trivially).

Library: `keep()` saves an itemset under a name (a new version when the name exists with other
items); every mining run with `record=True` counts the stalled visits matching all items of the
newest version of each kept pattern and stores those not counted before.

    itemsets.py  the vocabulary: attributes, dwell bands, canonical items, ids, display names
    items.py     the transactions: visits with their condition items (reads: views.places)
    mining.py    the mining and its statistics, pure over a transactions frame
    results.py   Pattern, MiningRun, LibraryEntry, TrackedPattern: typed results with to_dict()
    runs.py      a mining run over a window, and recording the kept patterns' new hits
    library.py   keep, the library and its report of hits and trend
"""

from orderscope.analytics.patterns.items import transactions
from orderscope.analytics.patterns.itemsets import ATTRIBUTES, display_name, parse_items, pattern_id
from orderscope.analytics.patterns.library import keep, library, library_report
from orderscope.analytics.patterns.mining import ALPHA, LARGE_RISK_RATIO, MIN_SUPPORT, mine_frame
from orderscope.analytics.patterns.results import LibraryEntry, MiningRun, Pattern, TrackedPattern
from orderscope.analytics.patterns.runs import WINDOW, mine_patterns, record_hits, run_mining

__all__ = [
    "ALPHA",
    "ATTRIBUTES",
    "LARGE_RISK_RATIO",
    "MIN_SUPPORT",
    "WINDOW",
    "LibraryEntry",
    "MiningRun",
    "Pattern",
    "TrackedPattern",
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
    "transactions",
]
