"""A traced graph with its parameters' data taken out: the weight-free graph that
:mod:`stemboard.pretrained.binding` puts weights back into."""

from __future__ import annotations

import json
from collections.abc import Mapping

import onnx

from stemboard.model_format import WEIGHT_FREE_KEY, ModelInfo
from stemboard.pretrained.binding import PARAMETER_LOCATION


def weight_free(
    proto: onnx.ModelProto, state_shapes: Mapping[str, tuple[int, ...]], arch_name: str
) -> onnx.ModelProto:
    """``proto`` with the data of every initializer named in ``state_shapes`` taken out (each
    says it lies at :data:`PARAMETER_LOCATION`), the parameters it does not read listed, and
    no other metadata: binding writes the metadata of the weights it puts in."""
    skeleton = onnx.ModelProto()
    skeleton.CopyFrom(proto)
    graph = skeleton.graph
    present = set()
    for initializer in graph.initializer:
        if initializer.name not in state_shapes:
            continue
        present.add(initializer.name)
        initializer.ClearField("raw_data")
        initializer.data_location = onnx.TensorProto.EXTERNAL
        entry = initializer.external_data.add()
        entry.key, entry.value = "location", PARAMETER_LOCATION
    del skeleton.metadata_props[:]
    metadata = {entry.key: entry.value for entry in proto.metadata_props}
    segment = ModelInfo.from_metadata(metadata, "the traced graph").segment_samples
    described = {
        "architecture": arch_name,
        "segment_samples": segment,
        "unused": {
            name: list(shape) for name, shape in state_shapes.items() if name not in present
        },
    }
    skeleton.metadata_props.add(key=WEIGHT_FREE_KEY, value=json.dumps(described))
    return skeleton
