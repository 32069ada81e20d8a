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


TINY_RUN = [
    "--batch", "2", "--segment", "1", "--pool", "2", "--pool-seconds", "3",
    "--valid", "1", "--valid-seconds", "3", "--eval-every", "2", "--no-export",
]  # fmt: skip


@pytest.mark.parametrize("precision", [[], ["--bf16"]], ids=["float32", "bf16"])
def test_a_rerun_reproduces_the_weights(train_demo, tmp_path, precision):
    args = ["--steps", "2", *TINY_RUN, *precision]
    for run in ("a", "b"):
        assert train_demo.main(["--out", str(tmp_path / run), *args]) == 0
    first = torch.load(tmp_path / "a" / "demo.pt", weights_only=True)
    second = torch.load(tmp_path / "b" / "demo.pt", weights_only=True)
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    log = json.loads((tmp_path / "a" / "train_log.json").read_text())
    assert log["architecture"] == "small" and log["best"]["step"] == 2
    assert log["history"][-1]["step"] == 2


def test_a_stopped_and_resumed_run_ends_where_an_uninterrupted_one_does(train_demo, tmp_path):
    args = ["--steps", "4", *TINY_RUN]
    assert train_demo.main(["--out", str(tmp_path / "straight"), *args]) == 0
    stopped = tmp_path / "stopped"
    assert train_demo.main(["--out", str(stopped), *args, "--stop-after", "0"]) == 0
    log = json.loads((stopped / "train_log.json").read_text())
    assert not log["finished"] and log["history"][-1]["step"] == 2
    assert train_demo.main(["--out", str(stopped), "--resume"]) == 0

    straight = torch.load(tmp_path / "straight" / "state.pt", weights_only=True)
    resumed = torch.load(stopped / "state.pt", weights_only=True)
    assert straight["step"] == resumed["step"] == 4
    assert all(torch.equal(straight["model"][k], resumed["model"][k]) for k in straight["model"])
    log = json.loads((stopped / "train_log.json").read_text())
    assert log["finished"] and [h["step"] for h in log["history"]] == [2, 4]
    assert [s["first_step"] for s in log["sessions"]] == [0, 2]


def test_resume_refuses_other_options_and_finished_runs(train_demo, tmp_path, capsys):
    out = str(tmp_path / "run")
    with pytest.raises(SystemExit):
        train_demo.main(["--out", out, "--resume"])
    assert "state.pt does not exist" in capsys.readouterr().err
    assert train_demo.main(["--out", out, "--steps", "2", *TINY_RUN]) == 0
    with pytest.raises(SystemExit):
        train_demo.main(["--out", out, "--resume", "--steps", "9"])
    assert "--steps 9 differs from its 2" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train_demo.main(["--out", out, "--resume"])
    assert "already finished" in capsys.readouterr().err
