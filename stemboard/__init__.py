"""stemboard: Hybrid Demucs source separation as a pedalboard-style processing node.

Example::

    import stemboard
    node = stemboard.SeparatorNode("models/tiny.onnx")
    stems = node.separate(audio, 44100)          # {"drums": ..., "bass": ..., ...}

The runtime never imports torch; the exporter lives in :mod:`stemboard.export`.
"""

__version__ = "0.1.0"

from stemboard.errors import StemboardError
from stemboard.graph import Bus, Channel, StemGraph, load_preset, render_file
from stemboard.model_format import ModelInfo
from stemboard.node import SeparatorNode

__all__ = [
    "Bus",
    "Channel",
    "ModelInfo",
    "SeparatorNode",
    "StemGraph",
    "StemboardError",
    "__version__",
    "load_preset",
    "render_file",
]
