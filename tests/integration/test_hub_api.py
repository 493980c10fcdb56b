"""The hub's HTTP API (orderscope.hub.server.create_app) over real embedded stores, through
FastAPI's TestClient: push ingest in every format with its outcomes per row, idempotency,
limits, errors as JSON, the order read side, metrics and health; and the demo data pushed in
batches ends exactly as the same files ingested from a folder."""

from __future__ import annotations

import io
import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from orderscope.config import Settings, load_settings
from orderscope.hub.server import create_app
from orderscope.ingest.pipeline import ingest_folder
from orderscope.ingest.readers import discover
from orderscope.ports import Stores
from orderscope.stores import open_stores
from orderscope.views.snapshot import build_snapshot, jsonable
from orderscope.views.stats import collect_stats

ORDERS, SEED = 400, 5
CSV = {"content-type": "text/csv"}
NDJSON = {"content-type": "application/x-ndjson"}
JSON = {"content-type": "application/json"}
PARQUET = {"content-type": "application/vnd.apache.parquet"}


@pytest.fixture(scope="module")
def folder(generated) -> Path:
    return generated(ORDERS, SEED)


@pytest.fixture(scope="module")
def hub(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Stores]]:
    """A writable store holding the generated data, and a client of a hub over it (no users:
    the caller is the local manager)."""
    settings = load_settings(backend="embedded", data_dir=tmp_path_factory.mktemp("hub-api"))
    with open_stores(settings) as stores:
        ingest_folder(folder, stores)
        with TestClient(create_app(settings, stores, dashboard=False), raise_server_exceptions=False) as c:
            yield c, stores


@pytest.fixture
def client(hub) -> TestClient:
    return hub[0]


@pytest.fixture
def stores(hub) -> Stores:
    return hub[1]


def _csv_lines(path: Path) -> tuple[str, list[str]]:
    lines = path.read_text().splitlines()
    return lines[0], lines[1:]


def _renamed(line: str, new_id: str) -> str:
    """A CSV line with its first field (the record's ID) replaced."""
    return new_id + line[line.index(",") :]


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _counts(answer: dict[str, Any]) -> tuple[int, int, int, int, int]:
    return tuple(answer[k] for k in ("rows_read", "accepted", "rejected", "duplicate", "conflict"))  # type: ignore[return-value]


def _quarantined(stores: Stores) -> int:
    return collect_stats(stores)["quarantine"]


# --- push ingest: formats and outcomes ---------------------------------------------------


def test_every_format_is_accepted(client, folder):
    head, lines = _csv_lines(folder / "orders.csv")
    body = "\n".join([head, *(_renamed(line, f"T-CSV-{i:04d}") for i, line in enumerate(lines[:5]))])
    r = client.post("/api/v1/records/orders", content=body + "\n", headers=CSV)
    assert r.status_code == 200, r.text
    assert _counts(r.json()) == (5, 5, 0, 0, 0) and r.json()["rows"] == []

    tickets = _jsonl(folder / "service_tickets.jsonl")[:4]
    ndjson = "".join(json.dumps(dict(t, ticket_id=f"TK-ND-{i}")) + "\n" for i, t in enumerate(tickets))
    r = client.post("/api/v1/records/service_tickets", content=ndjson, headers=NDJSON)
    assert _counts(r.json()) == (4, 4, 0, 0, 0), r.text

    notes = [
        dict(n, notification_id=f"NT-JS-{i}")
        for i, n in enumerate(_jsonl(folder / "notifications.jsonl")[:6])
    ]
    r = client.post("/api/v1/records/notifications", content=json.dumps(notes), headers=JSON)
    assert _counts(r.json()) == (6, 6, 0, 0, 0), r.text

    table = pq.read_table(folder / "climate_readings.parquet").slice(0, 7)
    at = table.schema.get_field_index("at")
    table = table.set_column(at, "at", pc.add(table["at"], pa.scalar(1, pa.duration("ms"))))  # new readings
    buf = io.BytesIO()
    pq.write_table(table, buf)
    r = client.post("/api/v1/records/climate_readings", content=buf.getvalue(), headers=PARQUET)
    assert _counts(r.json()) == (7, 7, 0, 0, 0), r.text

    upload = "\n".join([head, *(_renamed(line, f"T-MP-{i:04d}") for i, line in enumerate(lines[:3]))]) + "\n"
    r = client.post("/api/v1/records/orders", files={"file": ("orders-upload.csv", upload.encode())})
    assert _counts(r.json()) == (3, 3, 0, 0, 0), r.text

    # the format may also be named in the query (a body sent without a useful Content-Type)
    again = "\n".join([head, _renamed(lines[9], "T-Q-0001")]) + "\n"
    r = client.post(
        "/api/v1/records/orders?format=csv", content=again, headers={"content-type": "text/plain"}
    )
    assert _counts(r.json()) == (1, 1, 0, 0, 0), r.text

    for order_id in ("T-CSV-0000", "T-MP-0002", "T-Q-0001"):
        assert client.get(f"/api/v1/orders/{order_id}").status_code == 200


def test_outcomes_and_reasons_per_row(client, stores, folder):
    """One batch: a new record, an exact copy of a stored one, a changed copy, a row without
    its ID, a row with a bad time. Each ends as it would in a file, and exactly the rejected
    and conflicting rows are quarantined, with their numbers in the batch."""
    head, lines = _csv_lines(folder / "orders.csv")
    changed = lines[1].split(",")
    changed[8] = "1.00"  # amount
    no_id = "," + lines[3].split(",", 1)[1]
    bad_time = lines[4].split(",")
    bad_time[12] = "not-a-time"  # created_at
    rows = [_renamed(lines[6], "T-OUT-0001"), lines[0], ",".join(changed), no_id, ",".join(bad_time)]
    before = _quarantined(stores)
    r = client.post("/api/v1/records/orders", content="\n".join([head, *rows]) + "\n", headers=CSV)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert _counts(answer) == (5, 1, 2, 1, 1)
    assert answer["replayed"] is False
    assert [(row["row_number"], row["outcome"]) for row in answer["rows"]] == [
        (3, "conflict"),
        (4, "rejected"),
        (5, "rejected"),
    ]
    reasons = [row["reason"] for row in answer["rows"]]
    assert "O0000002" in reasons[0] and "amount" in reasons[0]
    assert "order_id" in reasons[1]
    assert "created_at" in reasons[2] and "not-a-time" in reasons[2]
    assert _quarantined(stores) == before + 3

    # JSON rows that are not objects are rejected one by one, the others are not held up
    notes = _jsonl(folder / "notifications.jsonl")[10:12]
    body = [dict(notes[0], notification_id="NT-MIX-1"), 42, dict(notes[1], notification_id="NT-MIX-2")]
    r = client.post("/api/v1/records/notifications", content=json.dumps(body), headers=JSON)
    assert _counts(r.json()) == (3, 2, 1, 0, 0)
    assert [row["row_number"] for row in r.json()["rows"]] == [2]


def test_a_rejected_return_keeps_its_reason(client, stores, folder):
    """Returns have a column named `reason` (why the customer sent it back): a rejected row is
    quarantined with the reason it was rejected, not that one (and not with none)."""
    head, lines = _csv_lines(folder / "returns.csv")
    columns = head.split(",")
    unknown = lines[0].split(",")
    unknown[columns.index("rma_id")] = "RMA-T-1"
    unknown[columns.index("order_id")] = "NO-SUCH-ORDER"
    bad_time = lines[1].split(",")
    bad_time[columns.index("rma_id")] = "RMA-T-2"
    bad_time[columns.index("requested_at")] = "soon"
    body = "\n".join([head, ",".join(unknown), ",".join(bad_time)]) + "\n"
    r = client.post("/api/v1/records/returns", content=body, headers=CSV)
    assert r.status_code == 200, r.text
    reasons = [row["reason"] for row in r.json()["rows"]]
    assert len(reasons) == 2
    assert "unknown order" in reasons[0] and "NO-SUCH-ORDER" in reasons[0]
    assert "requested_at" in reasons[1] and "soon" in reasons[1]
    r = client.post("/api/v1/records/returns", content=json.dumps([{"rma_id": "RMA-T-3"}]), headers=JSON)
    assert r.status_code == 200 and "missing required field order_id" in r.json()["rows"][0]["reason"]


def test_the_same_body_twice_adds_nothing(client, stores, folder):
    head, lines = _csv_lines(folder / "orders.csv")
    body = "\n".join([head, _renamed(lines[20], "T-TWICE-1")]) + "\n"
    first = client.post("/api/v1/records/orders", content=body, headers=CSV).json()
    stats = collect_stats(stores)
    second = client.post("/api/v1/records/orders", content=body, headers=CSV).json()
    assert _counts(first) == (1, 1, 0, 0, 0)
    assert second["replayed"] is True and second["accepted"] == 0
    assert collect_stats(stores) == stats


def test_idempotency_key(client, stores, folder):
    """A retried batch with the same key adds nothing and gets the first answer; the key with
    another body (or another kind, or another format) is a 409."""
    head, lines = _csv_lines(folder / "orders.csv")
    bad = lines[30].split(",")
    bad[12] = "yesterday"
    body = "\n".join([head, _renamed(lines[31], "T-KEY-1"), ",".join(bad)]) + "\n"
    key = {"Idempotency-Key": "oms-batch-0001", **CSV}
    first = client.post("/api/v1/records/orders", content=body, headers=key)
    assert first.status_code == 200, first.text
    stats = collect_stats(stores)
    retry = client.post("/api/v1/records/orders", content=body, headers=key)
    assert retry.status_code == 200
    assert collect_stats(stores) == stats
    same = {k: v for k, v in first.json().items() if k not in ("replayed", "seconds")}
    assert {k: v for k, v in retry.json().items() if k not in ("replayed", "seconds")} == same
    assert _counts(first.json()) == (2, 1, 1, 0, 0) and retry.json()["replayed"] is True
    assert [r["row_number"] for r in retry.json()["rows"]] == [2]

    other = "\n".join([head, _renamed(lines[32], "T-KEY-2")]) + "\n"
    for kind, content, headers in (
        ("orders", other, key),
        ("orders", json.dumps([{"order_id": "T-KEY-3"}]), {"Idempotency-Key": "oms-batch-0001", **JSON}),
        ("payments", body, key),
    ):
        r = client.post(f"/api/v1/records/{kind}", content=content, headers=headers)
        assert r.status_code == 409, (kind, r.text)
        assert r.json()["error"] == "idempotency_key_reused" and "oms-batch-0001" in r.json()["detail"]
    assert collect_stats(stores) == stats
    assert client.get("/api/v1/orders/T-KEY-2").status_code == 404

    r = client.post("/api/v1/records/orders", content=other, headers={"Idempotency-Key": "no spaces!", **CSV})
    assert r.status_code == 422 and r.json()["error"] == "bad_parameters"


def test_a_body_over_the_limit_is_413(hub, folder, tmp_path):
    """However the body comes (declared length, chunks, a multipart upload), past
    max_request_mb it is refused before anything is ingested."""
    _, stores = hub
    settings = load_settings(backend="embedded", data_dir=tmp_path / "unused", max_request_mb=0.01)  # 10 KiB
    small = TestClient(create_app(settings, stores, dashboard=False), raise_server_exceptions=False)
    body = (folder / "orders.csv").read_bytes()
    assert len(body) > 20 * 1024
    stats = collect_stats(stores)

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(body), 4096):
            yield body[i : i + 4096]

    for response in (
        small.post("/api/v1/records/orders", content=body, headers=CSV),
        small.post("/api/v1/records/orders", content=chunks(), headers=CSV),  # no Content-Length
        small.post("/api/v1/records/orders", files={"file": ("orders.csv", body)}),
    ):
        assert response.status_code == 413, response.text
        assert response.json()["error"] == "too_large" and "MB" in response.json()["detail"]
    assert collect_stats(stores) == stats
    ok = small.post("/api/v1/records/orders", content=body[:2000].rsplit(b"\n", 1)[0] + b"\n", headers=CSV)
    assert ok.status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("post", "/api/v1/records/nonsense", {"content": b"[]", "headers": JSON}, 422),
        ("post", "/api/v1/records/orders", {"content": b"[{", "headers": JSON}, 422),
        ("post", "/api/v1/records/orders", {"content": b'{"order_id": "x"}', "headers": JSON}, 422),
        ("post", "/api/v1/records/orders", {"content": b"[" * 100_000, "headers": JSON}, 422),
        ("post", "/api/v1/records/orders", {"content": b"\xff\xfe\x00", "headers": JSON}, 422),
        ("post", "/api/v1/records/orders", {"content": b"a,b\n1,2\n"}, 415),
        ("post", "/api/v1/records/orders?format=xml", {"content": b"<a/>"}, 422),
        ("post", "/api/v1/records/orders", {"content": b"PAR1 not parquet", "headers": PARQUET}, 422),
        ("post", "/api/v1/records/orders", {"content": b"", "headers": CSV}, 422),
        ("post", "/api/v1/records/orders", {"files": {"other": ("a.csv", b"x")}}, 422),
        ("post", "/api/v1/records/orders", {"files": {"file": ("a.txt", b"x")}}, 422),
        (
            "post",
            "/api/v1/records/orders",
            {"content": b"--x\r\n", "headers": {"content-type": "multipart/form-data"}},
            422,
        ),
        ("post", "/api/v1/ingest/folder", {"json": {"path": "/no/such/folder"}}, 422),
        ("post", "/api/v1/ingest/folder", {"json": {"path": "relative/folder"}}, 422),
        ("post", "/api/v1/ingest/folder", {"json": {"path": "/tmp/\u0000"}}, 422),
        ("post", "/api/v1/ingest/folder", {"content": b"\x15\xff", "headers": JSON}, 422),
        ("get", "/api/v1/orders/NO-SUCH-ORDER", {}, 404),
        ("get", "/api/v1/orders/NO-SUCH-ORDER/graph", {}, 404),
        ("get", "/api/v1/orders", {}, 422),
        ("get", "/api/v1/orders?q=O1&limit=0", {}, 422),
        ("get", "/api/v1/orders?q=O1&limit=many", {}, 422),
        ("get", "/api/v1/no-such-endpoint", {}, 404),
        ("get", "/api/v1/records/orders", {}, 405),
        ("delete", "/api/v1/orders/O0000001", {}, 405),
    ],
)
def test_bad_input_is_a_4xx_with_a_json_body(client, method, path, kwargs, status):
    r = getattr(client, method)(path, **kwargs)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error", "detail"} and body["error"] and body["detail"]


def test_a_foreign_page_cannot_push(client, stores, folder):
    """A form or upload posted by a page of another site (the browser says where it comes
    from) is refused; the hub's own pages and programs without an Origin pass."""
    head, lines = _csv_lines(folder / "orders.csv")
    body = "\n".join([head, _renamed(lines[40], "T-CSRF-1")]) + "\n"
    r = client.post(
        "/api/v1/records/orders",
        files={"file": ("orders.csv", body.encode())},
        headers={"origin": "http://evil.example"},
    )
    assert r.status_code == 403 and r.json()["error"] == "cross_origin"
    assert client.get("/api/v1/orders/T-CSRF-1").status_code == 404
    r = client.post("/api/v1/records/orders", content=body, headers={"origin": "http://testserver", **CSV})
    assert r.status_code == 200 and r.json()["accepted"] == 1


# --- the read side -----------------------------------------------------------------------


def _sample(stores: Stores, n: int, seed: int = 3) -> list[str]:
    ids = stores.series.query('SELECT "order_id" FROM "orders" WHERE "order_id" LIKE $1 ORDER BY 1', ["O%"])
    return random.Random(seed).sample(ids["order_id"].to_list(), n)


def test_order_snapshot_is_the_cli_json(client, stores):
    for order_id in _sample(stores, 8):
        r = client.get(f"/api/v1/orders/{order_id}")
        assert r.status_code == 200
        assert r.json() == jsonable(build_snapshot(stores, order_id))  # what `snapshot --json` prints


def test_unknown_order_is_a_404(client):
    r = client.get("/api/v1/orders/o0000001")  # IDs are case-sensitive
    assert r.status_code == 404
    assert r.json()["error"] == "unknown_order" and "o0000001" in r.json()["detail"]


def test_order_graph_links_every_record(client, stores):
    from orderscope.domain.sources import BY_NAME

    order_id = stores.series.query(
        'SELECT d."order_id" FROM "stage_dwell" d WHERE d."node" = $1 ORDER BY 1 LIMIT 1', ["CUSTOMS_CLEARED"]
    )["order_id"][0]
    snapshot = client.get(f"/api/v1/orders/{order_id}").json()
    graph = client.get(f"/api/v1/orders/{order_id}/graph").json()
    root = f"Order:{order_id}"
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert nodes[root]["label"] == "Order" and nodes[root]["properties"] == snapshot["order"]
    from_root = {(e["target"], e["type"]) for e in graph["edges"] if e["source"] == root}
    for kind, records in snapshot["linked"].items():
        if kind == "orders":
            continue
        spec = BY_NAME[kind]
        targets = {n["id"] for n in graph["nodes"] if n["kind"] == kind}
        assert len(targets) == len({tuple(str(r.get(c)) for c in spec.identity) for r in records}), kind
        for target in targets:
            assert any(t == target for t, _ in from_root), (kind, target)
    assert {"Customer", "Warehouse"} <= {n["label"] for n in graph["nodes"]}
    for edge in graph["edges"]:
        assert edge["source"] in nodes and edge["target"] in nodes
    assert (
        sum(1 for n in graph["nodes"] if n["kind"] == "shipments") == len(snapshot["linked"]["shipments"]) > 0
    )


def test_search_ignores_case(client):
    upper = client.get("/api/v1/orders", params={"q": "O000001"}).json()["orders"]
    lower = client.get("/api/v1/orders", params={"q": "o000001"}).json()["orders"]
    assert upper == lower and len(upper) == 10  # O0000010 … O0000019
    assert all("o000001" in o["order_id"].lower() for o in upper)
    exact = client.get("/api/v1/orders", params={"q": "o0000015", "limit": 3}).json()["orders"]
    assert exact[0]["order_id"] == "O0000015"
    assert client.get("/api/v1/orders", params={"q": "%"}).json()["orders"] == []  # a wildcard is text
    assert len(client.get("/api/v1/orders", params={"q": "O", "limit": 7}).json()["orders"]) == 7


def test_stats_is_the_cli_json(client, stores):
    assert client.get("/api/v1/stats").json() == jsonable(collect_stats(stores))


# --- metrics and health ------------------------------------------------------------------


def test_metrics_in_prometheus_text(client, folder):
    from prometheus_client.parser import text_string_to_metric_families

    client.get("/api/v1/orders/O0000001")
    client.get("/api/v1/orders/NOPE")
    head, lines = _csv_lines(folder / "orders.csv")
    bad = lines[50].split(",")
    bad[12] = "later"
    client.post(
        "/api/v1/records/orders",
        content="\n".join([head, _renamed(lines[51], "T-MET-1"), ",".join(bad)]),
        headers=CSV,
    )
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }

    def value(name: str, **labels: str) -> float:
        return samples.get((name, tuple(sorted(labels.items()))), 0.0)

    route = "/api/v1/orders/{order_id}"
    assert value("orderscope_http_requests_total", method="GET", route=route, status="200") >= 1
    assert value("orderscope_http_requests_total", method="GET", route=route, status="404") >= 1
    assert not any("NOPE" in str(labels) for _, labels in samples)  # labelled by route, not by path
    assert value("orderscope_http_request_seconds_count", route=route) >= 2
    assert value("orderscope_ingest_rows_total", kind="orders", outcome="accepted") >= 1
    assert value("orderscope_ingest_rows_total", kind="orders", outcome="rejected") >= 1
    assert value("orderscope_quarantine_rows", kind="orders", outcome="rejected") >= 1
    lag = value("orderscope_data_clock_lag_seconds")
    assert lag > 0  # the generated data ends before now


def test_health_and_readiness(client, stores):
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ready", "data_clock": jsonable(stores.series.data_clock())}


def test_openapi_document_lists_the_api(client):
    doc = client.get("/openapi.json").json()
    paths = doc["paths"]
    for path in ("/api/v1/records/{kind}", "/api/v1/orders/{order_id}", "/api/v1/orders/{order_id}/graph"):
        assert path in paths
    push = paths["/api/v1/records/{kind}"]["post"]
    assert {"application/json", "text/csv", "multipart/form-data"} <= set(push["requestBody"]["content"])
    assert {"409", "413", "422"} <= set(push["responses"])


def test_owner_file(tmp_path):
    """A live hub owns its data dir; a dead one does not, nor one whose pid another, younger
    process got since (the hub was killed and could not clean up)."""
    import subprocess
    import sys
    from datetime import UTC, datetime, timedelta

    from orderscope import ownership

    settings = load_settings(backend="embedded", data_dir=tmp_path)
    me = ownership.claim(settings, "http://127.0.0.1:1/")
    assert oct((tmp_path / "hub.json").stat().st_mode & 0o777) == "0o600"
    assert ownership.live_owner(settings) is None  # this process itself
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        time.sleep(0.5)
        for started, owns in ((datetime.now(UTC), True), (datetime.now(UTC) - timedelta(hours=1), False)):
            record = {"pid": child.pid, "url": me.url, "token": me.token, "started_at": started.isoformat()}
            (tmp_path / "hub.json").write_text(json.dumps(record))
            assert (ownership.live_owner(settings) is not None) is owns
    finally:
        child.kill()
        child.wait()
    assert ownership.live_owner(settings) is None  # its pid is gone
    ownership.release(settings, me)  # not ours any more: left alone
    assert (tmp_path / "hub.json").exists()


# --- the demo data pushed in batches -----------------------------------------------------

BATCH_ROWS = 1500  # order-keyed files: orders and events span batches
MAX_BATCHES = 6  # per file: the high-volume readings go in larger batches


def _batches(path: Path, fmt: str, rows: int) -> Iterator[tuple[bytes, dict[str, str]]]:
    """A source file cut into bodies of `rows` records or more (at most MAX_BATCHES), as a
    sender would push them: CSV as CSV, Parquet as Parquet, JSON Lines alternately as NDJSON
    and as a JSON array."""
    if fmt == "parquet":
        table = pq.read_table(path)
        rows = max(rows, -(-table.num_rows // MAX_BATCHES))
        for start in range(0, table.num_rows, rows):
            buf = io.BytesIO()
            pq.write_table(table.slice(start, rows), buf)
            yield buf.getvalue(), PARQUET
    elif fmt == "csv":
        head, lines = _csv_lines(path)
        rows = max(rows, -(-len(lines) // MAX_BATCHES))
        for start in range(0, len(lines), rows):
            yield ("\n".join([head, *lines[start : start + rows]]) + "\n").encode(), CSV
    else:
        lines = [line for line in path.read_text().splitlines() if line.strip()]
        rows = max(rows, -(-len(lines) // MAX_BATCHES))
        for n, start in enumerate(range(0, len(lines), rows)):
            part = lines[start : start + rows]
            if n % 2:
                yield json.dumps([json.loads(line) for line in part]).encode(), JSON
            else:
                yield ("\n".join(part) + "\n").encode(), NDJSON


def _last_events(path: Path, n: int) -> list[int]:
    """Line numbers (0-based) of the last event of `n` orders whose last event is in the file's
    last batch: damaging them rejects them and nothing after them."""
    lines = path.read_text().splitlines()
    last: dict[str, int] = {}
    for i, line in enumerate(lines):
        last[json.loads(line)["order_id"]] = i
    tail_start = (len(lines) - 1) // BATCH_ROWS * BATCH_ROWS
    return sorted(i for i in last.values() if i >= tail_start)[:n]


def _damage(path: Path, lines_to_damage: list[int]) -> None:
    """Three kinds of bad event: a state outside the catalog, an unreadable time, an unknown order."""
    lines = path.read_text().splitlines()
    for j, i in enumerate(lines_to_damage):
        event = json.loads(lines[i])
        if j % 3 == 0:
            event["to_state"] = "TELEPORTED"
        elif j % 3 == 1:
            event["at"] = "the day after"
        else:
            event["order_id"] = "NO-SUCH-ORDER"
        lines[i] = json.dumps(event)
    path.write_text("\n".join(lines) + "\n")


def test_pushed_in_batches_equals_ingested_from_files(folder, copy_of, tmp_path):
    """Every source file of a generated folder pushed in batches, in the folder's kind order,
    into one store; the same files ingested as a folder into another: the same stats and the
    same snapshots. Three damaged events in the last order_events batch are quarantined, and
    nothing else."""
    data = copy_of(folder)
    damaged = _last_events(data / "order_events.jsonl", 3)
    assert len(damaged) == 3
    _damage(data / "order_events.jsonl", damaged)

    def stats_and_snapshots(stores: Stores) -> tuple[dict[str, Any], dict[str, Any]]:
        stats = collect_stats(stores)
        stats.pop("backend")
        return stats, {o: jsonable(build_snapshot(stores, o)) for o in _sample(stores, 25)}

    files_settings: Settings = load_settings(backend="embedded", data_dir=tmp_path / "files")
    with open_stores(files_settings) as stores:
        ingest_folder(data, stores)
        expected = stats_and_snapshots(stores)

    pushed_settings = load_settings(backend="embedded", data_dir=tmp_path / "pushed")
    with open_stores(pushed_settings) as stores:
        client = TestClient(
            create_app(pushed_settings, stores, dashboard=False), raise_server_exceptions=False
        )
        files, _ = discover(data)
        answers = []
        for source in files:
            for n, (body, headers) in enumerate(_batches(source.path, source.format, BATCH_ROWS)):
                key = {"Idempotency-Key": f"{source.kind.name}-{n}"}
                r = client.post(
                    f"/api/v1/records/{source.kind.name}", content=body, headers={**headers, **key}
                )
                assert r.status_code == 200, (source.path.name, n, r.text)
                answers.append((source.kind.name, n, r.json()))
        pushed = stats_and_snapshots(stores)

    not_accepted = [(kind, n, a) for kind, n, a in answers if a["accepted"] != a["rows_read"]]
    assert len(not_accepted) == 1
    kind, n, answer = not_accepted[0]
    assert kind == "order_events" and _counts(answer)[1:] == (answer["rows_read"] - 3, 3, 0, 0)
    assert [r["row_number"] for r in answer["rows"]] == [i - n * BATCH_ROWS + 1 for i in damaged]
    reasons = " ".join(r["reason"] for r in answer["rows"])
    assert "TELEPORTED" in reasons and "the day after" in reasons and "NO-SUCH-ORDER" in reasons

    assert pushed[0] == expected[0]
    assert pushed[0]["quarantine"] == 3 and pushed[0]["quarantine_by_kind"] == {
        "order_events": {"rejected": 3, "conflict": 0}
    }
    assert pushed[1] == expected[1]
    assert pushed[0]["kinds"]["orders"]["count"] == ORDERS
