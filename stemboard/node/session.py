"""Which backend runs a model, and in which arithmetic: :func:`open_session`.

Every runtime sits behind :class:`stemboard.node.backend.Session` — onnxruntime on the GPU
(CUDA) or the CPU, OpenVINO on the CPU — so the overlap-add, streaming and file code never know
which one runs. :func:`open_session` chooses from what was asked and what this machine has:

- ``device``: ``cuda`` (onnxruntime's CUDA provider), ``cpu``, or ``auto`` (the GPU when one
  works, the CPU otherwise).
- ``precision``: ``fp32``; ``bf16`` (OpenVINO, on CPUs that compute bf16 natively); ``fp16``
  (the ``.fp16.onnx`` variant, for the GPU); ``auto``, the fastest of these that passes the
  quality gate here (bf16 on such a CPU, fp32 elsewhere); ``int8`` is refused with the
  measurement that keeps it out (every value is checked by :mod:`stemboard.node.settings`).
- ``backend``: ``openvino`` or ``onnxruntime``; ``auto`` takes OpenVINO on the CPU when it is
  installed, onnxruntime otherwise.

When an explicit wish cannot be met here (bf16 without OpenVINO, or on a CPU without native
bf16), the session runs fp32 and says so in a warning and in :meth:`Session.describe`.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from stemboard.errors import InvalidValueError, ModelNotFoundError, StemboardError
from stemboard.node.backend import Choice, Session, available, usable_cores
from stemboard.node.settings import check_backend, check_device, check_precision, check_threads

log = logging.getLogger(__name__)

_cache: dict[tuple, Session] = {}
_cache_lock = threading.Lock()


def open_session(
    path: str | os.PathLike,
    device: str = "auto",
    precision: str = "auto",
    threads: int | None = None,
    backend: str = "auto",
) -> Session:
    """The cached session for these arguments, created on first use.

    ``path`` is the file to load (the ``.fp16.onnx`` variant for ``precision="fp16"``).
    ``threads``: CPU threads per run (default: every core this process may use).
    """
    device, precision = check_device(device), check_precision(precision)
    backend, threads = check_backend(backend), check_threads(threads)
    path = Path(path).resolve()
    if not path.is_file():
        raise ModelNotFoundError(f"model file {path} does not exist")
    key = (str(path), path.stat().st_mtime_ns, device, precision, threads, backend)
    with _cache_lock:
        session = _cache.get(key)
        if session is None:
            session = _cache[key] = _create(path, device, precision, threads, backend)
    return session


def _create(path: Path, device: str, precision: str, threads: int | None, backend: str) -> Session:
    from stemboard.node import ort_session

    if precision == "bf16" and device == "cuda":
        raise InvalidValueError("bf16 is a CPU path (OpenVINO); on the GPU use fp16 or fp32")
    if backend == "openvino" and device == "cuda":
        raise InvalidValueError("the openvino backend runs on the CPU; use --device cpu")
    gpu_possible = precision != "bf16" and backend in ("auto", "onnxruntime")
    if device == "cuda" or (device == "auto" and gpu_possible and ort_session.cuda_available()):
        session = ort_session.OnnxRuntimeSession.on_gpu(path, precision, required=device == "cuda")
        if session is not None:
            return session
    return _create_on_cpu(path, precision, threads or usable_cores(), backend)


def _create_on_cpu(path: Path, precision: str, threads: int, backend: str) -> Session:
    choice = _cpu_choice(precision, threads, backend)
    if precision != "auto":  # a wish that was not met; what `auto` found is in describe()
        for note in choice.notes:
            log.warning("%s: %s", path.name, note)
    if choice.backend == "openvino":
        from stemboard.node.openvino_session import OpenVinoSession

        return OpenVinoSession(path, choice, gate=precision == "auto")
    from stemboard.node.ort_session import OnnxRuntimeSession

    return OnnxRuntimeSession.on_cpu(path, choice)


def _cpu_choice(precision: str, threads: int, backend: str) -> Choice:
    """The runtime and arithmetic for a CPU session, with a note where a wish is not met."""
    has_openvino, has_ort = available("openvino"), available("onnxruntime")
    if backend == "openvino" and not has_openvino:
        raise StemboardError(
            "backend 'openvino' was asked for but is not installed (pip install openvino)"
        )
    if backend == "onnxruntime" and not has_ort:
        raise StemboardError(
            "backend 'onnxruntime' was asked for but is not installed "
            "(pip install 'stemboard[cpu]', or 'stemboard[gpu]' for the GPU)"
        )
    if not (has_openvino or has_ort):
        raise StemboardError(
            "no runtime to run models with: pip install openvino (the CPU default) or "
            "'stemboard[cpu]' / 'stemboard[gpu]' for onnxruntime"
        )
    name = backend if backend != "auto" else ("openvino" if has_openvino else "onnxruntime")
    choice = Choice(name, "cpu", "fp32" if precision == "auto" else precision, threads)
    if precision == "fp16":
        choice.notes.append("fp16 is the GPU variant; on the CPU its fp16 weights run in fp32")
    if precision in ("auto", "bf16"):
        if name != "openvino":
            choice.precision = "fp32"
            if precision == "bf16":
                reason = "OpenVINO is not installed" if not has_openvino else "backend onnxruntime"
                choice.notes.append(f"bf16 needs OpenVINO ({reason}); running fp32")
        else:
            from stemboard.node.openvino_session import native_bf16

            if native_bf16():
                choice.precision = "bf16"  # with auto, if the model passes the quality gate
            else:
                choice.precision = "fp32"
                reason = "this CPU has no native bf16 (AVX512_BF16 or AMX)"
                if precision == "bf16":
                    choice.notes.append(f"bf16 asked for but {reason}; running fp32")
                else:
                    choice.notes.append(f"auto: {reason}")
    return choice
