"""Hybrid Demucs -> ONNX export: the only part of stemboard that imports torch.

Example::

    from stemboard.export import export_hdemucs
    result = export_hdemucs("models/tiny.onnx", config="tiny", segment=5.0)
    result = export_hdemucs("htdemucs.onnx", config="htdemucs", seed=0)  # demucs v4
    print(result.metadata["stemboard.sources"])
"""

from stemboard.export.exporter import (
    ExportResult,
    build_model,
    export_hdemucs,
    segment_samples_for,
)
from stemboard.registry import DEFAULT_SEGMENT_SECONDS

__all__ = [
    "DEFAULT_SEGMENT_SECONDS",
    "ExportResult",
    "build_model",
    "export_hdemucs",
    "segment_samples_for",
]
