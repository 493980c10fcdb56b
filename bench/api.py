"""The hub over HTTP: snapshot lookups under concurrency, and push ingestion of order events.

Starts `orderscope serve` in a child process on a store holding the generated dataset (made and
ingested once under bench/.data/, reused later), then, over loopback:

  1. snapshot lookups (GET /api/v1/orders/{id} of random orders) from --concurrency threads,
     each with its own keep-alive connection, for --seconds: requests_per_s, p50_ms, p99_ms,
     max_ms, errors (any answer but 200, or a failed request);
  2. push ingestion: --push-orders orders of the dataset under new IDs (so every run adds new
     records), their order master pushed first, then their order events as NDJSON batches of
     --batch-rows, one sender, as an OMS would: push_records_per_s (events accepted per second,
     wall clock), push_batch_p50_ms, push_errors.

Embedded: the pushes go into a scratch copy of the store (removed afterwards), so the store the
lookups read stays the dataset. Server (`--backend server`): the servers hold one dataset at a
time (ingested here when they do not hold this one); the pushed orders stay in them, under IDs
that start with P.

Prints one JSON object.
"""

from __future__ import annotations

import http.client
import json
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BENCH_HOME, dataset, emit, parser

from orderscope.config import Settings, load_settings

_INGEST = """
import sys
from pathlib import Path
from orderscope.config import load_settings
from orderscope.ingest.pipeline import ingest_folder
from orderscope.stores import open_stores
backend, data_dir, folder = sys.argv[1], sys.argv[2], sys.argv[3]
with open_stores(load_settings(backend=backend, data_dir=Path(data_dir))) as stores:
    if backend == "server":
        stores.graph.reset()
        stores.series.reset()
    ingest_folder(Path(folder), stores)
"""
# How many of the dataset's orders the stores hold (server: is it this dataset?).
_HOLDS = """
import sys
from pathlib import Path
from orderscope.config import load_settings
from orderscope.stores import open_stores
backend, data_dir, last = sys.argv[1], sys.argv[2], sys.argv[3]
with open_stores(load_settings(backend=backend, data_dir=Path(data_dir)), read_only=True) as stores:
    n = stores.series.query(
        'SELECT count(*) AS n FROM "orders" WHERE "order_id" LIKE $1', ["O%"]
    )["n"][0]
    has_last = stores.graph.order(last) is not None
print(n if has_last else 0)
"""
_ORDER_ID = re.compile(r'"order_id"\s*:\s*"([^"]*)"')


def store_for(backend: str, orders: int, seed: int, folder: Path) -> Settings:
    """Settings of a store holding the dataset, ingested once (in a child process, so its
    memory is not the hub's)."""
    data_dir = BENCH_HOME / f"api-store-{orders}-{seed}"
    marker = data_dir / ".ingested"
    settings = load_settings(backend=backend, data_dir=data_dir)
    last = f"O{orders:07d}"
    if backend == "server":
        held = subprocess.run(
            [sys.executable, "-c", _HOLDS, backend, str(data_dir), last], capture_output=True, text=True
        )
        if held.returncode == 0 and held.stdout.strip() == str(orders):
            return settings
        if held.returncode != 0:  # the servers do not answer: say so, not a traceback
            lines = held.stderr.strip().splitlines()
            raise SystemExit(lines[-1] if lines else "the server stores do not answer")
    elif marker.exists():
        return settings
    data_dir.mkdir(parents=True, exist_ok=True)
    if backend == "server":  # the other benches' server datasets are gone now
        for other in BENCH_HOME.glob(".analytics-server-*"):
            other.unlink()
    subprocess.run([sys.executable, "-c", _INGEST, backend, str(data_dir), str(folder)], check=True)
    if backend == "embedded":
        marker.write_text("done\n")
    return settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def hub(settings: Settings, log: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """`orderscope serve` on a free port until the block ends (then Ctrl+C)."""
    port = _free_port()
    command = [sys.executable, "-m", "orderscope.cli", "serve", "--port", str(port)]
    command += ["--data-dir", str(settings.data_dir), "--backend", settings.backend]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 300
            while _status(port, "/readyz") != 200:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the hub did not start:\n{log.read_text()[-2000:]}")
                time.sleep(0.3)
            yield port, process
        finally:
            process.send_signal(2)  # SIGINT: a clean stop
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()


def _status(port: int, path: str) -> int | None:
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("GET", path)
        status = c.getresponse().status
        c.close()
        return status
    except OSError:
        return None


def _peak_rss_mb(pid: int) -> float | None:
    """The child's peak resident memory (Linux: VmHWM), in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def lookups(port: int, ids: list[str], seconds: float, concurrency: int, seed: int) -> dict:
    """Snapshot lookups from `concurrency` threads for `seconds`."""
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    start = threading.Event()
    stop_at = [0.0]

    def worker(n: int) -> None:
        rng = random.Random(seed * 1000 + n)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        start.wait()
        while time.perf_counter() < stop_at[0]:
            order_id = rng.choice(ids)
            t = time.perf_counter()
            try:
                conn.request("GET", f"/api/v1/orders/{order_id}")
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            latencies[n].append((time.perf_counter() - t) * 1000)
            if not ok:
                errors[n] += 1
        conn.close()

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(concurrency)]
    for t in threads:
        t.start()
    began = time.perf_counter()
    stop_at[0] = began + seconds
    start.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    all_ms = sorted(ms for per in latencies for ms in per)
    return {
        "seconds": round(elapsed, 1),
        "concurrency": concurrency,
        "requests": len(all_ms),
        "requests_per_s": round(len(all_ms) / elapsed, 1),
        "p50_ms": round(statistics.median(all_ms), 2) if all_ms else None,
        "p99_ms": round(all_ms[int(0.99 * (len(all_ms) - 1))], 2) if all_ms else None,
        "max_ms": round(all_ms[-1], 2) if all_ms else None,
        "errors": sum(errors),
    }


def push_bodies(folder: Path, orders: int, tag: str, batch_rows: int) -> tuple[bytes, list[bytes]]:
    """The first `orders` orders of the dataset under new IDs (O0000042 -> {tag}0000042) as one
    CSV body, and their events (event IDs renamed too) as NDJSON bodies of `batch_rows`."""
    head, *lines = (folder / "orders.csv").read_text().splitlines()
    chosen = lines[:orders]
    wanted = {line.split(",", 1)[0] for line in chosen}
    master = "\n".join([head, *(tag + line[1:] for line in chosen)]) + "\n"
    events: list[str] = []
    with (folder / "order_events.jsonl").open() as f:
        for line in f:
            found = _ORDER_ID.search(line)
            if found and found.group(1) in wanted:
                event = json.loads(line)
                event["order_id"] = tag + event["order_id"][1:]
                event["event_id"] = f"{tag}-{event['event_id']}"
                events.append(json.dumps(event))
    bodies = [
        ("\n".join(events[i : i + batch_rows]) + "\n").encode() for i in range(0, len(events), batch_rows)
    ]
    return master.encode(), bodies


def push(port: int, master: bytes, bodies: list[bytes], tag: str) -> dict:
    """The order master, then the event batches one after the other (each with its key)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

    def post(kind: str, body: bytes, content_type: str, key: str) -> tuple[int, dict]:
        conn.request(
            "POST",
            f"/api/v1/records/{kind}",
            body=body,
            headers={"Content-Type": content_type, "Idempotency-Key": key},
        )
        response = conn.getresponse()
        data = response.read()
        try:
            return response.status, json.loads(data)
        except ValueError:
            return response.status, {}

    status, answer = post("orders", master, "text/csv", f"{tag}-orders")
    if status != 200 or answer.get("accepted") != answer.get("rows_read"):
        raise SystemExit(f"pushing the order master failed: {status} {str(answer)[:500]}")
    accepted = rows = errors = 0
    batch_ms: list[float] = []
    began = time.perf_counter()
    for n, body in enumerate(bodies):
        t = time.perf_counter()
        status, answer = post("order_events", body, "application/x-ndjson", f"{tag}-events-{n}")
        batch_ms.append((time.perf_counter() - t) * 1000)
        if status != 200:
            errors += 1
            continue
        rows += answer["rows_read"]
        accepted += answer["accepted"]
    elapsed = time.perf_counter() - began
    conn.close()
    return {
        "push_orders": master.count(b"\n") - 1,
        "push_records": rows,
        "push_accepted": accepted,
        "push_batches": len(bodies),
        "push_seconds": round(elapsed, 2),
        "push_records_per_s": round(accepted / elapsed) if elapsed else None,
        "push_batch_p50_ms": round(statistics.median(batch_ms), 1) if batch_ms else None,
        "push_errors": errors + (rows - accepted),
    }


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--seconds", type=float, default=60.0, help="how long the lookups run")
    p.add_argument("--concurrency", type=int, default=16, help="threads doing lookups")
    p.add_argument("--push-orders", type=int, default=5000, help="orders whose events are pushed")
    p.add_argument("--batch-rows", type=int, default=5000, help="events per pushed batch")
    args = p.parse_args()
    folder = dataset(args.orders, args.seed)
    settings = store_for(args.backend, args.orders, args.seed, folder)
    ids = [line.split(",", 1)[0] for line in (folder / "orders.csv").read_text().splitlines()[1:]]
    figures: dict = {"backend": args.backend, "orders": len(ids)}

    log = BENCH_HOME / f"api-hub-{args.backend}.log"
    with hub(settings, log) as (port, process):
        warm = random.Random(0)
        for _ in range(50):  # as a running hub would be: code paths and caches warm
            _status(port, f"/api/v1/orders/{warm.choice(ids)}")
        figures |= lookups(port, ids, args.seconds, args.concurrency, args.seed)
        figures["hub_rss_mb"] = _peak_rss_mb(process.pid)

    tag = f"P{int(time.time()) % 10**6:06d}"
    master, bodies = push_bodies(folder, min(args.push_orders, len(ids)), tag, args.batch_rows)
    scratch = None
    if args.backend == "embedded":  # push into a copy: the dataset's store stays as it is
        scratch = BENCH_HOME / f"api-push-{args.orders}-{args.seed}"
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.copytree(settings.data_dir, scratch, ignore=shutil.ignore_patterns("inbox", "hub.json"))
        push_settings = load_settings(backend="embedded", data_dir=scratch)
    else:
        for other in BENCH_HOME.glob(".analytics-server-*"):  # their dataset now has extra orders
            other.unlink()
        push_settings = settings
    try:
        with hub(push_settings, log) as (port, _):
            figures |= push(port, master, bodies, tag)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    emit(figures)


if __name__ == "__main__":
    main()
