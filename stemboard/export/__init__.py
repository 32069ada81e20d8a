"""HDemucs -> ONNX export: the only part of stemboard that imports torch.

Example::

    from stemboard.export import export_hdemucs
    result = export_hdemucs("models/tiny.onnx", config="tiny", segment=5.0)
    print(result.metadata["stemboard.sources"])
"""

from stemboard.export.exporter import (
    DEFAULT_SEGMENT_SECONDS,
    ExportResult,
    export_hdemucs,
    segment_samples_for,
)

__all__ = ["DEFAULT_SEGMENT_SECONDS", "ExportResult", "export_hdemucs", "segment_samples_for"]
