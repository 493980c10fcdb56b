"""Property: whatever a file mixes (good rows, garbage, repeats, changed repeats, huge values,
missing fields), ingest accounts for every row — read = accepted + rejected + duplicate +
conflict — never raises, and every untouched good row still arrives."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orderscope.config import load_settings
from orderscope.ingest.pipeline import ingest_folder
from orderscope.stores import open_stores

KINDS = ("payments", "notifications")  # one CSV, one JSON Lines kind, both keyed by order


@pytest.fixture(scope="module")
def base(generated, tmp_path_factory):
    """A store holding the order master only, and the good rows of the two kinds."""
    folder = generated()
    only_orders = tmp_path_factory.mktemp("orders-only")
    shutil.copy(folder / "orders.csv", only_orders / "orders.csv")
    store = tmp_path_factory.mktemp("prop-base") / "store"
    with open_stores(load_settings(backend="embedded", data_dir=store)) as stores:
        ingest_folder(only_orders, stores)
    with (folder / "payments.csv").open(newline="") as f:
        payments = list(csv.DictReader(f))[:40]
    notifications = [json.loads(x) for x in (folder / "notifications.jsonl").read_text().splitlines()][:40]
    return store, {"payments": payments, "notifications": notifications}


_TEXT = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", "abc", "-1e309", "2026-02-30T00:00:00Z", "9999-12-31T00:00:00Z", "[/]"]),
    st.integers(min_value=100_000, max_value=300_000).map(lambda n: "x" * n),
)


@st.composite
def _plan(draw):
    """Per kind: a list of (index of a good row, action, field, new value)."""
    actions = st.tuples(
        st.integers(0, 39),
        st.sampled_from(["keep", "repeat", "change", "garble", "drop_field"]),
        st.integers(0, 20),
        _TEXT,
    )
    return {k: draw(st.lists(actions, max_size=25)) for k in KINDS}


def _write(folder: Path, kind: str, rows: list[dict], names: list[str]) -> None:
    if kind == "payments":  # a dropped field is an empty cell: the header stays whole
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=names, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in names})
        (folder / "payments.csv").write_text(buf.getvalue())
    else:
        (folder / "notifications.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=_plan())
def test_every_row_is_accounted_for_and_good_rows_arrive(plan, base, tmp_path_factory):
    store_template, good = base
    work = tmp_path_factory.mktemp("prop")
    store = work / "store"
    shutil.copytree(store_template, store)
    folder = work / "in"
    folder.mkdir()
    untouched: dict[str, set[str]] = {}
    for kind in KINDS:
        key = "payment_id" if kind == "payments" else "notification_id"
        rows: list[dict] = []
        touched: set[str] = set()
        for index, action, field, value in plan[kind]:
            row = dict(good[kind][index])
            name = list(row)[field % len(row)]
            if action == "repeat":
                rows.append(dict(row))
            elif action == "change" and name != key:
                row[name] = value
                touched.add(row[key])
            elif action == "garble":
                row[name] = value
                touched.add(row[key])
            elif action == "drop_field":
                row.pop(name)
                touched.add(row.get(key, ""))
            rows.append(row)
        for r in good[kind]:  # every good row once more, after the mix
            rows.append(dict(r))
        _write(folder, kind, rows, list(good[kind][0]))
        untouched[kind] = {r[key] for r in good[kind]} - touched
    with open_stores(load_settings(backend="embedded", data_dir=store)) as stores:
        report = ingest_folder(folder, stores).to_dict()
        for kind in KINDS:
            c = report["kinds"][kind]
            assert c["rows_read"] == c["accepted"] + c["rejected"] + c["duplicate"] + c["conflict"]
        for kind, label, key in (
            ("payments", "Payment", "payment_id"),
            ("notifications", "Notification", "notification_id"),
        ):
            stored = stores.graph.query(f"MATCH (x:`{label}`) RETURN x.`{key}` AS k")
            assert untouched[kind] <= set(pl.Series(stored["k"]).to_list()), kind
