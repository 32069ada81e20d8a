"""onnxruntime sessions: the GPU (CUDA provider, IO binding) and the CPU without OpenVINO.

After creating a GPU session the provider that really runs is checked, because onnxruntime
silently falls back to the CPU when a CUDA library is missing. ``run`` is safe to call from
several threads.
"""

from __future__ import annotations

import ctypes
import logging
import sys
import threading
from pathlib import Path

import numpy as np

from stemboard.errors import ModelFormatError, StemboardError
from stemboard.model_format import INPUT_NAME, OUTPUT_NAME, read_model_info
from stemboard.node.backend import Choice, Session, available
from stemboard.offline import cpu_disabled_optimizers, keep_onnxruntime_offline

keep_onnxruntime_offline()  # before any onnxruntime import below
log = logging.getLogger(__name__)
_CUDA = "CUDAExecutionProvider"
_CPU = "CPUExecutionProvider"
_GPU_INSTALL = "pip install 'stemboard[gpu]' (onnxruntime-gpu) and an NVIDIA driver"


class OnnxRuntimeSession(Session):
    """An exported model on onnxruntime; on the GPU its buffers stay on the device."""

    backend = "onnxruntime"

    def __init__(self, path: Path, session, choice: Choice):
        super().__init__(path, read_model_info(session, source=str(path)), choice)
        self.session = session
        # On the GPU, buffers stay on the device between runs (IO binding); the CPU provider
        # reads numpy arrays directly, so binding would only add a copy.
        self.binding_device: str | None = "cuda" if self.device == "cuda" else None
        self._bindings = threading.local()

    @classmethod
    def on_cpu(cls, path: Path, choice: Choice) -> OnnxRuntimeSession:
        import onnxruntime as ort

        try:
            session = ort.InferenceSession(
                str(path),
                _options(choice.threads),
                providers=[_CPU],
                disabled_optimizers=cpu_disabled_optimizers(choice.precision == "fp16"),
            )
        except Exception as error:  # onnxruntime raises its own exception types for broken files
            raise ModelFormatError(
                f"{path} cannot be loaded by onnxruntime: {str(error).splitlines()[0]}"
            ) from None
        return cls(path, session, choice)

    @classmethod
    def on_gpu(cls, path: Path, precision: str, required: bool) -> OnnxRuntimeSession | None:
        """A CUDA session, or None when ``required`` is false and the GPU does not work."""
        import onnxruntime as ort

        if required and not cuda_available():
            raise StemboardError(
                f"device 'cuda' was asked for but no CUDA GPU is usable here ({_gpu_problem()})"
            )
        if not _cuda_state.get("works", True) and not required:
            return None
        if hasattr(ort, "preload_dlls") and not _cuda_state.get("preloaded"):
            _cuda_state["preloaded"] = True
            try:
                ort.preload_dlls()
            except Exception as error:  # a missing library shows up below as a CPU fallback
                log.debug("onnxruntime.preload_dlls failed: %s", error)
        try:
            session = ort.InferenceSession(str(path), _options(None), providers=[_CUDA, _CPU])
        except Exception as error:
            session, reason = None, f"{type(error).__name__}: {str(error).splitlines()[0]}"
        else:
            reason = "onnxruntime fell back to the CPU (a CUDA or cuDNN library is missing?)"
        if session is not None and session.get_providers()[0] == _CUDA:
            _cuda_state["works"] = True
            choice = Choice("onnxruntime", "cuda", "fp32" if precision == "auto" else precision, 1)
            return cls(path, session, choice)
        _cuda_state["works"] = False
        if required:
            raise StemboardError(
                f"device 'cuda' was asked for but cannot run {path.name}: {reason}"
            )
        log.warning("no usable GPU (%s); running on the CPU", reason)
        return None

    @property
    def providers(self) -> list[str]:
        return self.session.get_providers()

    def run_now(self, batch: np.ndarray) -> np.ndarray:
        if self.binding_device is None:
            return self.session.run([OUTPUT_NAME], {INPUT_NAME: batch})[0]
        binding, mix, stems = self._device_buffers(batch.shape)
        mix.update_inplace(batch)
        self.session.run_with_iobinding(binding)
        out = stems.numpy()  # from the GPU: a fresh host array; from CPU memory: a view
        return out.copy() if self.binding_device == "cpu" else out

    def _device_buffers(self, shape: tuple[int, ...]):
        """IO binding with input and output on ``binding_device``, reused per batch shape."""
        import onnxruntime as ort

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
    """Whether onnxruntime with the CUDA provider and an NVIDIA driver are installed.

    Whether the GPU really works shows only when a session is created; this check spares
    machines without a driver the attempt (and onnxruntime's error messages about it).
    """
    return _gpu_problem() is None


def _gpu_problem() -> str | None:
    """Why the GPU cannot be used here, or None when it may be."""
    if not available("onnxruntime"):
        return f"onnxruntime is not installed: {_GPU_INSTALL}"
    import onnxruntime as ort

    if _CUDA not in ort.get_available_providers():
        return f"this onnxruntime is the CPU build: {_GPU_INSTALL}"
    driver = "nvcuda.dll" if sys.platform == "win32" else "libcuda.so.1"
    try:
        ctypes.CDLL(driver)
    except OSError:
        return f"no NVIDIA driver ({driver} cannot be loaded)"
    return None


def _options(threads: int | None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
        # Threads that spin between runs would take cores from another session's run.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # The memory pattern planned from the first run is allocated as one block on top of what
    # that run already took from the arena: the working memory would be held twice (measured
    # with benchmarks/memory.py: 950 -> 632 MiB peak for `tiny`, same speed).
    options.enable_mem_pattern = False
    return options
