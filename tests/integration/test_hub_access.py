"""Access to the hub with users and tokens configured: who gets in (password, token, session
cookie), what each role may reach (API and dashboard alike), and that personal data never
leaves masked for a role without it, whatever the output. Real stores, real Argon2 hashes."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from orderscope.config import Settings, load_settings
from orderscope.domain.access import MASK
from orderscope.hub.access import hash_password, new_token
from orderscope.hub.server import check_binding, create_app
from orderscope.ports import Stores
from orderscope.stores import open_stores

ORDERS, SEED = 400, 5
PASSWORDS = {"mia": "manager-secret-1", "ann": "analyst-secret-2", "axel": "agent-secret-33"}
ROLES = {"mia": "manager", "ann": "analyst", "axel": "agent"}
TOKENS = {role: new_token() for role in ("manager", "analyst", "agent")}
# Routes every role may use; every other /api/v1 operation is analytics or ingest.
ORDER_ROUTES = {
    ("get", "/api/v1/orders/{order_id}"),
    ("get", "/api/v1/orders/{order_id}/graph"),
    ("get", "/api/v1/orders"),
}
INGEST_ROUTES = {("post", "/api/v1/records/{kind}"), ("post", "/api/v1/ingest/folder")}


def _settings(data_dir: Any, **extra: Any) -> Settings:
    return load_settings(
        backend="embedded",
        data_dir=data_dir,
        users=[
            {"name": n, "role": ROLES[n], "password_hash": hash_password(p)} for n, p in PASSWORDS.items()
        ],
        tokens=[{"name": f"{role}-system", "role": role, "digest": d} for role, (_, d) in TOKENS.items()],
        **extra,
    )


@pytest.fixture(scope="module")
def hub(ingested) -> Iterator[tuple[TestClient, Stores]]:
    store, _ = ingested(ORDERS, SEED)
    settings = _settings(store.data_dir)
    with open_stores(settings, read_only=True) as stores:
        app = create_app(settings, stores)
        with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
            yield client, stores


@pytest.fixture
def client(hub) -> TestClient:
    hub[0].cookies.clear()
    return hub[0]


def basic(name: str, password: str | None = None) -> dict[str, str]:
    raw = f"{name}:{password if password is not None else PASSWORDS[name]}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def bearer(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role][0]}"}


def _operations(client: TestClient) -> list[tuple[str, str]]:
    paths = client.get("/openapi.json").json()["paths"]
    return [(m, p) for p, ops in paths.items() if p.startswith("/api/v1/") for m in ops]


def _call(client: TestClient, method: str, path: str, headers: dict[str, str]) -> Any:
    url = re.sub(r"\{[^}]+\}", "orders" if "records" in path else "O0000001", path)
    if method == "get":
        return client.get(url, headers=headers)
    return client.request(
        method.upper(), url, headers={**headers, "content-type": "application/json"}, content=b"{}"
    )


# --- who gets in -------------------------------------------------------------------------


def test_no_credentials_401_on_every_api_operation(client):
    for method, path in _operations(client):
        r = _call(client, method, path, {})
        assert r.status_code == 401, (method, path, r.text)
        assert r.json()["error"] == "unauthorized"


def test_wrong_credentials_401(client):
    for headers in (
        basic("mia", "not-her-password"),
        basic("nobody", "whatever-it-is"),
        {"Authorization": "Bearer osk_not-a-token"},
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Digest something"},
    ):
        assert client.get("/api/v1/orders/O0000001", headers=headers).status_code == 401


def test_password_and_token_let_in(client):
    for name in PASSWORDS:
        assert client.get("/api/v1/orders/O0000001", headers=basic(name)).status_code == 200
    for role in TOKENS:
        assert client.get("/api/v1/orders/O0000001", headers=bearer(role)).status_code == 200


def test_health_and_metrics_need_no_credentials(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/metrics").status_code == 200


def test_dashboard_pages_redirect_to_login(client):
    for path in ("/", "/drilldown", "/order?order=O0000001", "/stalls"):
        r = client.get(path)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/login?next=")
    r = client.post("/_dash-update-component", json={})
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    assert client.get("/login").status_code == 200


def test_login_sets_a_session_that_opens_the_dashboard(client):
    r = client.post("/login", data={"name": "mia", "password": "wrong-password", "next": "/"})
    assert r.status_code == 401 and "Wrong name or password" in r.text
    assert "orderscope_session" not in client.cookies
    r = client.post("/login", data={"name": "mia", "password": PASSWORDS["mia"], "next": "/stalls"})
    assert r.status_code == 303 and r.headers["location"] == "/stalls"
    assert "orderscope_session" in client.cookies
    page = client.get("/stalls")
    assert page.status_code == 200 and "react-entry-point" in page.text
    assert client.get("/api/v1/stats").status_code == 200  # the session works for the API too
    client.get("/logout")
    client.cookies.clear()
    assert client.get("/").status_code == 303


@pytest.mark.parametrize("target", ["//evil.example/", "/\\evil.example", "https://evil.example/x", "evil"])
def test_login_never_redirects_off_the_hub(client, target):
    r = client.post("/login", data={"name": "ann", "password": PASSWORDS["ann"], "next": target})
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_forged_session_cookie_is_refused(client):
    client.cookies.set("orderscope_session", '["mia", "manager"]')
    assert client.get("/api/v1/stats").status_code == 401
    assert client.get("/").status_code == 303


# --- what each role may reach --------------------------------------------------------------


def test_agent_reaches_orders_only(client):
    ops = _operations(client)
    assert ("get", "/api/v1/stats") in ops
    for method, path in ops:
        for headers in (bearer("agent"), basic("axel")):
            r = _call(client, method, path, headers)
            if (method, path) in ORDER_ROUTES:
                assert r.status_code not in (401, 403), (method, path, r.text)
            else:  # analytics and ingest
                assert r.status_code == 403, (method, path, r.text)
                assert r.json()["error"] == "forbidden"


def test_analyst_reads_everything_and_writes_nothing(client):
    for method, path in _operations(client):
        r = _call(client, method, path, bearer("analyst"))
        assert r.status_code != 401, (method, path)
        if (method, path) in INGEST_ROUTES:
            assert r.status_code == 403, (method, path)
        elif method == "get":  # every read (a POST may write: a recorded mining run)
            assert r.status_code != 403, (method, path, r.text)
    r = client.post(
        "/api/v1/records/orders", content=b"[]", headers={**basic("ann"), "content-type": "application/json"}
    )
    assert r.status_code == 403


def test_manager_may_push(client):
    # the store is read-only here: the request gets past access and fails on the body instead
    r = client.post(
        "/api/v1/records/orders",
        content=b"{}",
        headers={**bearer("manager"), "content-type": "application/json"},
    )
    assert r.status_code == 422 and r.json()["error"] == "bad_batch"


def _route_page(client: TestClient, path: str, headers: dict[str, str] | None = None) -> str:
    """The dashboard's page callback for `path`, as the browser calls it."""
    outputs = ["nav-overview", "nav-drilldown", "nav-order", "nav-stalls"]
    payload = {
        "output": "..page.children..." + "...".join(f"{o}.className" for o in outputs) + "..",
        "outputs": [{"id": "page", "property": "children"}]
        + [{"id": o, "property": "className"} for o in outputs],
        "inputs": [
            {"id": "url", "property": "pathname", "value": path},
            {"id": "url", "property": "search", "value": ""},
        ],
        "changedPropIds": ["url.pathname"],
        "state": [],
    }
    r = client.post("/_dash-update-component", json=payload, headers=headers or {})
    assert r.status_code == 200, r.text
    return r.text


def test_dashboard_pages_by_role(client):
    client.post("/login", data={"name": "axel", "password": PASSWORDS["axel"]})
    for path in ("/", "/drilldown", "/stalls"):
        assert '"not-allowed"' in _route_page(client, path), path
    assert '"not-allowed"' not in _route_page(client, "/order")
    client.cookies.clear()
    client.post("/login", data={"name": "mia", "password": PASSWORDS["mia"]})
    assert '"kpi-orders"' in _route_page(client, "/")


def test_principal_header_from_the_client_is_ignored(client):
    forged = {"X-Orderscope-Principal": "mallory;manager", "X_Orderscope_Principal": "mallory;manager"}
    assert client.get("/api/v1/stats", headers=forged).status_code == 401
    assert client.get("/api/v1/stats", headers={**forged, **bearer("agent")}).status_code == 403
    assert client.get("/", headers=forged).status_code == 303
    client.post("/login", data={"name": "axel", "password": PASSWORDS["axel"]})
    assert '"not-allowed"' in _route_page(client, "/", forged)
    assert '"not-allowed"' in _route_page(
        client, "/", {"x-orderscope-principal": "axel;agent,mallory;manager"}
    )


# --- masking -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def personal_order(hub) -> str:
    """An order with approvals (free-text comments) and events with diffs."""
    _, stores = hub
    for order_id in stores.series.query('SELECT "order_id" FROM "orders" ORDER BY 1')["order_id"]:
        if stores.graph.order_records(order_id).get("approvals"):
            return order_id
    raise AssertionError("no order with approvals in the generated data")


def _personal_values(snapshot: dict[str, Any]) -> tuple[str, list[str]]:
    comments = [a["comment"] for a in snapshot["linked"]["approvals"] if a.get("comment")]
    return snapshot["order"]["customer_id"], comments


def _diffs(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [v for k, v in value.items() if k == "diff"] + [d for v in value.values() for d in _diffs(v)]
    if isinstance(value, list):
        return [d for v in value for d in _diffs(v)]
    return []


def test_manager_sees_personal_data(client, personal_order):
    snapshot = client.get(f"/api/v1/orders/{personal_order}", headers=bearer("manager")).json()
    customer, comments = _personal_values(snapshot)
    assert customer.startswith("C") and comments
    assert any(isinstance(d, dict) and d for d in _diffs(snapshot))
    graph = client.get(f"/api/v1/orders/{personal_order}/graph", headers=basic("mia")).text
    assert f"Customer:{customer}" in graph


@pytest.mark.parametrize("who", ["agent", "analyst", "axel", "ann"])
def test_personal_data_never_leaves_unmasked(client, personal_order, who):
    manager = client.get(f"/api/v1/orders/{personal_order}", headers=bearer("manager")).json()
    customer, comments = _personal_values(manager)
    headers = bearer(who) if who in TOKENS else basic(who)
    outputs = {
        "snapshot": client.get(f"/api/v1/orders/{personal_order}", headers=headers),
        "graph": client.get(f"/api/v1/orders/{personal_order}/graph", headers=headers),
        "search": client.get("/api/v1/orders", params={"q": personal_order}, headers=headers),
    }
    for name, r in outputs.items():
        assert r.status_code == 200, name
        text = r.text
        assert not re.search(rf"\b{customer}\b", text), f"{name} shows the customer id"
        for comment in comments:
            assert json.dumps(comment)[1:-1] not in text, f"{name} shows an approval comment"
        for diff in _diffs(r.json()):
            assert diff == MASK, f"{name} shows a diff"
    snapshot = outputs["snapshot"].json()
    assert snapshot["order"]["customer_id"] == MASK
    assert all(a["comment"] == MASK for a in snapshot["linked"]["approvals"] if a["comment"] is not None)
    customer_events = [e for e in snapshot["events"] if e["actor"]["role"] == "user"]
    assert customer_events and all(e["actor"]["id"] == MASK for e in customer_events)
    # everything else is as the manager sees it
    assert snapshot["order"]["region"] == manager["order"]["region"]
    assert len(snapshot["events"]) == len(manager["events"])


# --- binding rules -----------------------------------------------------------------------


def test_binding_rules(tmp_path):
    open_hub = load_settings(backend="embedded", data_dir=tmp_path)
    refusal = check_binding(open_hub, "0.0.0.0")
    assert refusal and "0.0.0.0" in refusal and "users" in refusal
    assert check_binding(open_hub, "192.168.1.20")
    for loopback in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert check_binding(open_hub, loopback) is None
    with_users = _settings(tmp_path)
    assert check_binding(with_users, "0.0.0.0") is None
    tokens_only = load_settings(
        backend="embedded",
        data_dir=tmp_path,
        tokens=[{"name": "oms", "role": "agent", "digest": TOKENS["agent"][1]}],
    )
    assert check_binding(tokens_only, "0.0.0.0") is None
