"""The ONNX model contract shared by the exporter (which writes it) and the node (which reads it).

input ``mix``: float32 ``[batch, 2, segment_samples]``; output ``stems``: float32
``[batch, sources, 2, segment_samples]``; ``metadata_props`` carry the facts below. A float16
variant sits beside the float32 file as ``<name>.fp16.onnx`` with the same names and shapes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from stemboard.errors import ModelFormatError

FORMAT_VERSION = 1
INPUT_NAME = "mix"
OUTPUT_NAME = "stems"
REQUIRED_METADATA = (
    "stemboard.format",
    "stemboard.sources",
    "stemboard.sample_rate",
    "stemboard.segment_samples",
    "stemboard.model",
    "stemboard.weights_sha256",
)


@dataclass(frozen=True)
class ModelInfo:
    """What a stemboard ONNX file declares about itself."""

    sources: tuple[str, ...]
    sample_rate: int
    segment_samples: int
    audio_channels: int
    model: str
    weights_sha256: str
    precision: str
    metadata: dict[str, str]


def fp16_path_for(path: str | os.PathLike) -> Path:
    """``model.onnx`` -> ``model.fp16.onnx``."""
    path = Path(path)
    return path.with_name(path.name.removesuffix(".onnx") + ".fp16.onnx")


def _positive_int(metadata: dict[str, str], key: str, source: str) -> int:
    try:
        value = int(metadata[key])
    except ValueError:
        raise ModelFormatError(
            f"{source}: metadata {key}={metadata[key]!r} is not an integer"
        ) from None
    if value <= 0:
        raise ModelFormatError(f"{source}: metadata {key}={value} must be positive")
    return value


def read_model_info(session, source: str) -> ModelInfo:
    """Check an onnxruntime ``InferenceSession`` against the contract and return its facts.

    ``source`` (the file name) starts every error message.
    """
    metadata = dict(session.get_modelmeta().custom_metadata_map)
    missing = [key for key in REQUIRED_METADATA if key not in metadata]
    if missing:
        raise ModelFormatError(
            f"{source} is not a stemboard model: metadata lacks {', '.join(missing)} "
            "(export one with `stemboard export`)"
        )
    version = _positive_int(metadata, "stemboard.format", source)
    if version > FORMAT_VERSION:
        raise ModelFormatError(
            f"{source} uses model format {version}; this stemboard reads up to {FORMAT_VERSION} "
            "(upgrade stemboard)"
        )
    sources = tuple(s.strip() for s in metadata["stemboard.sources"].split(","))
    if not all(sources) or len(set(sources)) != len(sources):
        raise ModelFormatError(
            f"{source}: metadata stemboard.sources={metadata['stemboard.sources']!r} must be "
            "distinct comma-separated names"
        )
    sample_rate = _positive_int(metadata, "stemboard.sample_rate", source)
    segment = _positive_int(metadata, "stemboard.segment_samples", source)
    channels = int(metadata.get("stemboard.audio_channels", "2"))

    inputs, outputs = session.get_inputs(), session.get_outputs()
    if [i.name for i in inputs] != [INPUT_NAME]:
        raise ModelFormatError(
            f"{source}: expected one input named {INPUT_NAME!r}, found {[i.name for i in inputs]}"
        )
    if OUTPUT_NAME not in [o.name for o in outputs]:
        raise ModelFormatError(
            f"{source}: expected an output named {OUTPUT_NAME!r}, found {[o.name for o in outputs]}"
        )
    mix = inputs[0]
    stems = next(o for o in outputs if o.name == OUTPUT_NAME)
    expected = {
        INPUT_NAME: (mix, [channels, segment]),
        OUTPUT_NAME: (stems, [len(sources), channels, segment]),
    }
    for name, (arg, tail) in expected.items():
        if arg.type != "tensor(float)":
            raise ModelFormatError(f"{source}: {name!r} must be float32, found {arg.type}")
        shape = list(arg.shape)
        if len(shape) != len(tail) + 1 or shape[1:] != tail:
            raise ModelFormatError(
                f"{source}: {name!r} has shape {shape}; the metadata implies [batch, "
                f"{', '.join(map(str, tail))}]"
            )
    return ModelInfo(
        sources=sources,
        sample_rate=sample_rate,
        segment_samples=segment,
        audio_channels=channels,
        model=metadata["stemboard.model"],
        weights_sha256=metadata["stemboard.weights_sha256"],
        precision=metadata.get("stemboard.precision", "float32"),
        metadata=metadata,
    )
