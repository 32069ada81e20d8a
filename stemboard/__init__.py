"""stemboard: Hybrid Demucs source separation as a pedalboard-style processing node.

The runtime never imports torch; the exporter lives in :mod:`stemboard.export`.
"""

from stemboard.errors import StemboardError
from stemboard.model_format import ModelInfo

__version__ = "0.1.0"

__all__ = ["ModelInfo", "StemboardError", "__version__"]
