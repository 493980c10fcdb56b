"""The command line as a person uses it: help everywhere, JSON outputs, clear errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from orderscope.cli import app

runner = CliRunner()


def _commands(typer_app) -> list[list[str]]:
    import typer.main

    group = typer.main.get_command(typer_app)
    paths = [[]]
    for name, cmd in group.commands.items():
        paths.append([name])
        for sub in getattr(cmd, "commands", {}):
            paths.append([name, sub])
    return paths


@pytest.mark.parametrize("path", _commands(app), ids=lambda p: " ".join(p) or "orderscope")
def test_help_everywhere(path):
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


@pytest.fixture(scope="module")
def store(generated, tmp_path_factory):
    folder = generated()
    data_dir = tmp_path_factory.mktemp("cli-store")
    result = runner.invoke(app, ["ingest", str(folder), "--json", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    return folder, data_dir, json.loads(result.stdout)


def test_ingest_json_summary_per_kind(store):
    _, _, summary = store
    assert len(summary["kinds"]) == 17
    for counts in summary["kinds"].values():
        assert set(counts) >= {"rows_read", "accepted", "rejected", "duplicate"}
    assert summary["totals"]["accepted"] == summary["totals"]["rows_read"] > 0


def test_snapshot_json_and_timeline(store):
    _, data_dir, _ = store
    stats = json.loads(runner.invoke(app, ["stats", "--json", "--data-dir", str(data_dir)]).stdout)
    assert stats["kinds"]["orders"]["count"] > 0 and stats["quarantine"] == 0
    result = runner.invoke(app, ["snapshot", "O0000001", "--json", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    snap = json.loads(result.stdout)
    assert snap["order_id"] == "O0000001"
    assert snap["events"][0]["at"].endswith("Z") and len(snap["events"][0]["at"]) == 24
    assert set(snap) >= {"order", "events", "dwell", "linked", "stall"}
    text = runner.invoke(app, ["snapshot", "O0000001", "--data-dir", str(data_dir)])
    assert text.exit_code == 0 and "CREATED" in text.stdout


def test_unknown_order_fails_with_a_message(store):
    _, data_dir, _ = store
    result = runner.invoke(app, ["snapshot", "NOPE-1", "--data-dir", str(data_dir)])
    assert result.exit_code != 0
    assert "not in the store" in result.output


def test_commands_on_an_empty_data_dir_say_what_to_do(tmp_path):
    result = runner.invoke(app, ["stats", "--data-dir", str(tmp_path / "none")])
    assert result.exit_code != 0 and "orderscope ingest" in result.output


def test_reset_refuses_without_yes(store, tmp_path):
    result = runner.invoke(app, ["reset", "--data-dir", str(tmp_path)])
    assert result.exit_code != 0 and "--yes" in result.output


def test_demo_no_serve(tmp_path):
    result = runner.invoke(
        app,
        [
            "demo",
            "--orders",
            "300",
            "--no-serve",
            "--out",
            str(tmp_path / "demo"),
            "--data-dir",
            str(tmp_path / "store"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "orderscope snapshot" in result.stdout
    assert (tmp_path / "demo" / "ground_truth.json").exists()
