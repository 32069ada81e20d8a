"""The backends behind the node: which runtime and arithmetic run, the quality gate, fallbacks,
the shared CPU budget, and OpenVINO kept offline."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from stemboard.errors import InvalidValueError, StemboardError
from stemboard.node import SeparatorNode
from stemboard.node import backend as backends
from stemboard.node import session as sessions
from stemboard.node.backend import Choice, CpuBudget, Session, usable_cores
from stemboard.node.session import open_session
from stemboard.signals import music_like

NATIVE_BF16 = (
    sessions.available("openvino")
    and __import__("stemboard.node.openvino_session", fromlist=["native_bf16"]).native_bf16()
)
needs_bf16 = pytest.mark.skipif(not NATIVE_BF16, reason="this CPU has no native bf16")


def snr_by_stem(reference: dict, got: dict) -> dict[str, float]:
    out = {}
    for name, ref in reference.items():
        noise = np.sum((ref.astype(np.float64) - got[name]) ** 2)
        out[name] = float("inf") if noise == 0 else 10 * np.log10(np.sum(ref**2) / noise)
    return out


def test_openvino_and_onnxruntime_give_the_same_stems_in_fp32(tiny_export):
    audio = music_like(7.0, seed=3)
    stems = {
        backend: SeparatorNode(
            tiny_export.path, device="cpu", precision="fp32", backend=backend
        ).separate(audio, 44100)
        for backend in ("openvino", "onnxruntime")
    }
    assert min(snr_by_stem(stems["onnxruntime"], stems["openvino"]).values()) >= 55


@pytest.mark.parametrize("backend", ["openvino", "onnxruntime"])
def test_the_identity_model_reconstructs_exactly_on_every_backend(identity_model, backend):
    node = SeparatorNode(identity_model, device="cpu", precision="fp32", backend=backend)
    audio = music_like(0.5, seed=4)
    for stem in node.separate(audio, 44100).values():
        np.testing.assert_allclose(stem, audio, rtol=0, atol=1e-6)  # normalised and back


def test_auto_runs_bf16_only_where_the_model_passes_the_quality_gate(tiny_export):
    """On the demo model bf16 loses too much (docs/benchmarks.md), so auto keeps fp32 there;
    whatever auto picks keeps every stem >= 40 dB against fp32, on audio the gate never saw."""
    for model in ("demo", tiny_export.path):
        auto = SeparatorNode(model, device="cpu")
        if NATIVE_BF16:
            assert "quality gate" not in auto.describe() or "40 dB" in auto.describe()
            assert "auto:" in auto.describe()
        audio = music_like(12.0, seed=21)
        full = SeparatorNode(model, device="cpu", precision="fp32").separate(audio, 44100)
        assert min(snr_by_stem(full, auto.separate(audio, 44100)).values()) >= 40
    assert SeparatorNode("demo", device="cpu").precision == "fp32"


@needs_bf16
def test_the_gate_is_measured_once_and_remembered(tiny_export, tmp_path, monkeypatch):
    monkeypatch.setenv("STEMBOARD_CACHE", str(tmp_path))
    sessions._cache.clear()
    node = SeparatorNode(tiny_export.path, device="cpu")
    record = json.loads((tmp_path / "quality-gate.json").read_text())
    (key, (stem, snr)), *_ = record.items()
    assert key.startswith(node.session.info.weights_sha256)
    assert stem in node.sources
    assert node.precision == ("bf16" if snr >= 40 else "fp32")
    # a remembered verdict is taken as it is: a failing one makes the next session fp32
    record[key] = [stem, 12.5]
    (tmp_path / "quality-gate.json").write_text(json.dumps(record))
    sessions._cache.clear()
    again = SeparatorNode(tiny_export.path, device="cpu")
    assert again.precision == "fp32"
    assert "12.5 dB" in again.describe()
    sessions._cache.clear()


@needs_bf16
def test_explicit_bf16_runs_bf16_and_differs_from_fp32(tiny_export):
    node = SeparatorNode(tiny_export.path, device="cpu", precision="bf16")
    assert node.precision == "bf16" and node.session.backend == "openvino"
    audio = music_like(6.0, seed=8)
    full = SeparatorNode(tiny_export.path, device="cpu", precision="fp32").separate(audio, 44100)
    snrs = snr_by_stem(full, node.separate(audio, 44100))
    assert 30 < min(snrs.values()) < 120


def test_without_openvino_everything_falls_back_to_onnxruntime(tiny_export, monkeypatch, caplog):
    real = sessions.available
    monkeypatch.setattr(sessions, "available", lambda name: name != "openvino" and real(name))
    sessions._cache.clear()
    try:
        node = SeparatorNode(tiny_export.path, device="cpu")
        assert (node.session.backend, node.precision) == ("onnxruntime", "fp32")
        with caplog.at_level(logging.WARNING, logger="stemboard"):
            asked = SeparatorNode(tiny_export.path, device="cpu", precision="bf16")
        assert asked.precision == "fp32"
        assert "bf16 needs OpenVINO (OpenVINO is not installed); running fp32" in caplog.text
        assert "bf16 needs OpenVINO" in asked.describe()
        with pytest.raises(StemboardError, match=r"pip install openvino"):
            SeparatorNode(tiny_export.path, device="cpu", backend="openvino")
    finally:
        sessions._cache.clear()


def test_without_any_runtime_the_error_says_what_to_install(identity_model, monkeypatch):
    monkeypatch.setattr(sessions, "available", lambda name: False)
    sessions._cache.clear()
    with pytest.raises(StemboardError, match=r"no runtime to run models with: pip install"):
        SeparatorNode(identity_model, device="cpu")
    sessions._cache.clear()


def test_cuda_without_a_gpu_says_how_to_get_one(identity_model):
    from stemboard.node import ort_session

    if ort_session.cuda_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(StemboardError) as caught:
        SeparatorNode(identity_model, device="cuda")
    message = str(caught.value)
    assert "stemboard[gpu]" in message or "NVIDIA driver" in message
    assert "TensorRT" not in message


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"precision": "int8"}, r"int8 is not offered: .* 13\.0 dB .* 40 dB"),
        ({"precision": "fp64"}, r"precision: unknown precision 'fp64' \(expected one of: auto, "),
        ({"backend": "tvm"}, r"backend: unknown backend 'tvm' \(expected one of: auto, openvino"),
        ({"precision": "bf16", "device": "cuda"}, r"bf16 is a CPU path"),
        ({"backend": "openvino", "device": "cuda"}, r"openvino backend runs on the CPU"),
        ({"threads": 0}, r"threads: expected an integer >= 1, got 0"),
        (
            {"fp16": True, "precision": "bf16"},
            r"fp16=True \(deprecated: precision='fp16'\) contradicts precision='bf16'",
        ),
    ],
)
def test_bad_runtime_options_are_refused_by_name(identity_model, options, message):
    with pytest.raises(InvalidValueError, match=message), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        SeparatorNode(identity_model, **options)


def test_fp16_flag_is_a_deprecated_spelling_of_precision_fp16(identity_model):
    with (
        pytest.warns(DeprecationWarning, match="precision='fp16'"),
        pytest.raises(StemboardError, match="fp16"),
    ):
        SeparatorNode(identity_model, device="cpu", fp16=True)  # no .fp16.onnx beside it


def test_describe_says_what_runs(identity_model):
    node = SeparatorNode(identity_model, device="cpu", precision="fp32", backend="onnxruntime")
    text = node.describe()
    assert text.startswith("identity.onnx: onnxruntime fp32 on the CPU")
    assert f"{node.session.threads} threads" in text
    assert "overlap 0.25" in text
    assert "precision='fp32'" in repr(node) and "backend='onnxruntime'" in repr(node)


def test_threads_default_to_the_cores_this_process_may_use(identity_model, monkeypatch):
    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("no affinity masks here")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert usable_cores() == 1
    sessions._cache.clear()
    node = SeparatorNode(identity_model, device="cpu", precision="fp32")
    assert node.session.threads == 1
    sessions._cache.clear()


class _SlowSession(Session):
    """A CPU session whose runs take a while and record how many threads run at once."""

    backend = "fake"
    running = 0
    most = 0
    lock = threading.Lock()

    def run_now(self, batch):
        with self.lock:
            type(self).running += self.threads
            type(self).most = max(type(self).most, type(self).running)
        time.sleep(0.02)
        with self.lock:
            type(self).running -= self.threads
        return np.repeat(batch[:, None], len(self.info.sources), axis=1)


def test_sessions_running_side_by_side_share_the_cores(identity_model, monkeypatch):
    """Two nodes in one process, each wanting every core, take turns instead of running
    2 x cores threads; nodes of one thread each run side by side."""
    budget = CpuBudget(2)
    monkeypatch.setattr(backends, "CPU_BUDGET", budget)
    info = open_session(identity_model, "cpu", "fp32", backend="onnxruntime").info
    path = Path(identity_model)

    def exercise(threads: int) -> int:
        _SlowSession.most = 0
        both = [_SlowSession(path, info, Choice("fake", "cpu", "fp32", threads)) for _ in "ab"]
        batch = np.zeros((1, 2, info.segment_samples), np.float32)
        workers = [
            threading.Thread(target=lambda s=s: [s.run(batch) for _ in range(10)]) for s in both
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        return _SlowSession.most

    assert exercise(threads=2) == 2  # each wants both cores: they alternate
    assert exercise(threads=1) == 2  # one core each: both run at once
    assert budget.free == 2


def test_openvino_is_imported_without_its_telemetry(tmp_path):
    """OpenVINO starts Intel's usage telemetry on import (a ~/intel folder and a network
    event) unless imported through stemboard.offline."""
    code = (
        "import sys, numpy as np\n"
        "from stemboard import SeparatorNode\n"
        "node = SeparatorNode('demo', device='cpu', backend='openvino')\n"
        "node.separate(np.zeros((2, 100), np.float32), 44100)\n"
        "import openvino\n"
        "print(sys.modules.get('openvino_telemetry'))\n"
    )
    env = {**os.environ, "HOME": str(tmp_path), "STEMBOARD_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "None"
    assert not (tmp_path / "intel").exists()


def test_the_cli_runs_without_openvino_and_says_what_it_fell_back_to(tmp_path):
    """The whole command with OpenVINO absent: onnxruntime runs it, an explicit bf16 is one
    warning line, and the stems are written."""
    from audio_files import write_audio

    from stemboard.synth import generate_song

    song = generate_song(2000000, 3.0)
    wav = write_audio(tmp_path / "song.wav", song.mix)
    code = (
        "import sys\n"
        "sys.modules['openvino'] = None\n"
        "from stemboard.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    command = [sys.executable, "-c", code, "-v", "separate", str(wav), "-o", str(tmp_path / "o")]
    done = subprocess.run(
        [*command, "--model", "demo", "--precision", "bf16", "--device", "cpu"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "bf16 needs OpenVINO (OpenVINO is not installed); running fp32" in done.stderr
    assert "onnxruntime fp32 on the CPU" in done.stderr
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in (tmp_path / "o" / "song").iterdir()) == [
        "bass.wav",
        "drums.wav",
        "other.wav",
        "vocals.wav",
    ]
