"""Checks an exported graph against PyTorch: per-stem SNR and max abs error on the same input."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass

import numpy as np

from stemboard.errors import VerificationError
from stemboard.model_format import ModelInfo, read_file_metadata, read_model_info
from stemboard.offline import cpu_disabled_optimizers, import_openvino, keep_onnxruntime_offline


@dataclass
class StemError:
    """How far one stem of the ONNX output is from PyTorch's."""

    stem: str
    snr_db: float
    max_abs_error: float


@dataclass
class Verification:
    """The outcome of one verification run."""

    label: str
    minimum_snr_db: float
    stems: list[StemError]
    runtime: str = "onnxruntime"

    @property
    def passed(self) -> bool:
        return all(s.snr_db >= self.minimum_snr_db for s in self.stems)

    def report(self) -> str:
        lines = [
            f"verify {self.label} ({self.runtime} CPU vs PyTorch, "
            f"need >= {self.minimum_snr_db:g} dB):"
        ]
        for s in self.stems:
            mark = "ok" if s.snr_db >= self.minimum_snr_db else "FAIL"
            lines.append(
                f"  {s.stem:>8s}  SNR {s.snr_db:7.2f} dB"
                f"  max abs error {s.max_abs_error:.2e}  {mark}"
            )
        return "\n".join(lines)

    def raise_if_failed(self) -> None:
        if not self.passed:
            worst = min(self.stems, key=lambda s: s.snr_db)
            raise VerificationError(
                f"{self.label}: {self.runtime} output differs from PyTorch on {worst.stem!r} "
                f"({worst.snr_db:.1f} dB SNR < {self.minimum_snr_db:g} dB); nothing was written"
            )


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    """``10 log10(|reference|^2 / |reference - estimate|^2)``; inf when they are equal."""
    reference = reference.astype(np.float64)
    noise = float(np.sum((reference - estimate.astype(np.float64)) ** 2))
    signal = float(np.sum(reference**2))
    if noise == 0.0:
        return float("inf")
    return 10.0 * np.log10(max(signal, 1e-30) / noise)


def compare_stems(
    reference: np.ndarray, estimate: np.ndarray, sources: tuple[str, ...] | list[str]
) -> list[StemError]:
    """Per-stem errors of ``estimate`` vs ``reference``, both ``[batch, sources, 2, samples]``."""
    return [
        StemError(
            name,
            snr_db(reference[:, i], estimate[:, i]),
            float(np.max(np.abs(reference[:, i] - estimate[:, i]))),
        )
        for i, name in enumerate(sources)
    ]


def verify_export(
    path: str | os.PathLike,
    mix: np.ndarray,
    reference: np.ndarray,
    sources: tuple[str, ...] | list[str],
    minimum_snr_db: float,
    label: str | None = None,
) -> Verification:
    """Run ``path`` on the CPU (onnxruntime where it is installed, else OpenVINO in fp32) and
    compare with ``reference``.

    ``mix`` is ``[batch, 2, segment_samples]``; ``reference`` is PyTorch's output for it,
    ``[batch, sources, 2, segment_samples]``. The file must also pass the ONNX contract check.
    """
    source = label or os.fspath(path)
    if importlib.util.find_spec("onnxruntime") is not None:
        keep_onnxruntime_offline()
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        float16 = ModelInfo.from_metadata(read_file_metadata(path), source).precision == "float16"
        session = ort.InferenceSession(
            os.fspath(path),
            options,
            providers=["CPUExecutionProvider"],
            disabled_optimizers=cpu_disabled_optimizers(float16),
        )
        read_model_info(session, source=source)
        estimate, runtime = session.run(["stems"], {"mix": mix})[0], "onnxruntime"
    else:
        openvino = import_openvino()
        ModelInfo.from_metadata(read_file_metadata(path), source)
        compiled = openvino.Core().compile_model(
            os.fspath(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"}
        )
        estimate = compiled.create_infer_request().infer({0: mix})[compiled.output("stems")]
        runtime = "OpenVINO"
    return Verification(
        source, minimum_snr_db, compare_stems(reference, estimate, sources), runtime
    )
