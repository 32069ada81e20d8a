"""Memory that must stay bounded: one compiled OpenVINO model at a time through the bf16 quality
gate, and a stream's working memory independent of the track's length
(benchmarks/memory.py measures the whole command; docs/benchmarks.md has its figures)."""

from __future__ import annotations

import gc
import tracemalloc
import weakref

import numpy as np
import pytest

from stemboard.node import openvino_session
from stemboard.node.backend import Choice, available
from stemboard.node.overlap_add import OverlapAdd

needs_openvino = pytest.mark.skipif(not available("openvino"), reason="OpenVINO not installed")
needs_bf16 = pytest.mark.skipif(
    not (available("openvino") and openvino_session.native_bf16()),
    reason="the quality gate runs only where the CPU computes bf16 natively",
)


class _Compiled:
    """A compiled model as OpenVINO returns it, that can be watched for being alive."""

    def __init__(self, compiled, precision: str, released: list[str]):
        self._compiled = compiled
        self.precision = precision
        self._released = released

    def release_memory(self):
        self._released.append(self.precision)
        self._compiled.release_memory()

    def __getattr__(self, name):
        return getattr(self._compiled, name)


class _WatchedCore:
    """OpenVINO's Core, recording each compiled model and which others were alive then."""

    def __init__(self, core, refuse: str | None = None):
        self.core = core
        self.refuse = refuse  # a config key to fail on, as an OpenVINO without it would
        self.compiled: list[weakref.ref] = []
        self.alive_at_compile: list[list[str]] = []  # per compile: the precisions alive then
        self.released: list[str] = []
        self.configs: list[dict] = []

    def alive(self) -> list[_Compiled]:
        gc.collect()
        return [model for model in (ref() for ref in self.compiled) if model is not None]

    def compile_model(self, model, device, config):
        if self.refuse in config:
            raise RuntimeError(f"Exception from config.cpp\nUnsupported property {self.refuse}")
        self.alive_at_compile.append([other.precision for other in self.alive()])
        self.configs.append(dict(config))
        precision = {"f32": "fp32", "bf16": "bf16"}[config["INFERENCE_PRECISION_HINT"]]
        compiled = _Compiled(
            self.core.compile_model(model, device, config), precision, self.released
        )
        self.compiled.append(weakref.ref(compiled))
        return compiled

    def __getattr__(self, name):
        return getattr(self.core, name)


@pytest.fixture
def watched_core(monkeypatch, tmp_path):
    """A watched Core in place of the session's, and a quality gate that remembers nothing."""
    monkeypatch.setenv("STEMBOARD_CACHE", str(tmp_path))
    core = _WatchedCore(openvino_session._core())
    monkeypatch.setattr(openvino_session, "_core", lambda: core)
    return core


@needs_bf16
@pytest.mark.parametrize("bf16_passes", [True, False])
def test_the_quality_gate_keeps_one_compiled_model_at_a_time(
    tiny_export, watched_core, monkeypatch, bf16_passes
):
    if not bf16_passes:  # no model keeps 1000 dB: bf16 loses, fp32 is compiled again
        monkeypatch.setattr(openvino_session, "QUALITY_GATE_DB", 1000.0)
    choice = Choice("openvino", "cpu", "bf16", threads=2)
    session = openvino_session.OpenVinoSession(tiny_export.path, choice, gate=True)

    assert session.precision == ("bf16" if bf16_passes else "fp32")
    compiled = [config["INFERENCE_PRECISION_HINT"] for config in watched_core.configs]
    assert compiled == (["f32", "bf16"] if bf16_passes else ["f32", "bf16", "f32"])
    # nothing else was alive when each model was compiled, and each one dropped was released
    assert watched_core.alive_at_compile == [[]] * len(compiled)
    assert watched_core.released == (["fp32"] if bf16_passes else ["fp32", "bf16"])
    assert [model for model in watched_core.alive()] == [session.compiled]
    stems = session.run(np.zeros((2, 2, session.info.segment_samples), np.float32))
    assert stems.shape == (2, 4, 2, session.info.segment_samples)


@needs_bf16
def test_a_remembered_verdict_compiles_only_the_chosen_precision(tiny_export, watched_core):
    choice = Choice("openvino", "cpu", "bf16", threads=2)
    first = openvino_session.OpenVinoSession(tiny_export.path, choice, gate=True)
    measured = len(watched_core.configs)
    again = openvino_session.OpenVinoSession(tiny_export.path, choice, gate=True)
    assert len(watched_core.configs) == measured + 1
    assert again.precision == first.precision


@needs_openvino
def test_an_openvino_without_the_snippets_switch_still_compiles_fp32(identity_model, watched_core):
    watched_core.refuse = openvino_session._SNIPPETS
    choice = Choice("openvino", "cpu", "fp32", threads=2)
    session = openvino_session.OpenVinoSession(identity_model, choice)
    audio = np.random.default_rng(0).standard_normal((1, 2, 4096)).astype(np.float32)
    np.testing.assert_array_equal(session.run(audio)[0, 3], audio[0])
    assert openvino_session._SNIPPETS not in watched_core.configs[-1]


@needs_openvino
@pytest.mark.parametrize(("lean_below", "lean"), [(10**9, True), (1, False)])
def test_fp32_drops_the_fused_kernels_only_for_a_small_model(
    identity_model, watched_core, monkeypatch, lean_below, lean
):
    """A small model saves their memory; a large one (``high``) keeps their speed."""
    monkeypatch.setattr(openvino_session, "LEAN_BELOW_BYTES", lean_below)
    for precision, hint in (("fp32", "f32"), ("bf16", "bf16")):
        choice = Choice("openvino", "cpu", precision, threads=2)
        openvino_session.OpenVinoSession(identity_model, choice)
        config = watched_core.configs[-1]
        assert config["INFERENCE_PRECISION_HINT"] == hint
        assert (config.get(openvino_session._SNIPPETS) == "DISABLE") == (lean and hint == "f32")


def _stream_peak(seconds: float, block: int, batch_size: int) -> int:
    """tracemalloc's peak (bytes) while ``seconds`` of stereo stream through an overlap-add of
    four sources with 1 s segments, in blocks of ``block`` samples; outputs are dropped."""
    rate, segment = 44100, 44100
    engine = OverlapAdd(
        lambda batch: np.repeat(batch[:, None], 4, axis=1),
        segment=segment,
        sources=4,
        channels=2,
        batch_size=batch_size,
    )
    audio = np.random.default_rng(1).standard_normal((2, block)).astype(np.float32)
    gc.collect()
    tracemalloc.start()
    try:
        for _ in range(int(seconds * rate) // block):
            engine.push(audio)
        engine.finish()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("batch_size", [1, 2])
def test_a_streams_working_memory_does_not_grow_with_the_track(batch_size):
    short = _stream_peak(30, 20_000, batch_size)
    long = _stream_peak(300, 20_000, batch_size)
    assert long < 1.05 * short
    # One segment of stems in float32 is 1.4 MB here. The working set is the batch's stems and
    # the samples they finish (about 1.5 segments each), the input held and the overlap's
    # float64 sums: under 3 + 1.5 * batch_size segments. Until 2026-12-03 the sums held two
    # whole segments and each batch of stems was copied twice more: 8.2 and 9.6.
    stems = 4 * 2 * 44100 * 4
    assert short < (3 + 1.5 * batch_size) * stems
