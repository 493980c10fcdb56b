"""Shared fixtures: small generated datasets (made once per session) and fresh embedded stores."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from orderscope.config import Settings, load_settings
from orderscope.stores import Stores, open_stores


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory):
    """generated(orders, seed, scenario) -> folder, each made once per test session."""
    from orderscope.generator import generate

    made: dict[tuple, Path] = {}

    def make(orders: int = 400, seed: int = 5, scenario: str = "default") -> Path:
        key = (orders, seed, scenario)
        if key not in made:
            out = tmp_path_factory.mktemp(f"gen-{orders}-{seed}-{scenario}")
            generate(out, orders=orders, seed=seed, scenario=scenario)
            made[key] = out
        return made[key]

    return make


@pytest.fixture
def copy_of(tmp_path: Path):
    """A private, writable copy of a generated folder (to damage or shuffle)."""

    def copy(folder: Path, name: str = "data") -> Path:
        target = tmp_path / name
        shutil.copytree(folder, target)
        return target

    return copy


@pytest.fixture
def embedded_settings(tmp_path: Path) -> Settings:
    return load_settings(backend="embedded", data_dir=tmp_path / "store")


@pytest.fixture
def embedded(embedded_settings: Settings) -> Iterator[Stores]:
    with open_stores(embedded_settings) as stores:
        yield stores
