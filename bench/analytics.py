"""Analytics timings on a generated, ingested store: stalls, pattern mining, one root-cause
drill-down.

The dataset is generated and ingested once (in child processes, so their memory does not
count) and cached under bench/.data; the figures are then taken in this process. Prints one
JSON object: stalls_s (find_stalls over everything up to the data clock), pattern_mining_s
(run_mining over its default window, the last 7 days), rootcause_s (explain() for the ground
truth's qc incident; null when orderscope.analytics.rootcause is not importable yet),
peak_rss_mb, plus counts. Issue targets at 1M orders, embedded: pattern mining <= 60 s,
drill-down <= 5 s, peak RSS <= 4 GiB.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BENCH_HOME, dataset, emit, parser, peak_rss_mb

from orderscope.config import load_settings
from orderscope.stores import open_stores

_INGEST = """
import sys
from pathlib import Path
from orderscope.config import load_settings
from orderscope.ingest.pipeline import ingest_folder
from orderscope.stores import open_stores
backend, data_dir, folder = sys.argv[1], sys.argv[2], sys.argv[3]
settings = load_settings(backend=backend, data_dir=Path(data_dir))
with open_stores(settings) as stores:
    if backend == "server":
        stores.graph.reset()
        stores.series.reset()
    ingest_folder(Path(folder), stores)
"""


def ingested(backend: str, orders: int, seed: int, folder: Path):
    """Settings of a store holding the dataset, ingested once per (backend, orders, seed)."""
    data_dir = BENCH_HOME / f"analytics-store-{orders}-{seed}"
    marker = data_dir / f".ingested-{backend}"
    if backend == "server":  # the server holds one dataset at a time
        marker = BENCH_HOME / f".analytics-server-{orders}-{seed}"
        for other in BENCH_HOME.glob(".analytics-server-*"):
            if other != marker:
                other.unlink()
    if not marker.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-c", _INGEST, backend, str(data_dir), str(folder)], check=True)
        marker.write_text("done\n")
    return load_settings(backend=backend, data_dir=data_dir)


def main() -> None:
    p = parser(__doc__)
    p.set_defaults(orders=1_000_000)
    args = p.parse_args()
    folder = dataset(args.orders, args.seed)
    settings = ingested(args.backend, args.orders, args.seed, folder)
    truth = json.loads((folder / "ground_truth.json").read_text())
    qc = next((i for i in truth["incidents"] if i["kind"] == "qc_rework_spike"), None)

    from orderscope.analytics.patterns import run_mining
    from orderscope.analytics.stalls import find_stalls

    figures: dict = {"backend": args.backend, "orders": args.orders, "seed": args.seed}
    with open_stores(settings, read_only=True) as stores:
        t = time.perf_counter()
        stalls = find_stalls(stores)
        figures["stalls_s"] = round(time.perf_counter() - t, 2)
        figures["stalls"] = stalls.height
        del stalls

        t = time.perf_counter()
        run = run_mining(stores)
        figures["pattern_mining_s"] = round(time.perf_counter() - t, 2)
        figures["pattern_transactions"] = run.transactions
        figures["pattern_stalls"] = run.stalls
        figures["patterns_tested"] = run.tested
        figures["patterns_significant"] = sum(p.significant for p in run.patterns)
        figures["top_patterns"] = [p.name for p in run.patterns[:3]]
        del run

        figures["rootcause_s"] = None
        try:
            from orderscope.analytics.rootcause import explain
            from orderscope.domain.periods import parse_period
        except ImportError as e:
            figures["rootcause_error"] = f"not importable: {e}"
        else:
            if qc is not None:
                t = time.perf_counter()
                try:
                    result = explain(
                        stores,
                        qc["metric"],
                        qc["slice"],
                        parse_period(qc["period"]),
                        parse_period(qc["baseline"]),
                    )
                    figures["rootcause_s"] = round(time.perf_counter() - t, 2)
                    figures["rootcause_findings"] = len(result.findings)
                except Exception as e:  # being finished by another engineer: report, don't die
                    figures["rootcause_error"] = f"{type(e).__name__}: {e}"
    figures["peak_rss_mb"] = peak_rss_mb()
    emit(figures)


if __name__ == "__main__":
    main()
