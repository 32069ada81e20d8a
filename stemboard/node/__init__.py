"""The processing node: exported models run with onnxruntime, segment by segment, no torch.

- :mod:`stemboard.node.session`: the backend, a loaded model that turns ``[batch, 2, segment]``
  into ``[batch, sources, 2, segment]``.
- :mod:`stemboard.node.overlap_add`: segments joined by weighted overlap-add.
- :mod:`stemboard.node.stream`: one track as a planar stream, and its normalisation.
- :mod:`stemboard.node.separator`: :class:`SeparatorNode`, the pedalboard-style face.

Names are imported on first use.
"""

from stemboard.lazy import lazy_exports

__all__ = ["Normalisation", "SeparationStream", "SeparatorNode", "TrackStatistics"]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "SeparatorNode": "stemboard.node.separator",
        "Normalisation": "stemboard.node.stream",
        "SeparationStream": "stemboard.node.stream",
        "TrackStatistics": "stemboard.node.stream",
    },
)
