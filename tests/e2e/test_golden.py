"""Golden outputs: the JSON of snapshot, rootcause, stalls, flows and patterns mine on a fixed
seed stays exactly what it was before a restructuring (floats to 6 decimals, timings dropped).

The files under tests/e2e/golden/ were taken before the application-layer move. If a change is meant
to alter an output, regenerate them with `ORDERSCOPE_UPDATE_GOLDEN=1 python -m pytest
tests/e2e/test_golden.py` and say why in the commit.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from orderscope.cli import app

GOLDEN = Path(__file__).parent / "golden"
VOLATILE = {"seconds", "elapsed_s", "run_id", "recorded_at", "created_at_run", "took_s"}
runner = CliRunner()


def _normal(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_normal(v) for v in value]
    return value


@pytest.fixture(scope="module")
def store(generated, tmp_path_factory):
    folder = generated(orders=2000, seed=31)
    data_dir = tmp_path_factory.mktemp("golden-store")
    result = runner.invoke(app, ["ingest", str(folder), "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    truth = json.loads((folder / "ground_truth.json").read_text())
    return data_dir, truth


def _questions(truth: dict) -> list[tuple[str, list[str]]]:
    out = [
        ("snapshot-O0000001", ["snapshot", "O0000001"]),
        ("snapshot-O0000777", ["snapshot", "O0000777"]),
        ("snapshot-O0001999", ["snapshot", "O0001999"]),
        ("stalls", ["stalls", "--limit", "25"]),
        ("stalls-open", ["stalls", "--open", "--limit", "25"]),
        ("flows", ["flows", "--period", "2026-W47"]),
        ("patterns-mine", ["patterns", "mine", "--no-record"]),
    ]
    for incident in truth["incidents"]:
        slice_ = ",".join(f"{k}={v}" for k, v in incident["slice"].items())
        args = [
            "rootcause",
            "--metric",
            incident["metric"],
            "--period",
            incident["period"],
            "--baseline",
            incident["baseline"],
        ]
        if slice_:
            args += ["--slice", slice_]
        out.append((f"rootcause-{incident['id']}", args))
    return out


# The incidents of the default scenario are known without generating: one test per question.
NAMES = [
    "snapshot-O0000001",
    "snapshot-O0000777",
    "snapshot-O0001999",
    "stalls",
    "stalls-open",
    "flows",
    "patterns-mine",
    "rootcause-qc_rework_spike",
    "rootcause-customs_stall",
    "rootcause-flow_loop",
]


@pytest.mark.parametrize("name", NAMES)
def test_json_output_is_unchanged(name, store):
    data_dir, truth = store
    args = dict(_questions(truth))[name]
    result = runner.invoke(app, [*args, "--json", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    got = _normal(json.loads(result.stdout))
    path = GOLDEN / f"{name}.json"
    if os.environ.get("ORDERSCOPE_UPDATE_GOLDEN") or not path.exists():
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(json.dumps(got, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
        if not os.environ.get("ORDERSCOPE_UPDATE_GOLDEN"):
            pytest.fail(f"no golden output for {name}: written now, commit {path}")
    assert got == json.loads(path.read_text()), f"{name} changed; see {path}"
