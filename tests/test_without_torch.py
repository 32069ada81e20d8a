"""The runtime's tests pass where torch is not installed.

They run again in a child pytest whose ``torch`` and ``torchaudio`` cannot be imported (a
stand-in package that fails on import comes first on ``PYTHONPATH``, so every process the tests
start is without torch as well). Tests that need torch (exporting a model) skip there; the rest
must pass.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
RUNTIME_TESTS = [
    "test_audio.py",
    "test_atomic.py",
    "test_graph.py",
    "test_node.py",
    "test_backends.py",
    "test_shifts.py",
    "test_separate_file.py",
    "test_render.py",
    "test_presets_schema.py",
    "test_imports.py",
    "test_studio_api.py",
    "test_torch_file.py",
    "test_download.py",
    "test_pretrained.py",
]


@pytest.mark.slow
def test_runtime_tests_pass_without_torch(tmp_path):
    for name in ("torch", "torchaudio"):
        (tmp_path / name).mkdir()
        message = f"No module named {name!r} (hidden by the test)"
        (tmp_path / name / "__init__.py").write_text(
            f"raise ModuleNotFoundError({message!r}, name={name!r})\n"
        )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(TESTS.parent)])}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-x",
            *[str(TESTS / name) for name in RUNTIME_TESTS],
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=TESTS.parent,
        timeout=1200,
    )
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    passed = int(re.search(r"(\d+) passed", summary)[1])
    assert passed >= 300, summary
    assert "error" not in summary, summary
