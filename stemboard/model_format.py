"""The ONNX model contract shared by the exporter (which writes it) and the node (which reads it).

input ``mix``: float32 ``[batch, channels, segment_samples]``; output ``stems``: float32
``[batch, sources, channels, segment_samples]``; ``metadata_props`` carry the facts of
:class:`ModelInfo`. A float16 variant sits beside the float32 file as ``<name>.fp16.onnx`` with
the same names and shapes.

The metadata keys are written (:meth:`ModelInfo.to_metadata`) and read
(:meth:`ModelInfo.from_metadata`) here and nowhere else.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

from stemboard.errors import (
    DestinationError,
    InvalidValueError,
    ModelFormatError,
    OutputExistsError,
)
from stemboard.protobuf import WireFormatError, read_varint_from

FORMAT_VERSION = 1
PRODUCER = "stemboard"  # the files' producer_name
INPUT_NAME = "mix"
OUTPUT_NAME = "stems"
_PREFIX = "stemboard."


def _key(name: str) -> str:
    return _PREFIX + name


WEIGHT_FREE_KEY = _key("weight_free")
"""Marks a graph shipped without its weights (``stemboard.pretrained.binding``); its value
describes the parameters the graph does not use."""


@dataclass(frozen=True)
class ModelInfo:
    """What a stemboard ONNX file declares about itself.

    Required in every file: ``format``, ``sources``, ``sample_rate``, ``segment_samples``,
    ``model``, ``weights_sha256``. Optional, with defaults: ``audio_channels`` (2), ``precision``
    (float32), and descriptive ``extra`` facts (architecture, weights origin, nfft, version).
    """

    sources: tuple[str, ...]
    sample_rate: int
    segment_samples: int
    model: str
    weights_sha256: str
    audio_channels: int = 2
    precision: str = "float32"
    extra: dict[str, str] = field(default_factory=dict)  # without the prefix: nfft, version...

    REQUIRED = ("format", "sources", "sample_rate", "segment_samples", "model", "weights_sha256")

    def to_metadata(self) -> dict[str, str]:
        """The ``metadata_props`` of a file that declares this, keys with the prefix."""
        facts = {
            "format": str(FORMAT_VERSION),
            "sources": ",".join(self.sources),
            "sample_rate": str(self.sample_rate),
            "segment_samples": str(self.segment_samples),
            "audio_channels": str(self.audio_channels),
            "model": self.model,
            "weights_sha256": self.weights_sha256,
            "precision": self.precision,
            **self.extra,
        }
        return {_key(name): value for name, value in facts.items()}

    def summary(self) -> str:
        """The file's ``doc_string``: what the graph computes, in one line."""
        return (
            f"HDemucs ({self.model}) source separator: mix [batch, {self.audio_channels}, "
            f"{self.segment_samples}] -> stems [batch, sources, {self.audio_channels}, samples]"
        )

    @classmethod
    def from_metadata(cls, metadata: dict[str, str], source: str) -> ModelInfo:
        """Check ``metadata_props`` against the contract; ``source`` starts every error."""
        if WEIGHT_FREE_KEY in metadata:
            raise ModelFormatError(
                f"{source} is a weight-free graph (it holds no weights): bind a checkpoint to it "
                "with `stemboard models import NAME FILE` or `stemboard export --checkpoint FILE`"
            )
        missing = [_key(name) for name in cls.REQUIRED if _key(name) not in metadata]
        if missing:
            raise ModelFormatError(
                f"{source} is not a stemboard model: metadata lacks {', '.join(missing)} "
                "(export one with `stemboard export`)"
            )
        version = _positive_int(metadata, "format", source)
        if version > FORMAT_VERSION:
            raise ModelFormatError(
                f"{source} uses model format {version}; this stemboard reads up to "
                f"{FORMAT_VERSION} (upgrade stemboard)"
            )
        text = metadata[_key("sources")]
        sources = tuple(s.strip() for s in text.split(","))
        if not all(sources) or len(set(sources)) != len(sources):
            raise ModelFormatError(
                f"{source}: metadata {_key('sources')}={text!r} must be distinct "
                "comma-separated names"
            )
        known = {_key(name) for name in (*cls.REQUIRED, "audio_channels", "precision")}
        return cls(
            sources=sources,
            sample_rate=_positive_int(metadata, "sample_rate", source),
            segment_samples=_positive_int(metadata, "segment_samples", source),
            model=metadata[_key("model")],
            weights_sha256=metadata[_key("weights_sha256")],
            audio_channels=_positive_int(metadata, "audio_channels", source, default=2),
            precision=metadata.get(_key("precision"), "float32"),
            extra={
                key.removeprefix(_PREFIX): value
                for key, value in metadata.items()
                if key.startswith(_PREFIX) and key not in known
            },
        )


def fp16_path_for(path: str | os.PathLike) -> Path:
    """``model.onnx`` -> ``model.fp16.onnx``."""
    path = Path(path)
    return path.with_name(path.name.removesuffix(".onnx") + ".fp16.onnx")


def model_targets(
    out: str | os.PathLike, *, fp16: bool = False, overwrite: bool = False
) -> list[Path]:
    """The files a model written to ``out`` makes (``out``, and its float16 variant with
    ``fp16``), checked before any work: ``out`` names a ``.onnx`` file, not a folder, and
    nothing is replaced without ``overwrite``."""
    out = Path(out)
    if out.suffix != ".onnx":
        raise InvalidValueError(f"--out must name a .onnx file, got {out}")
    if out.is_dir():
        raise DestinationError(f"--out {out} is a directory; name a .onnx file")
    targets = [out, fp16_path_for(out)] if fp16 else [out]
    existing = [str(target) for target in targets if target.exists()]
    if existing and not overwrite:
        raise OutputExistsError(
            f"{existing[0]} already exists (use --overwrite / overwrite=True to replace it)"
        )
    return targets


def _positive_int(
    metadata: dict[str, str], name: str, source: str, default: int | None = None
) -> int:
    key = _key(name)
    if key not in metadata and default is not None:
        return default
    try:
        value = int(metadata[key])
    except ValueError:
        raise ModelFormatError(
            f"{source}: metadata {key}={metadata[key]!r} is not an integer"
        ) from None
    if value <= 0:
        raise ModelFormatError(f"{source}: metadata {key}={value} must be positive")
    return value


def read_file_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file, read from its bytes without loading the model.

    An ONNX file is a protobuf ``ModelProto``; its metadata (field 14) sits beside the graph
    (field 7), which is skipped by its length, so even a large model costs a few reads. Raises
    :class:`ModelFormatError` when the bytes are not a protobuf message.
    """
    metadata: dict[str, str] = {}
    with open(path, "rb") as file:
        size = os.fstat(file.fileno()).st_size
        while file.tell() < size:
            tag = _varint(file, path)
            field, wire = tag >> 3, tag & 7
            if wire == 0:
                _varint(file, path)
            elif wire in (1, 5):
                file.seek(8 if wire == 1 else 4, os.SEEK_CUR)
            elif wire == 2:
                length = _varint(file, path)
                if field == _METADATA_FIELD:
                    key, value = _string_pair(file.read(length), path)
                    metadata[key] = value
                else:
                    file.seek(length, os.SEEK_CUR)
            else:
                raise ModelFormatError(f"{path}: not an ONNX file (protobuf wire type {wire})")
        if file.tell() != size:
            raise ModelFormatError(f"{path}: not an ONNX file (a field runs past its end)")
    return metadata


_METADATA_FIELD = 14  # ModelProto.metadata_props: StringStringEntryProto {1: key, 2: value}


def _varint(file, path) -> int:
    try:
        return read_varint_from(file)
    except WireFormatError:
        raise ModelFormatError(f"{path}: not an ONNX file (a broken protobuf varint)") from None


def _string_pair(entry: bytes, path) -> tuple[str, str]:
    fields = {1: "", 2: ""}
    stream = BytesIO(entry)
    while stream.tell() < len(entry):
        tag = _varint(stream, path)
        if tag & 7 != 2:
            raise ModelFormatError(f"{path}: not an ONNX file (a metadata entry is not strings)")
        fields[tag >> 3] = stream.read(_varint(stream, path)).decode("utf-8", "replace")
    return fields[1], fields[2]


def read_model_info(session, source: str) -> ModelInfo:
    """Check an onnxruntime ``InferenceSession`` against the contract and return its facts.

    ``source`` (the file name) starts every error message.
    """
    info = ModelInfo.from_metadata(dict(session.get_modelmeta().custom_metadata_map), source)

    def described(args) -> list[Tensor]:
        return [Tensor(a.name, a.type == "tensor(float)", a.type, list(a.shape)) for a in args]

    check_io(info, source, described(session.get_inputs()), described(session.get_outputs()))
    return info


@dataclass(frozen=True)
class Tensor:
    """A model input or output as a runtime reports it: ``shape`` holds ints for fixed axes."""

    name: str
    is_float32: bool
    type: str
    shape: list


def check_io(info: ModelInfo, source: str, inputs: list[Tensor], outputs: list[Tensor]) -> None:
    """Check a model's inputs and outputs against what its metadata implies.

    One input ``mix`` ``[batch, channels, segment]`` and an output ``stems`` ``[batch, sources,
    channels, segment]``, both float32; ``source`` starts every error message.
    """
    if [i.name for i in inputs] != [INPUT_NAME]:
        raise ModelFormatError(
            f"{source}: expected one input named {INPUT_NAME!r}, found {[i.name for i in inputs]}"
        )
    if OUTPUT_NAME not in [o.name for o in outputs]:
        raise ModelFormatError(
            f"{source}: expected an output named {OUTPUT_NAME!r}, found {[o.name for o in outputs]}"
        )
    stems = next(o for o in outputs if o.name == OUTPUT_NAME)
    channels, segment = info.audio_channels, info.segment_samples
    expected = {
        INPUT_NAME: (inputs[0], [channels, segment]),
        OUTPUT_NAME: (stems, [len(info.sources), channels, segment]),
    }
    for name, (tensor, tail) in expected.items():
        if not tensor.is_float32:
            raise ModelFormatError(f"{source}: {name!r} must be float32, found {tensor.type}")
        shape = tensor.shape
        if len(shape) != len(tail) + 1 or shape[1:] != tail:
            raise ModelFormatError(
                f"{source}: {name!r} has shape {shape}; the metadata implies [batch, "
                f"{', '.join(map(str, tail))}]"
            )
