"""OpenVINO sessions: the CPU default, in fp32 or in bf16 on CPUs that compute it natively.

OpenVINO reads the exported ONNX file itself. The model is compiled for one segment with a fixed
shape (about 7 % faster than a dynamic batch here) and, with two threads or more, as two
streams: the segments of a batch run two at a time, each stream on half the threads, which
gets about 9 % more segments per second than one segment on every thread (docs/benchmarks.md).
A lone segment runs on one stream. Each calling thread gets its own infer requests, so ``run``
is safe to call from several threads.

The quality gate: ``precision="auto"`` runs bf16 only where this model, on this machine, keeps
every stem at least :data:`QUALITY_GATE_DB` above the difference to its fp32 output, on one
segment of music-like audio. The check runs once per model, CPU and OpenVINO version and is
remembered in ``<cache>/quality-gate.json``; a model that fails it runs fp32 (the packaged
demo model does: 39.3 dB on drums, docs/benchmarks.md).
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from pathlib import Path

import numpy as np

from stemboard.atomic import atomic_path
from stemboard.audio.layout import match_channels
from stemboard.errors import ModelFormatError
from stemboard.model_format import (
    INPUT_NAME,
    OUTPUT_NAME,
    ModelInfo,
    Tensor,
    check_io,
    read_file_metadata,
)
from stemboard.node.backend import Choice, Session
from stemboard.offline import import_openvino
from stemboard.registry import cache_dir
from stemboard.signals import music_like

log = logging.getLogger(__name__)

QUALITY_GATE_DB = 40.0
"""The least SNR of every stem against the fp32 output for a reduced precision to be chosen."""

_HINTS = {"fp32": "f32", "fp16": "f32", "bf16": "bf16"}

_SNIPPETS = "SNIPPETS_MODE"
"""The CPU plugin's internal switch for its fused element-wise kernels ("snippets"). In fp32
they cost each stream 54 MiB more working memory for HDemucs (its inverse STFT's buffers pack
worse) and buy about 4 % of speed on `high`, 2-4 % on `tiny`; in bf16 they make the buffers
smaller, not larger. docs/benchmarks.md, memory section."""
LEAN_BELOW_BYTES = 100 * 10**6
"""A model file smaller than this compiles fp32 without snippets: the 108 MiB two streams save
are a tenth of such a model's process (it fits in 1 GB that way), for 2-4 % of speed. A larger
model (``high``: 335 MB of weights, 1.9 GB in fp32) keeps them: there the same 108 MiB are 6 %
of the process and the speed is worth more."""


@functools.cache
def _core():
    return import_openvino().Core()


def native_bf16() -> bool:
    """Whether OpenVINO computes bf16 natively on this CPU (AVX512_BF16 or AMX)."""
    return "BF16" in _core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


class OpenVinoSession(Session):
    """An exported model compiled by OpenVINO for the CPU."""

    backend = "openvino"

    def __init__(self, path: Path, choice: Choice, gate: bool = False):
        source = str(path)
        info = ModelInfo.from_metadata(read_file_metadata(path), source)
        try:
            model = _core().read_model(source)
        except Exception as error:  # OpenVINO raises RuntimeError with a long trace text
            raise ModelFormatError(
                f"{path} cannot be loaded by OpenVINO: {str(error).strip().splitlines()[0]}"
            ) from None
        check_io(info, source, _tensors(model.inputs), _tensors(model.outputs))
        super().__init__(path, info, choice)
        self.streams = 2 if self.threads >= 2 else 1
        model.reshape({INPUT_NAME: [1, info.audio_channels, info.segment_samples]})
        compiled = None
        if gate and self.precision == "bf16":
            weakest, compiled = self._bf16_gate(model)
            if weakest[1] < QUALITY_GATE_DB:
                self.precision, compiled = "fp32", _released(compiled)
                self.notes = (
                    f"auto: bf16 keeps {weakest[0]} at {weakest[1]:.1f} dB against fp32 here, "
                    f"below the {QUALITY_GATE_DB:g} dB gate; running fp32",
                )
            else:
                self.notes = (
                    f"auto: this CPU computes bf16 natively and the model keeps every stem "
                    f"above {QUALITY_GATE_DB:g} dB against fp32 (weakest {weakest[0]} "
                    f"{weakest[1]:.1f} dB)",
                )
        self.compiled = compiled if compiled is not None else self._compile(model, self.precision)
        self._output = _stems_port(self.compiled)
        self._requests = threading.local()

    def _compile(self, model, precision: str):
        config = {
            "INFERENCE_PRECISION_HINT": _HINTS[precision],
            "NUM_STREAMS": self.streams,
            "INFERENCE_NUM_THREADS": self.threads,
            "ENABLE_CPU_PINNING": False,  # pinned threads would fight another session's
        }
        if _HINTS[precision] == "f32" and self.path.stat().st_size < LEAN_BELOW_BYTES:
            config[_SNIPPETS] = "DISABLE"
        try:
            try:
                return _core().compile_model(model, "CPU", config)
            except Exception as error:
                if config.pop(_SNIPPETS, None) is None or _SNIPPETS not in str(error):
                    raise
                return _core().compile_model(model, "CPU", config)  # an OpenVINO without it
        except Exception as error:
            raise ModelFormatError(
                f"{self.path} cannot be compiled by OpenVINO: {str(error).strip().splitlines()[0]}"
            ) from None

    def _bf16_gate(self, model) -> tuple[tuple[str, float], object | None]:
        """The weakest stem's SNR (dB) of bf16 against fp32 here, measured once and remembered;
        and the bf16 model when it was compiled to measure it (None when remembered).

        One compiled model at a time: fp32 runs the gate's segment and is released before bf16
        is compiled, so the gate needs no more memory than the run that follows it.
        """
        openvino = import_openvino()
        info = self.info
        machine = _core().get_property("CPU", "FULL_DEVICE_NAME")
        key = f"{info.weights_sha256}/{info.segment_samples}/{openvino.__version__}/{machine}"
        store = cache_dir() / "quality-gate.json"
        known = _read_json(store)
        if key in known:
            stem, snr = known[key]
            return (stem, float(snr)), None
        seconds = info.segment_samples / info.sample_rate
        audio = music_like(seconds + 0.01, info.sample_rate, seed=7)[:, : info.segment_samples]
        mono = audio.mean(axis=0)
        audio = ((audio - mono.mean()) / mono.std()).astype(np.float32)
        if len(audio) != info.audio_channels:  # a model of other channels gets the mono mix
            audio = match_channels(audio.mean(axis=0, keepdims=True), info.audio_channels)
        fp32 = self._compile(model, "fp32")
        reference = _one_segment(fp32, audio)
        fp32 = _released(fp32)
        compiled = self._compile(model, "bf16")
        reduced = _one_segment(compiled, audio)
        snrs = {}
        for name, ref, got in zip(info.sources, reference, reduced, strict=True):
            error = float(np.sum((ref.astype(np.float64) - got) ** 2))
            energy = float(np.sum(ref.astype(np.float64) ** 2))
            snrs[name] = 10 * np.log10(energy / error) if error > 0 else float("inf")
        weakest = min(snrs.items(), key=lambda item: item[1])
        known[key] = [weakest[0], round(weakest[1], 2)]
        try:
            store.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(store) as scratch:
                scratch.write_text(json.dumps(known, indent=1))
        except OSError as error:  # a read-only home: measured again next time
            log.debug("cannot remember the quality gate in %s: %s", store, error)
        return (weakest[0], float(weakest[1])), compiled

    @property
    def parallel_segments(self) -> int:
        return self.streams

    def run_now(self, batch: np.ndarray) -> np.ndarray:
        requests = getattr(self._requests, "requests", None)
        if requests is None:
            requests = [self.compiled.create_infer_request() for _ in range(self.streams)]
            self._requests.requests = requests
        info = self.info
        stems = np.empty(
            (len(batch), len(info.sources), info.audio_channels, info.segment_samples), np.float32
        )
        tensor = import_openvino().Tensor
        for first in range(0, len(batch), self.streams):
            group = list(zip(requests, range(first, len(batch)), strict=False))
            for request, index in group:
                # No copies: each segment is read where it lies and its stems are written into
                # the array returned. The output is set before every start, so a request never
                # writes into the array of an earlier run.
                request.set_tensor(
                    self._output, tensor(stems[index : index + 1], shared_memory=True)
                )
                request.start_async({0: batch[index : index + 1]}, share_inputs=True)
            for request, _ in group:
                request.wait()
        return stems


def _one_segment(compiled, audio: np.ndarray) -> np.ndarray:
    """``compiled``'s stems for one segment ``[channels, segment]``: ``[sources, channels,
    segment]``."""
    result = compiled.create_infer_request().infer({0: audio[None]})
    return result[_stems_port(compiled)][0].copy()


def _released(compiled) -> None:
    """Give a compiled model's working memory back now, not when OpenVINO next reuses its
    streams (it holds it until then, after the last reference is gone); returns None, to
    overwrite the reference with."""
    if compiled is not None:
        compiled.release_memory()


def _stems_port(compiled):
    """The compiled model's ``stems`` output (the contract allows others beside it)."""
    return next(port for port in compiled.outputs if OUTPUT_NAME in port.get_names())


def _read_json(path: Path) -> dict:
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return known if isinstance(known, dict) else {}


def _tensors(ports) -> list[Tensor]:
    openvino = import_openvino()
    described = []
    for port in ports:
        names = port.get_names()
        name = OUTPUT_NAME if OUTPUT_NAME in names else port.get_any_name()
        shape = [d.get_length() if d.is_static else "?" for d in port.get_partial_shape()]
        kind = port.get_element_type()
        described.append(Tensor(name, kind == openvino.Type.f32, str(kind), shape))
    return described
