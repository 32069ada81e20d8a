"""The weight-free graphs shipped inside the package, made from the exporter's own output.

``python -m stemboard.export.weight_free [NAMES]`` traces every architecture the registry marks
``weight_free`` (random weights: the graph does not depend on them) at its default segment,
float32 and float16, takes each parameter's data out (:func:`weight_free`) and writes the
result, gzip-compressed, where :func:`stemboard.pretrained.binding.shipped_path` finds it. Run
it after any change to the exporter or the exportable model; the tests check that binding the
shipped graphs gives the file the exporter writes, byte for byte.
"""

from __future__ import annotations

import argparse
import gzip

from stemboard.export.exporter import (
    _graphs,
    _resolve_weights,
    segment_samples_for,
)
from stemboard.export.stripping import weight_free
from stemboard.pretrained.binding import shipped_path
from stemboard.registry import ARCHITECTURES, architecture


def write_shipped(name: str, segment: float | None = None, log=print) -> None:
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
