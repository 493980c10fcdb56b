"""schemathesis against the hub's own OpenAPI document: every operation, generated requests
(valid and invalid), and for each response: no server error, a status the document declares,
the declared content type, a body that matches the declared schema.

The app runs in-process (ASGI) over a real embedded store holding generated data, so order IDs
hit real orders now and then and pushed batches go through the real pipeline. The number of
examples per operation is fixed (fewer for the analytics routes, each of which runs a whole
analysis per request) and derandomized: the same requests every run, however fast the machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from orderscope.config import load_settings
from orderscope.hub.server import create_app
from orderscope.ingest.pipeline import ingest_folder
from orderscope.stores import open_stores

ORDERS, SEED = 400, 5
EXAMPLES = 12  # per operation and mode (valid, invalid)
ANALYTICS_EXAMPLES = 4  # the analytics routes each run a whole analysis per request
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def app(generated, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    # a small request limit, so generated bodies also meet the 413 path
    hub_settings = load_settings(
        backend="embedded", data_dir=tmp_path_factory.mktemp("hub-schema"), max_request_mb=0.25
    )
    with open_stores(hub_settings) as stores:
        ingest_folder(generated(ORDERS, SEED), stores)
        yield create_app(hub_settings, stores, dashboard=False)


CORE = {
    "/api/v1/records/{kind}",
    "/api/v1/ingest/folder",
    "/api/v1/orders/{order_id}",
    "/api/v1/orders/{order_id}/graph",
    "/api/v1/orders",
    "/api/v1/stats",
    "/healthz",
    "/readyz",
    "/metrics",
}


def _conforms(operation: Any, mode: GenerationMode) -> str | None:
    """None when every generated request of `operation` passes CHECKS; else the failure."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES if operation.path in CORE else ANALYTICS_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,  # the same requests every run
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    def run(case: Any) -> None:
        case.call_and_validate(checks=CHECKS)

    try:
        run()
    except Unsatisfiable:  # no invalid request exists (an operation without parameters)
        return None
    except Exception as e:  # a FailureGroup names every distinct failure and how to reproduce it
        return f"{operation.method.upper()} {operation.path} ({mode.value}): {e}"
    return None


def test_every_operation_conforms(app: Any) -> None:
    """Positive (valid per the document) and negative (invalid) requests for every operation
    (the analytics routes included, whatever exists when this runs)."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9
    failures = [
        failure
        for operation in operations
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        if (failure := _conforms(operation, mode)) is not None
    ]
    assert not failures, "\n\n".join(failures)


def test_the_document_covers_the_api(app: Any) -> None:
    paths = app.openapi()["paths"]
    operations = {(m, p) for p, ops in paths.items() for m in ops}
    for expected in (
        ("post", "/api/v1/records/{kind}"),
        ("post", "/api/v1/ingest/folder"),
        ("get", "/api/v1/orders/{order_id}"),
        ("get", "/api/v1/orders/{order_id}/graph"),
        ("get", "/api/v1/orders"),
        ("get", "/api/v1/stats"),
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/metrics"),
    ):
        assert expected in operations
    for path, ops in paths.items():
        for method, op in ops.items():
            if path.startswith("/api/v1/") and "422" in op["responses"]:  # routes with parameters
                schema_ref = op["responses"]["422"]["content"]["application/json"]["schema"]["$ref"]
                assert schema_ref.endswith("/ErrorBody"), (method, path)
