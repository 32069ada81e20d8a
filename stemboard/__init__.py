"""stemboard: Hybrid Demucs source separation as a pedalboard-style processing node.

Example::

    import stemboard
    node = stemboard.SeparatorNode("demo")
    stems = node.separate(audio, 44100)          # {"drums": ..., "bass": ..., ...}

The names below are imported on first use, so ``import stemboard`` loads neither onnxruntime
nor pedalboard. The runtime never imports torch; the exporter lives in :mod:`stemboard.export`.
"""

from stemboard.errors import StemboardError
from stemboard.lazy import lazy_exports
from stemboard.version import __version__

__all__ = [
    "Bus",
    "Channel",
    "ModelInfo",
    "NodeSettings",
    "SeparatorNode",
    "StemGraph",
    "StemboardError",
    "__version__",
    "load_graph",
    "load_preset",
    "read_audio",
    "read_preset",
    "render_file",
    "separate_file",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "Bus": "stemboard.graph.strips",
        "Channel": "stemboard.graph.strips",
        "ModelInfo": "stemboard.model_format",
        "NodeSettings": "stemboard.node.settings",
        "SeparatorNode": "stemboard.node.separator",
        "StemGraph": "stemboard.graph.graph",
        "load_graph": "stemboard.graph.presets",
        "load_preset": "stemboard.graph.presets",
        "read_preset": "stemboard.graph.presets",
        "read_audio": "stemboard.audio.reading",
        "render_file": "stemboard.render",
        "separate_file": "stemboard.render",
    },
)
