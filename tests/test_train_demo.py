"""tools/train_demo.py: the demo model's training is reproducible and its batches are sound."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchaudio")

TOOLS = Path(__file__).resolve().parents[1] / "tools"


@pytest.fixture(scope="module")
def train_demo():
    # Imported by name from tools/ so its song-generating worker processes can find it too.
    sys.path.insert(0, str(TOOLS))
    try:
        yield importlib.import_module("train_demo")
    finally:
        sys.path.remove(str(TOOLS))


def test_remix_batches_sum_their_stems_and_mix_songs(train_demo):
    pool = np.random.default_rng(0).standard_normal((5, 4, 2, 1000)).astype(np.float32)
    sampler = train_demo.RemixSampler(pool, samples=300, seed=1, coherent=0.0)
    mix, stems = sampler.batch(6)
    assert mix.shape == (6, 2, 300) and stems.shape == (6, 4, 2, 300)
    torch.testing.assert_close(mix, stems.sum(dim=1))
    assert np.isfinite(stems.numpy()).all()


def test_learning_rate_warms_up_then_decays(train_demo):
    rates = [train_demo.learning_rate(step, 100, 1e-3, 10) for step in range(100)]
    assert rates[9] == pytest.approx(1e-3)
    assert rates[0] < rates[9] and rates[-1] < rates[50] < rates[10]
    assert rates[-1] >= 1e-5


def test_a_rerun_reproduces_the_weights(train_demo, tmp_path):
    args = [
        "--steps", "2", "--batch", "2", "--segment", "1", "--pool", "2", "--pool-seconds", "3",
        "--valid", "1", "--valid-seconds", "3", "--eval-every", "2", "--no-export",
    ]  # fmt: skip
    for run in ("a", "b"):
        assert train_demo.main(["--out", str(tmp_path / run), *args]) == 0
    first = torch.load(tmp_path / "a" / "demo.pt", weights_only=True)
    second = torch.load(tmp_path / "b" / "demo.pt", weights_only=True)
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    log = json.loads((tmp_path / "a" / "train_log.json").read_text())
    assert log["architecture"] == "small" and log["best"]["step"] == 2
    assert log["history"][-1]["step"] == 2
