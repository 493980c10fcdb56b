"""Snapshot latency: build the full snapshot of 1,000 random orders of an ingested store.

Ingests the generated dataset first when the store is empty. Prints p50_ms, p99_ms, max_ms.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import dataset, emit, parser, peak_rss_mb, settings_for

from orderscope.ingest.pipeline import ingest_folder
from orderscope.stores import open_stores
from orderscope.views.snapshot import build_snapshot


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--lookups", type=int, default=1000)
    args = p.parse_args()
    settings = settings_for(args.backend, args.orders, args.seed)
    with open_stores(settings) as stores:
        if stores.series.data_clock() is None:
            ingest_folder(dataset(args.orders, args.seed), stores)
    with open_stores(settings, read_only=True) as stores:
        ids = stores.series.query("SELECT order_id FROM orders ORDER BY order_id")["order_id"]
        sample = random.Random(args.seed).sample(ids.to_list(), min(args.lookups, len(ids)))
        build_snapshot(stores, sample[0])  # warm caches once, as a running service would be
        latencies = []
        for order_id in sample:
            start = time.perf_counter()
            build_snapshot(stores, order_id)
            latencies.append((time.perf_counter() - start) * 1000)
    latencies.sort()
    emit(
        {
            "backend": args.backend,
            "orders": len(ids),
            "lookups": len(latencies),
            "p50_ms": round(statistics.median(latencies), 2),
            "p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))], 2),
            "max_ms": round(latencies[-1], 2),
            "peak_rss_mb": peak_rss_mb(),
        }
    )


if __name__ == "__main__":
    main()
