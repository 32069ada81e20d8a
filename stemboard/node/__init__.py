"""The processing node: exported models run with onnxruntime, segment by segment, no torch."""

from stemboard.node.models import cache_dir, resolve_model
from stemboard.node.separator import Normalisation, SeparatorNode
from stemboard.node.session import ModelSession

__all__ = ["ModelSession", "Normalisation", "SeparatorNode", "cache_dir", "resolve_model"]
