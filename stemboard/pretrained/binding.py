"""Weights put into a graph shipped without them: the ONNX file the torch exporter writes, made
with numpy.

The exporter keeps every parameter of the model in its file unchanged, as an initializer named
by its ``state_dict`` key; whatever the graph computes from the weights (folded scales, gate
orders, transposes) stays an operator that the runtime folds when it loads the file
(:func:`stemboard.export.exporter._optimize`). So the file of an architecture is one graph plus
the checkpoint's tensors. A **weight-free graph** is that file with each parameter's data taken
out: the initializer keeps its name, shape and type, and says where its data is in ONNX's own
terms (``data_location = EXTERNAL``, location :data:`PARAMETER_LOCATION`). Binding writes the
tensors back in, byte for byte as ``onnx.save`` writes them, and the metadata of the weights:

    graph = WeightFreeGraph.shipped(architecture("high"))
    graph.bind(read_state_dict("hdemucs_high_trained.pt"), info, "high.onnx")

The result is the file ``stemboard export`` writes from the same checkpoint, bit for bit (the
tests compare them). A float16 graph (``fp16=True``) holds float16 parameters; binding converts
the float32 weights as onnxruntime's float16 converter does (tiny magnitudes and overflows
clamped to float16's range) so that file matches too.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stemboard.atomic import atomic_path
from stemboard.errors import CheckpointError, ModelFormatError
from stemboard.model_format import PRODUCER, WEIGHT_FREE_KEY, ModelInfo
from stemboard.protobuf import (
    LENGTH_DELIMITED,
    Field,
    WireFormatError,
    fields,
    length_delimited,
    length_prefix,
    string_field,
)
from stemboard.registry import Architecture
from stemboard.version import __version__

PARAMETER_LOCATION = "stemboard:state_dict"
"""The external-data location of a parameter whose data a checkpoint supplies."""

SHIPPED_DIR = Path(__file__).resolve().parents[1] / "models" / "weight_free"

# ONNX field numbers (onnx.proto)
_MODEL_PRODUCER_NAME, _MODEL_PRODUCER_VERSION, _MODEL_DOC_STRING = 2, 3, 6
_MODEL_GRAPH, _MODEL_METADATA = 7, 14
_GRAPH_INITIALIZER = 5
_TENSOR_DIMS, _TENSOR_DATA_TYPE, _TENSOR_NAME, _TENSOR_RAW_DATA = 1, 2, 8, 9
_TENSOR_EXTERNAL_DATA, _TENSOR_DATA_LOCATION = 13, 14
_EXTERNAL = 1
_ENTRY_KEY, _ENTRY_VALUE = 1, 2

_FLOAT, _FLOAT16 = 1, 10
_NUMPY = {_FLOAT: np.dtype("<f4"), _FLOAT16: np.dtype("<f2")}
_PRECISIONS = {_FLOAT: "float32", _FLOAT16: "float16"}

# onnxruntime.transformers.float16.convert_np_to_float16's defaults
_FLOAT16_MIN_POSITIVE = 5.96e-08
_FLOAT16_MAX_FINITE = 65504.0


@dataclass(frozen=True)
class Parameter:
    """A parameter the graph reads: its ``state_dict`` name, shape and ONNX element type."""

    name: str
    shape: tuple[int, ...]
    data_type: int


def shipped_path(arch: Architecture, fp16: bool = False) -> Path:
    """Where the weight-free graph of ``arch`` lies inside the package."""
    return SHIPPED_DIR / f"{arch.name}{'.fp16' if fp16 else ''}.onnx.gz"


class WeightFreeGraph:
    """A weight-free graph read from its bytes (gzip-compressed or not)."""

    def __init__(self, data: bytes, source: str):
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        self.data = data
        self.source = source
        try:
            self._model = _grouped(fields(data))
            graph = self._only(_MODEL_GRAPH)
            self._graph = list(fields(data, graph.payload_start, graph.end))
            self.metadata = dict(
                _string_pair(data, entry) for entry in self._model.get(_MODEL_METADATA, [])
            )
            self.parameters = {
                p.name: p
                for p in (
                    _parameter(data, f) for f in self._graph if f.number == _GRAPH_INITIALIZER
                )
                if p is not None
            }
        except WireFormatError as error:
            raise ModelFormatError(f"{source}: not an ONNX file ({error})") from None
        if WEIGHT_FREE_KEY not in self.metadata:
            raise ModelFormatError(f"{source}: not a weight-free graph (no {WEIGHT_FREE_KEY})")
        described = json.loads(self.metadata[WEIGHT_FREE_KEY])
        self.architecture: str = described["architecture"]
        self.segment_samples: int = int(described["segment_samples"])
        self.unused: dict[str, tuple[int, ...]] = {
            name: tuple(shape) for name, shape in described["unused"].items()
        }
        types = {p.data_type for p in self.parameters.values()}
        if not self.parameters or len(types) != 1 or types - set(_NUMPY):
            raise ModelFormatError(f"{source}: its parameters are not all float32 or float16")
        self.precision = _PRECISIONS[types.pop()]

    @classmethod
    def read(cls, path: str | os.PathLike) -> WeightFreeGraph:
        return cls(Path(path).read_bytes(), os.fspath(path))

    @classmethod
    def shipped(cls, arch: Architecture, fp16: bool = False) -> WeightFreeGraph:
        """The graph of ``arch`` shipped with stemboard; a clear error if none is."""
        path = shipped_path(arch, fp16)
        if not arch.weight_free:
            raise ModelFormatError(
                f"stemboard ships no weight-free graph of architecture {arch.name!r}; "
                "exporting it needs torch (pip install 'stemboard[export]')"
            )
        if not path.is_file():
            raise ModelFormatError(
                f"the weight-free graph of {arch.name!r} is missing from this installation "
                f"({path}); reinstall stemboard"
            )
        return cls.read(path)

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every tensor a checkpoint of the architecture holds, with its shape: the parameters
        the graph reads and those it does not (an encoder layer's unused norm, say)."""
        return {**{p.name: p.shape for p in self.parameters.values()}, **self.unused}

    def bind(
        self, state: Mapping[str, np.ndarray], info: ModelInfo, out: str | os.PathLike
    ) -> Path:
        """Write the graph with ``state``'s tensors and ``info``'s metadata to ``out``
        (atomically: the file appears whole or not at all).

        ``state`` must hold every parameter with its shape (:func:`check_state_dict` says
        what does not fit); tensors the graph does not read are ignored.
        """
        if info.precision != self.precision:
            raise ValueError(f"info says {info.precision}, the graph is {self.precision}")
        pieces = self._model_pieces(state, info)
        out = Path(out)
        with atomic_path(out) as part, open(part, "wb") as file:
            for piece in pieces:
                file.write(piece if isinstance(piece, bytes) else memoryview(piece))
        return out

    def _only(self, number: int) -> Field:
        found = self._model.get(number, [])
        if len(found) != 1:
            raise WireFormatError(f"expected one field {number} in the model, found {len(found)}")
        return found[0]

    def _model_pieces(self, state: Mapping[str, np.ndarray], info: ModelInfo) -> list:
        data = self.data
        replaced = {
            _MODEL_PRODUCER_NAME: [string_field(_MODEL_PRODUCER_NAME, PRODUCER)],
            _MODEL_PRODUCER_VERSION: [string_field(_MODEL_PRODUCER_VERSION, __version__)],
            _MODEL_DOC_STRING: [string_field(_MODEL_DOC_STRING, info.summary())],
            _MODEL_METADATA: [
                length_delimited(
                    _MODEL_METADATA,
                    string_field(_ENTRY_KEY, key) + string_field(_ENTRY_VALUE, value),
                )
                for key, value in info.to_metadata().items()
            ],
        }
        graph = self._graph_pieces(state)
        graph_length = sum(
            len(piece) if isinstance(piece, bytes) else piece.nbytes for piece in graph
        )
        pieces: list = []
        for number in sorted({*self._model, *replaced}):
            if number == _MODEL_GRAPH:
                pieces.append(length_prefix(_MODEL_GRAPH, graph_length))
                pieces.extend(graph)
            elif number in replaced:
                pieces.extend(replaced[number])
            else:
                pieces.extend(data[f.start : f.end] for f in self._model[number])
        return pieces

    def _graph_pieces(self, state: Mapping[str, np.ndarray]) -> list:
        data = self.data
        pieces: list = []
        for field in self._graph:
            parameter = _parameter(data, field) if field.number == _GRAPH_INITIALIZER else None
            if parameter is None:
                pieces.append(data[field.start : field.end])
                continue
            array = _tensor_data(state[parameter.name], parameter)
            kept = _grouped(
                f
                for f in fields(data, field.payload_start, field.end)
                if f.number not in (_TENSOR_EXTERNAL_DATA, _TENSOR_DATA_LOCATION)
            )
            before = b"".join(
                data[f.start : f.end] for n in sorted(kept) if n < _TENSOR_RAW_DATA for f in kept[n]
            )
            after = b"".join(
                data[f.start : f.end] for n in sorted(kept) if n > _TENSOR_RAW_DATA for f in kept[n]
            )
            raw_prefix = length_prefix(_TENSOR_RAW_DATA, array.nbytes)
            length = len(before) + len(raw_prefix) + array.nbytes + len(after)
            pieces += [length_prefix(_GRAPH_INITIALIZER, length), before, raw_prefix, array, after]
        return pieces


def _grouped(found) -> dict[int, list[Field]]:
    groups: dict[int, list[Field]] = {}
    for field in found:
        groups.setdefault(field.number, []).append(field)
    return groups


def _string_pair(data: bytes, entry: Field) -> tuple[str, str]:
    values = {_ENTRY_KEY: "", _ENTRY_VALUE: ""}
    for f in fields(data, entry.payload_start, entry.end):
        if f.wire == LENGTH_DELIMITED:
            values[f.number] = data[f.payload_start : f.end].decode("utf-8")
    return values[_ENTRY_KEY], values[_ENTRY_VALUE]


def _parameter(data: bytes, initializer: Field) -> Parameter | None:
    """The parameter an initializer stands for, or None for a constant it holds itself."""
    shape: list[int] = []
    name, data_type, external, location = "", 0, False, ""
    for f in fields(data, initializer.payload_start, initializer.end):
        if f.number == _TENSOR_DIMS:
            shape.append(f.value)
        elif f.number == _TENSOR_DATA_TYPE:
            data_type = f.value
        elif f.number == _TENSOR_NAME:
            name = data[f.payload_start : f.end].decode("utf-8")
        elif f.number == _TENSOR_DATA_LOCATION:
            external = f.value == _EXTERNAL
        elif f.number == _TENSOR_EXTERNAL_DATA:
            key, value = _string_pair(data, f)
            if key == "location":
                location = value
    if external and location == PARAMETER_LOCATION:
        return Parameter(name, tuple(shape), data_type)
    return None


def _tensor_data(array: np.ndarray, parameter: Parameter) -> np.ndarray:
    """The little-endian bytes ``onnx`` stores for ``array`` as ``parameter``'s type."""
    values = np.ascontiguousarray(array, dtype=np.float32)
    if parameter.data_type == _FLOAT16:
        values = _to_float16(values)
    return np.ascontiguousarray(values, dtype=_NUMPY[parameter.data_type])


def _to_float16(values: np.ndarray) -> np.ndarray:
    """float32 -> float16 as onnxruntime's float16 converter does it: sign and finiteness kept,
    magnitudes below float16's smallest subnormal raised to it, finite ones above its largest
    value lowered to it."""
    low, high = _FLOAT16_MIN_POSITIVE, _FLOAT16_MAX_FINITE
    values = np.where((values > 0) & (values < low), low, values)
    values = np.where((values > -low) & (values < 0), -low, values)
    values = np.where((values > high) & (values < np.inf), high, values)
    values = np.where((values > -np.inf) & (values < -high), -high, values)
    return np.float16(values)


def check_state_dict(
    path: str | os.PathLike,
    state: Mapping[str, np.ndarray],
    expected: Mapping[str, tuple[int, ...]],
    architecture: str,
) -> None:
    """Raise a one-line :class:`~stemboard.errors.CheckpointError` naming ``path`` unless
    ``state`` holds exactly the ``expected`` tensors with their shapes, all finite floats."""
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    mismatched = [
        key for key in expected if key in state and tuple(state[key].shape) != tuple(expected[key])
    ]
    if missing or unexpected or mismatched:
        problems = [
            _count_with_examples("missing key", missing),
            _count_with_examples("unexpected key", unexpected),
        ]
        if mismatched:
            first = mismatched[0]
            problems.append(
                f"shapes differ in {len(mismatched)} of {len(expected)} tensors, first {first}: "
                f"checkpoint {list(state[first].shape)} vs model {list(expected[first])}"
            )
        raise CheckpointError(
            f"{path}: does not fit architecture {architecture!r}: {'; '.join(problems)}"
        )
    for key, tensor in state.items():
        if tensor.dtype.kind != "f":
            raise CheckpointError(f"{path}: tensor {key} holds {tensor.dtype} values, not floats")
        if not np.isfinite(tensor).all():
            raise CheckpointError(f"{path}: tensor {key} holds NaN or infinite values")


def _count_with_examples(what: str, keys: list[str]) -> str:
    counted = f"{len(keys)} {what}{'' if len(keys) == 1 else 's'}"
    return f"{counted} (e.g. {', '.join(keys[:3])})" if keys else counted
