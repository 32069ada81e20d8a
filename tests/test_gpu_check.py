"""benchmarks/gpu_check.py still runs: its dry run (the CPU provider, `tiny`) prints every check
of the GPU machine in one table and passes; what it cannot do it says, with a non-zero exit."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPT = BENCHMARKS / "gpu_check.py"
COLUMNS = ("config", "check", "variant", "seconds", "x realtime", "speed-up", "SNR per stem (dB)")


def table_rows(stdout: str) -> tuple[list[str], list[list[str]]]:
    """The table's header cells and rows (cells are two or more spaces apart)."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("config  "))
    cells = [re.split(r"\s{2,}", line.strip()) for line in lines[start:]]
    header = cells[0]
    rows = [row for row in cells[1:] if len(row) == len(header)]
    return header, rows


@pytest.fixture
def gpu_check(monkeypatch):
    """The script as a module (benchmarks/ is not a package)."""
    pytest.importorskip("torch")
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import gpu_check

    return gpu_check


def test_the_dry_run_prints_every_check_in_one_table_and_passes(tiny_export):
    pytest.importorskip("onnxruntime")
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--dry-run", "--model-dir", str(tiny_export.path.parent)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "dry run on CPUExecutionProvider" in done.stdout  # the device line
    header, rows = table_rows(done.stdout)
    assert header == [*COLUMNS, "result"]
    assert {row[0] for row in rows} == {"tiny"}
    by_check: dict[str, list[list[str]]] = {}
    for row in rows:
        by_check.setdefault(row[1], []).append(row)
    assert [row[-1] for row in by_check["provider"]] == ["ok: CPUExecutionProvider"] * 2
    binding = {row[2].split(":")[0]: row for row in by_check["io binding"]}
    assert set(binding) == {"node default", "off", "on, cpu buffers"}
    assert binding["on, cpu buffers"][2].endswith("+ 0 plain calls")
    variants = [row[2] for row in by_check["node vs torch"]]
    assert variants[0].startswith("torch, node's overlap-add")
    assert variants[1].startswith("torch, the tutorial's pipeline")
    assert variants[2:] == ["node fp32, batch 1", "node fp16, batch 1"]
    assert len(by_check["fp16 parity"]) == 1
    assert [row[2].split(":")[0] for row in by_check["batch size"]] == [
        "batch 1 (default)",
        "batch 2",
    ]
    gated = [row for row in rows if row[6] != "-" and row[-1] != "-"]
    assert gated and all(row[-1].startswith(("ok", "reference")) for row in gated)
    for row in gated:  # four stems, each a number of dB
        assert len(row[6].split()) == 4 and all(float(v) > 30 for v in row[6].split())
    assert all(float(row[4]) > 0 for row in rows if row[3] != "-")  # x realtime
    assert "every check passed" in done.stdout


def test_a_configuration_that_cannot_be_built_is_a_failed_row(gpu_check, capsys):
    assert gpu_check.main(["--dry-run", "--configs", "no_such_config"]) == 1
    out = capsys.readouterr().out
    _, rows = table_rows(out)
    assert rows == [
        [
            "no_such_config",
            "setup",
            "build and export",
            "-",
            "-",
            "-",
            "-",
            rows[0][-1],
        ]
    ]
    assert rows[0][-1].startswith("FAIL: InvalidValueError: unknown model configuration")
    assert "known: " in rows[0][-1] and "tiny" in rows[0][-1]
    assert "1 of 1 rows failed" in out


def test_a_package_a_configuration_needs_is_named_as_missing(gpu_check, monkeypatch, capsys):
    import stemboard.export
    from stemboard.errors import InvalidValueError

    def needs_demucs(config, seed=0):
        try:
            import demucs_is_not_here  # noqa: F401
        except ImportError:
            raise InvalidValueError("exporting a HTDemucs needs the demucs package") from None

    monkeypatch.setattr(stemboard.export, "build_model", needs_demucs)
    assert gpu_check.main(["--dry-run", "--configs", "tiny"]) == 1
    _, rows = table_rows(capsys.readouterr().out)
    assert [row[1] for row in rows] == ["setup"]
    assert rows[0][-1].startswith("MISSING: Python package 'demucs_is_not_here'")


def test_what_the_environment_lacks_is_listed_before_anything_runs(gpu_check, monkeypatch, capsys):
    monkeypatch.setattr(gpu_check, "available", lambda name: name not in ("pedalboard", "onnx"))
    assert gpu_check.main(["--dry-run"]) == 2
    out = capsys.readouterr().out
    assert "cannot run here" in out
    assert "Python package 'onnx' is not installed" in out
    assert "Python package 'pedalboard' is not installed" in out
    assert "config  " not in out  # no table


def test_without_a_gpu_the_real_run_says_so_and_exits_2(gpu_check, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the real run would start")
    assert gpu_check.main([]) == 2
    assert "sees no CUDA GPU" in capsys.readouterr().out
