"""The weight-free graphs shipped inside the package, made from the exporter's own output.

``python -m stemboard.export.weight_free`` traces every architecture the registry marks
``weight_free`` (random weights: the graph does not depend on them) at the default segment,
float32 and float16, takes each parameter's data out (:func:`weight_free`) and writes the
result, gzip-compressed, where :func:`stemboard.pretrained.binding.shipped_path` finds it. Run
it after any change to the exporter or the exportable model; the tests check that binding the
shipped graphs gives the file the exporter writes, byte for byte.
"""

from __future__ import annotations

import argparse
import gzip
import json
from collections.abc import Mapping

import onnx

from stemboard.export.exporter import (
    DEFAULT_SEGMENT_SECONDS,
    _graphs,
    _resolve_weights,
    segment_samples_for,
)
from stemboard.model_format import WEIGHT_FREE_KEY, ModelInfo
from stemboard.pretrained.binding import PARAMETER_LOCATION, shipped_path
from stemboard.registry import ARCHITECTURES, architecture


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


def write_shipped(name: str, segment: float = DEFAULT_SEGMENT_SECONDS, log=print) -> None:
    """Trace architecture ``name`` and write its float32 and float16 weight-free graphs."""
    arch = architecture(name)
    weights = _resolve_weights(None, None, arch.name, 0, log)
    shapes = {key: tuple(value.shape) for key, value in weights.model.state_dict().items()}
    graphs = _graphs(weights, segment_samples_for(arch, segment), fp16=True)
    for graph, fp16 in zip(graphs, (False, True), strict=True):
        path = shipped_path(arch, fp16)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = weight_free(graph, shapes, arch.name).SerializeToString()
        path.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
        log(f"wrote {path} ({path.stat().st_size:,} bytes; {len(data):,} uncompressed)")


def main(argv: list[str] | None = None) -> None:
    shipped = [arch.name for arch in ARCHITECTURES.values() if arch.weight_free]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=shipped, help=f"default: {shipped}")
    for name in parser.parse_args(argv).names:
        write_shipped(name)


if __name__ == "__main__":
    main()
