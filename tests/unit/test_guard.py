"""The state-change guard (orderscope.domain.guard): each status change against the catalog's
legal edges, reason rules and evidence rules, with the full message a person reads in quarantine.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from orderscope.domain.guard import REASON, guard_reasons
from orderscope.domain.lifecycle import Catalog, load_catalog

Change = tuple[str | None, str, str | None, str | None]  # from, to, reason code, evidence


def judge(catalog: Catalog, *changes: Change) -> list[str | None]:
    frame = pl.DataFrame(changes, schema=["from_state", "to_state", "reason_code", "evidence"], orient="row")
    reasons = guard_reasons(frame, catalog)
    assert reasons.name == REASON and reasons.len() == len(changes)
    return reasons.to_list()


@pytest.fixture(scope="module")
def shipped() -> Catalog:
    return load_catalog()


def test_a_legal_transition_passes(shipped: Catalog) -> None:
    assert judge(shipped, (None, "CREATED", None, None), ("PICKED", "QC_INSPECTING", None, None)) == [
        None,
        None,
    ]


def test_an_illegal_transition_is_named(shipped: Catalog) -> None:
    assert judge(shipped, ("PICKED", "DELIVERED", None, None)) == ["illegal transition PICKED → DELIVERED"]


def test_a_missing_required_reason_lists_the_allowed_codes(shipped: Catalog) -> None:
    assert judge(shipped, ("PAID", "PICKING", None, None)) == [
        "missing reason code for PAID → PICKING (catalog requires one of: EXPRESS_PICK)"
    ]
    assert judge(shipped, ("PAID", "PICKING", "EXPRESS_PICK", None)) == [None]


def test_evidence_is_required_where_the_catalog_says_so(shipped: Catalog) -> None:
    rework = ("QC_INSPECTING", "PICKING")
    assert judge(
        shipped, (*rework, "QC_FAILED", None), (*rework, None, None), (*rework, "QC_FAILED", "QC-17")
    ) == [
        "missing evidence for QC_INSPECTING → PICKING (catalog requires a document reference)",
        "missing reason code for QC_INSPECTING → PICKING (catalog requires one of: QC_FAILED); "
        "missing evidence for QC_INSPECTING → PICKING (catalog requires a document reference)",
        None,
    ]


MINI = """
[nodes]
NEW  = { sla_hours = 1 }
HELD = { sla_hours = 2 }
DONE = { resting = true }

[roles]
start = "NEW"
handover = "HELD"
delivered = "DONE"
cancelled = "DONE"

[reasons]
AUDIT = "Held for an audit"
OTHER = "Something else"

[[transitions]]
from = ""
to = "NEW"

[[transitions]]
from = "NEW"
to = "HELD"
reason = "required"
reasons = ["AUDIT"]
evidence = true

[[transitions]]
from = "HELD"
to = "DONE"
reason = "optional"
"""


def test_the_rules_come_from_the_catalog_data(tmp_path: Path) -> None:
    path = tmp_path / "mini.toml"
    path.write_text(MINI)
    mini = load_catalog(path)
    assert judge(
        mini,
        (None, "NEW", None, None),
        ("NEW", "HELD", "AUDIT", "doc-1"),
        ("HELD", "DONE", None, None),
        ("HELD", "DONE", "OTHER", None),
        ("NEW", "HELD", "OTHER", "doc-1"),
        ("NEW", "DONE", None, None),
        ("NEW", "CREATED", None, None),
    ) == [
        None,
        None,
        None,
        None,
        "reason code 'OTHER' not allowed for NEW → HELD (allowed: AUDIT)",
        "illegal transition NEW → DONE",
        "unknown state 'CREATED' (not in the lifecycle catalog)",
    ]
