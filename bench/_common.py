"""Shared helpers of the bench scripts: cached generated data, fresh stores, peak memory."""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

from orderscope.config import Settings, load_settings

BENCH_HOME = Path(__file__).resolve().parent / ".data"


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--orders", type=int, default=100_000, help="orders in the generated dataset")
    p.add_argument("--seed", type=int, default=11, help="generator seed")
    p.add_argument("--backend", choices=["embedded", "server"], default="embedded")
    return p


def dataset(orders: int, seed: int) -> Path:
    """Generated source files for (orders, seed), made once in a child process so its memory
    does not count against the figure being measured."""
    out = BENCH_HOME / f"data-{orders}-{seed}"
    if not (out / "ground_truth.json").exists():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "orderscope.cli",
                "generate",
                "--orders",
                str(orders),
                "--seed",
                str(seed),
                "--out",
                str(out),
            ],
            check=True,
        )
    return out


def settings_for(backend: str, orders: int, seed: int) -> Settings:
    return load_settings(backend=backend, data_dir=BENCH_HOME / f"store-{orders}-{seed}")


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def emit(figures: dict) -> None:
    sys.stdout.write(json.dumps(figures) + "\n")
