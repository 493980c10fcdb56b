"""The domain model: lifecycle catalog, source kinds, state-change guard."""

import polars as pl
import pytest

from orderscope.domain.guard import guard_reasons
from orderscope.domain.lifecycle import LIFECYCLE_NODES, load_catalog
from orderscope.domain.sources import BY_NAME, ENTITY_LABELS, SOURCE_KINDS, kind


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_catalog_has_the_23_nodes_in_order(catalog):
    assert catalog.nodes == LIFECYCLE_NODES
    assert len(catalog.nodes) == 23


def test_every_active_node_has_an_sla_and_resting_nodes_have_none(catalog):
    for node in catalog.nodes:
        if node in catalog.resting:
            assert catalog.sla_ms(node) is None
        else:
            assert catalog.sla_ms(node) > 0
    assert catalog.resting == {"DELIVERED", "CANCELLED", "REFUNDED"}


def test_rework_loop_requires_qc_failed_and_evidence(catalog):
    t = catalog.transition("QC_INSPECTING", "PICKING")
    assert t.reason == "required" and t.reasons == ("QC_FAILED",) and t.evidence


def test_domestic_and_cross_border_paths_are_legal(catalog):
    domestic = [
        "CREATED",
        "PAID",
        "RISK_CHECKED",
        "ALLOCATED",
        "WAVE_RELEASED",
        "PICKING",
        "PICKED",
        "QC_INSPECTING",
        "QC_PASSED",
        "PACKED",
        "SORTED",
        "LOADED",
        "HANDED_OVER",
        "DEPARTED_ORIGIN_HUB",
        "ARRIVED_DEST_HUB",
        "OUT_FOR_DELIVERY",
        "DELIVERED",
    ]
    for a, b in zip([None, *domestic], domestic, strict=False):
        assert catalog.transition(a, b) is not None, (a, b)
    i = domestic.index("DEPARTED_ORIGIN_HUB")
    cross = domestic[: i + 1] + ["CUSTOMS_DECLARED", "CUSTOMS_CLEARED"] + domestic[i + 1 :]
    for a, b in zip(cross, cross[1:], strict=False):
        assert catalog.transition(a, b) is not None, (a, b)


def test_catalog_file_override(tmp_path):
    text = """
[nodes]
CREATED = { sla_hours = 1 }
DONE = { resting = true }
[reasons]
X = "x"
[[transitions]]
from = ""
to = "CREATED"
[[transitions]]
from = "CREATED"
to = "NOPE"
"""
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match="unknown nodes"):
        load_catalog(str(path))


def test_seventeen_source_kinds_with_unique_names_and_files():
    assert len(SOURCE_KINDS) == 17
    assert len({k.file_name for k in SOURCE_KINDS}) == 17
    assert {k.format for k in SOURCE_KINDS} == {"csv", "jsonl", "parquet"}
    assert "Customer" in ENTITY_LABELS and "Broker" in ENTITY_LABELS


def test_kinds_linking_directly_have_order_id_and_graph_kinds_an_order_rel():
    direct = {k.name for k in SOURCE_KINDS if k.direct}
    assert direct >= {"orders", "order_events", "payments", "qc_reports", "shipments", "returns"}
    assert "equipment_calibrations" not in direct and "climate_readings" not in direct
    for k in SOURCE_KINDS:
        if k.store == "graph" and k.direct and k.name != "orders":
            assert k.order_rel, k.name
        assert k.identity and all(any(c.name == i for c in k.columns) for i in k.identity)


def test_unknown_kind_names_the_known_ones():
    with pytest.raises(KeyError, match="orders"):
        kind("invoices")
    assert BY_NAME["qc_reports"].label == "QCReport"


def _events(*rows):
    return pl.DataFrame(rows, schema=["from_state", "to_state", "reason_code", "evidence"], orient="row")


def test_guard_accepts_legal_changes(catalog):
    reasons = guard_reasons(
        _events(
            (None, "CREATED", None, None),
            ("CREATED", "PAID", None, None),
            ("QC_INSPECTING", "PICKING", "QC_FAILED", "QC-1"),
            ("PAID", "PAID", "ADDRESS_CHANGED", None),
            ("PAID", "CANCELLED", "CUSTOMER_CANCELLED", None),
        ),
        catalog,
    )
    assert reasons.to_list() == [None] * 5


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (("CREATED", "DELIVERED", None, None), "illegal transition CREATED → DELIVERED"),
        ((None, "PAID", None, None), "illegal transition (start) → PAID"),
        (("PAID", "CANCELLED", None, None), "missing reason code for PAID → CANCELLED"),
        (("QC_INSPECTING", "PICKING", "QC_FAILED", None), "missing evidence"),
        (("QC_INSPECTING", "PICKING", "OUT_OF_STOCK", "QC-1"), "not allowed"),
        (("CREATED", "PAID", "NO_SUCH_CODE", None), "unknown reason code 'NO_SUCH_CODE'"),
        (("CREATED", "SHIPPED", None, None), "unknown state 'SHIPPED'"),
        (("PAID", "PAID", None, None), "missing reason code for PAID → PAID"),
    ],
)
def test_guard_rejects_with_a_clear_message(catalog, row, message):
    (reason,) = guard_reasons(_events(row), catalog).to_list()
    assert reason is not None and message in reason


def test_guard_keeps_row_order_on_large_batches(catalog):
    rows = [("CREATED", "PAID", None, None), ("CREATED", "DELIVERED", None, None)] * 5000
    reasons = guard_reasons(_events(*rows), catalog).to_list()
    assert reasons[0::2] == [None] * 5000
    assert all(r.startswith("illegal") for r in reasons[1::2])
