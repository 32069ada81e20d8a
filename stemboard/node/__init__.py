"""The processing node: exported models run with OpenVINO or onnxruntime, segment by segment, no
torch.

- :mod:`stemboard.node.backend`: the backend interface, a loaded model that turns
  ``[batch, 2, segment]`` into ``[batch, sources, 2, segment]``; its runtimes are
  :mod:`stemboard.node.openvino_session` (the CPU default) and :mod:`stemboard.node.ort_session`
  (onnxruntime: the GPU, and the CPU without OpenVINO).
- :mod:`stemboard.node.session`: which runtime and precision run a model (:func:`open_session`).
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
