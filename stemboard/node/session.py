"""onnxruntime sessions for exported models: provider choice, verification, caching, IO binding.

A session is created once per (file, device) and shared: onnxruntime's ``run`` is safe to call
from several threads. After creating a session the provider that really runs is checked, because
onnxruntime silently falls back to the CPU when a CUDA library is missing.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
import threading
from pathlib import Path
from typing import ClassVar

import numpy as np
import onnxruntime as ort

from stemboard.choices import DEVICES
from stemboard.errors import (
    InvalidValueError,
    ModelFormatError,
    ModelNotFoundError,
    StemboardError,
)
from stemboard.model_format import INPUT_NAME, OUTPUT_NAME, ModelInfo, read_model_info

log = logging.getLogger(__name__)
_CUDA = "CUDAExecutionProvider"
_CPU = "CPUExecutionProvider"


class ModelSession:
    """One exported model loaded on one device. ``run`` is the only verb.

    Example::

        session = ModelSession.open("tiny.onnx", device="cpu")
        stems = session.run(batch)      # [batch, 2, segment] -> [batch, sources, 2, segment]
    """

    _cache: ClassVar[dict[tuple, ModelSession]] = {}
    _cache_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, path: Path, device: str, threads: int | None = None):
        self.path = path
        self.threads = threads
        self.session, self.device = _create(path, device, threads)
        self.info: ModelInfo = read_model_info(self.session, source=str(path))
        # On the GPU, buffers stay on the device between runs (IO binding); the CPU provider
        # reads numpy arrays directly, so binding would only add a copy.
        self.binding_device: str | None = "cuda" if self.device == "cuda" else None
        self._bindings = threading.local()

    @classmethod
    def open(
        cls, path: str | os.PathLike, device: str = "auto", threads: int | None = None
    ) -> ModelSession:
        """The cached session for ``(path, device, threads)``, created on first use.

        ``threads``: onnxruntime's intra-op threads (None: its default, every core); a process
        running several models side by side gives each a share.
        """
        if device not in DEVICES:
            raise InvalidValueError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
        path = Path(path).resolve()
        if not path.is_file():
            raise ModelNotFoundError(f"model file {path} does not exist")
        if threads is not None and (
            isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
        ):
            raise InvalidValueError(f"threads must be an integer >= 1, got {threads!r}")
        key = (str(path), path.stat().st_mtime_ns, device, threads)
        with cls._cache_lock:
            session = cls._cache.get(key)
            if session is None:
                session = cls._cache[key] = cls(path, device, threads)
        return session

    @property
    def providers(self) -> list[str]:
        return self.session.get_providers()

    def run(self, batch: np.ndarray) -> np.ndarray:
        """``[batch, channels, segment]`` float32 -> ``[batch, sources, channels, segment]``."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if self.binding_device is None:
            return self.session.run([OUTPUT_NAME], {INPUT_NAME: batch})[0]
        binding, mix, stems = self._device_buffers(batch.shape)
        mix.update_inplace(batch)
        self.session.run_with_iobinding(binding)
        out = stems.numpy()  # from the GPU: a fresh host array; from CPU memory: a view
        return out.copy() if self.binding_device == "cpu" else out

    def _device_buffers(self, shape: tuple[int, ...]):
        """IO binding with input and output on ``binding_device``, reused per batch shape."""
        cache = getattr(self._bindings, "by_shape", None)
        if cache is None:
            cache = self._bindings.by_shape = {}
        if shape not in cache:
            info = self.info
            out_shape = (shape[0], len(info.sources), info.audio_channels, info.segment_samples)
            device = self.binding_device
            mix = ort.OrtValue.ortvalue_from_shape_and_type(shape, np.float32, device, 0)
            stems = ort.OrtValue.ortvalue_from_shape_and_type(out_shape, np.float32, device, 0)
            binding = self.session.io_binding()
            binding.bind_ortvalue_input(INPUT_NAME, mix)
            binding.bind_ortvalue_output(OUTPUT_NAME, stems)
            cache[shape] = (binding, mix, stems)
        return cache[shape]


_cuda_state: dict[str, bool] = {}


def cuda_available() -> bool:
    """Whether this onnxruntime has the CUDA provider and an NVIDIA driver is installed.

    Whether the GPU really works shows only when a session is created; this check spares
    machines without a driver the attempt (and onnxruntime's error messages about it).
    """
    if _CUDA not in ort.get_available_providers():
        return False
    driver = "nvcuda.dll" if sys.platform == "win32" else "libcuda.so.1"
    try:
        ctypes.CDLL(driver)
    except OSError:
        return False
    return True


def _options(threads: int | None) -> ort.SessionOptions:
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # The memory pattern planned from the first run is allocated as one block on top of what
    # that run already took from the arena: the working memory would be held twice (measured
    # with benchmarks/memory.py: 950 -> 632 MiB peak for `tiny`, same speed).
    options.enable_mem_pattern = False
    return options


def _create(path: Path, device: str, threads: int | None) -> tuple[ort.InferenceSession, str]:
    want_cuda = device == "cuda" or (device == "auto" and cuda_available())
    if device == "cuda" and not cuda_available():
        raise StemboardError(
            "device 'cuda' was asked for but no CUDA GPU is usable here (onnxruntime providers: "
            f"{', '.join(ort.get_available_providers())}; an NVIDIA driver and onnxruntime-gpu "
            "are needed)"
        )
    if want_cuda and (device == "cuda" or _cuda_state.get("works", True)):
        if hasattr(ort, "preload_dlls") and not _cuda_state.get("preloaded"):
            _cuda_state["preloaded"] = True
            try:
                ort.preload_dlls()
            except Exception as error:  # a missing library shows up below as a CPU fallback
                log.debug("onnxruntime.preload_dlls failed: %s", error)
        try:
            session = ort.InferenceSession(str(path), _options(threads), providers=[_CUDA, _CPU])
        except Exception as error:
            session, reason = None, f"{type(error).__name__}: {str(error).splitlines()[0]}"
        else:
            reason = "onnxruntime fell back to the CPU (a CUDA or cuDNN library is missing?)"
        if session is not None and session.get_providers()[0] == _CUDA:
            _cuda_state["works"] = True
            return session, "cuda"
        _cuda_state["works"] = False
        if device == "cuda":
            raise StemboardError(
                f"device 'cuda' was asked for but cannot run {path.name}: {reason}"
            )
        log.warning("no usable GPU (%s); running on the CPU", reason)
    try:
        return ort.InferenceSession(str(path), _options(threads), providers=[_CPU]), "cpu"
    except Exception as error:  # onnxruntime raises its own exception types for broken files
        raise ModelFormatError(
            f"{path} cannot be loaded by onnxruntime: {str(error).splitlines()[0]}"
        ) from None
