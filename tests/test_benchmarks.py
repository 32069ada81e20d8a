"""The benchmark scripts still run: every one answers --help (its imports work), and the
rendering benchmark runs end to end on a tiny model."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = sorted(p.name for p in BENCHMARKS.glob("*.py") if p.name != "benchmark_models.py")


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_benchmark_answers_help(script):
    pytest.importorskip("torch")  # they compare against, or export with, PyTorch
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout


@pytest.mark.slow
def test_the_rendering_benchmark_runs_on_a_tiny_model():
    pytest.importorskip("torch")
    done = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS / "render_overhead.py"),
            "--config",
            "tiny",
            "--seconds",
            "3",
            "--repeats",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "graph overhead:" in done.stdout and "files/arrays" in done.stdout
