"""Ingest throughput: a generated dataset (all 17 kinds) into empty stores.

Prints one JSON object: rows_per_s (source rows read per second, end to end), peak_rss_mb, and
for the server backend the per-store write rates neo4j_relationships_per_s and
timescale_rows_per_s.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import dataset, emit, parser, peak_rss_mb, settings_for

from orderscope.ingest.pipeline import ingest_folder
from orderscope.stores import open_stores


def main() -> None:
    args = parser(__doc__).parse_args()
    folder = dataset(args.orders, args.seed)
    settings = settings_for(args.backend, args.orders, args.seed)
    if args.backend == "embedded":
        shutil.rmtree(settings.data_dir, ignore_errors=True)
    with open_stores(settings) as stores:
        if args.backend == "server":
            stores.graph.reset()
            stores.series.reset()
        start = time.perf_counter()
        report = ingest_folder(folder, stores)
        seconds = time.perf_counter() - start
        graph_counts = stores.graph.counts()
    totals = report.totals
    figures = {
        "backend": args.backend,
        "orders": args.orders,
        "rows": totals.rows_read,
        "accepted": totals.accepted,
        "rejected": totals.rejected,
        "seconds": round(seconds, 2),
        "rows_per_s": round(totals.rows_read / seconds),
        "peak_rss_mb": peak_rss_mb(),
        "graph_write_s": round(report.store_seconds.get("graph", 0.0), 2),
        "series_write_s": round(report.store_seconds.get("series", 0.0), 2),
        "phase_s": {k: round(v, 2) for k, v in report.store_seconds.items()},
    }
    relationships = sum(v for k, v in graph_counts.items() if k.startswith("rel:"))
    series_rows = report.series_rows
    figures["relationships"] = relationships
    figures["series_rows"] = series_rows
    if args.backend == "server":
        figures["neo4j_relationships_per_s"] = round(relationships / figures["graph_write_s"])
        figures["timescale_rows_per_s"] = round(series_rows / figures["series_write_s"])
    emit(figures)


if __name__ == "__main__":
    main()
