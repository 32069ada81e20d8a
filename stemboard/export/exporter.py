"""HDemucs -> one ONNX graph: ``mix [batch, 2, samples]`` -> ``stems [batch, sources, 2, samples]``.

The steps: resolve the weights (a bundle, a checkpoint or a seeded random initialisation),
switch the model to exportable operators, trace it with torch's dynamo exporter at a fixed
segment length with a dynamic batch axis, write the metadata of the ONNX contract, optionally
derive a float16 variant, verify both against PyTorch, and only then move the files into place.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnxscript
import onnxscript.optimizer
import onnxscript.rewriter.onnx_fusions
import torch
from torchaudio.models import HDemucs

from stemboard.atomic import AtomicFiles
from stemboard.errors import (
    DestinationError,
    InvalidValueError,
    OutputExistsError,
)
from stemboard.export.exportable import make_exportable
from stemboard.export.verify import Verification, verify_export
from stemboard.export.weights import load_checkpoint, resolve_bundle
from stemboard.model_format import ModelInfo, fp16_path_for
from stemboard.offline import keep_onnxruntime_offline
from stemboard.registry import Architecture, architecture, bundle, bundle_for_sha256
from stemboard.signals import music_like
from stemboard.version import __version__

DEFAULT_SEGMENT_SECONDS = 10.0
MIN_SEGMENT_SECONDS = 0.5
FP32_MIN_SNR_DB = 60.0
FP16_MIN_SNR_DB = 30.0


@dataclass
class ExportResult:
    """What an export wrote and how it verified."""

    path: Path
    fp16_path: Path | None
    metadata: dict[str, str]
    verification: list[Verification] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class _Weights:
    model: HDemucs
    arch: Architecture
    model_name: str
    origin: str
    sha256: str


def segment_samples_for(arch: Architecture, seconds: float) -> int:
    """The baked-in segment length: ``seconds`` rounded to a whole number of ``2 * hop`` samples.

    HDemucs downsamples its time branch by ``hop`` and then by 2 more after the branches merge;
    a multiple of ``2 * hop`` (2048 samples, 46 ms at nfft 4096) is divided evenly by every
    stride, so no layer pads the segment internally.
    """
    if not math.isfinite(seconds) or seconds < MIN_SEGMENT_SECONDS:
        raise InvalidValueError(
            f"--segment must be at least {MIN_SEGMENT_SECONDS} seconds, got {seconds}"
        )
    quantum = 2 * arch.hop_length
    return max(1, round(seconds * arch.sample_rate / quantum)) * quantum


def _state_sha256(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _resolve_weights(
    bundle_name: str | None,
    checkpoint: str | os.PathLike | None,
    config: str | None,
    seed: int | None,
    log: Callable[[str], None],
) -> _Weights:
    if (bundle_name is not None) + (checkpoint is not None) + (
        config is not None and checkpoint is None
    ) != 1:
        raise InvalidValueError(
            "give exactly one weight source: --bundle NAME, --checkpoint FILE "
            "(with --config NAME for a non-default architecture) or --config NAME (random weights)"
        )
    if seed is not None and (bundle_name is not None or checkpoint is not None):
        raise InvalidValueError("--seed only applies to a random initialisation (--config alone)")
    if bundle_name is not None:
        record = bundle(bundle_name)
        arch = architecture(record.architecture)
        path = resolve_bundle(record, progress=True)
        model, sha = load_checkpoint(path, arch)
        return _Weights(model, arch, record.name, f"bundle {record.name}", sha)
    if checkpoint is not None:
        arch = architecture(config or "high")
        model, sha = load_checkpoint(checkpoint, arch)
        official = bundle_for_sha256(sha)
        if official is not None and official.architecture == arch.name:
            log(f"{checkpoint} is the official {official.name} file")
            return _Weights(model, arch, official.name, f"bundle {official.name}", sha)
        return _Weights(model, arch, arch.name, f"checkpoint {Path(checkpoint).name}", sha)
    arch = architecture(config)
    seed = 0 if seed is None else seed
    torch.manual_seed(seed)
    model = HDemucs(**arch.hdemucs_kwargs()).eval()
    return _Weights(model, arch, arch.name, f"random (seed {seed})", _state_sha256(model))


def _metadata(weights: _Weights, segment: int, precision: str) -> dict[str, str]:
    arch = weights.arch
    info = ModelInfo(
        sources=arch.sources,
        sample_rate=arch.sample_rate,
        segment_samples=segment,
        model=weights.model_name,
        weights_sha256=weights.sha256,
        audio_channels=arch.audio_channels,
        precision=precision,
        extra={
            "architecture": arch.name,
            "weights": weights.origin,
            "nfft": str(arch.nfft),
            "version": __version__,
        },
    )
    return info.to_metadata()


def _set_metadata(proto: onnx.ModelProto, metadata: dict[str, str]) -> None:
    del proto.metadata_props[:]
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    proto.producer_name = "stemboard"
    proto.producer_version = __version__
    info = ModelInfo.from_metadata(metadata, "the exported graph")
    proto.doc_string = (
        f"HDemucs ({info.model}) source separator: mix [batch, {info.audio_channels}, "
        f"{info.segment_samples}] -> stems [batch, sources, {info.audio_channels}, samples]"
    )


FOLD_OUTPUT_LIMIT = 4096  # elements; see _optimize


def _trace(exportable: HDemucs, segment: int) -> onnx.ModelProto:
    # Batch 2 in the example: torch.export specialises a size-1 axis to a constant.
    example = torch.zeros(2, 2, segment)
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)  # it warns about torchvision ops it cannot register
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                exportable,
                (example,),
                None,
                dynamo=True,
                input_names=["mix"],
                output_names=["stems"],
                dynamic_shapes=({0: torch.export.Dim("batch")},),
                external_data=False,
                optimize=False,
                verbose=False,
            )
    finally:
        exporter_log.setLevel(level)
    _optimize(program.model)
    proto = program.model_proto
    _drop_trace_metadata(proto)
    return proto


def _optimize(model: onnxscript.ir.Model) -> None:
    """What ``torch.onnx.export(optimize=True)`` does, with a lower constant-folding limit.

    The default limit (262,144 elements) lets folding turn broadcasts into stored tensors
    (expanded norm parameters, attention index grids): 18 MB of constants beside 9.4 MB of
    weights in the ``small`` model. Below the limit they stay ops in the file, and onnxruntime
    folds them in memory when it loads the graph, so running costs nothing more.
    """
    onnxscript.optimizer.optimize_ir(model, output_size_limit=FOLD_OUTPUT_LIMIT)
    onnxscript.rewriter.onnx_fusions.fuse(model)


def _drop_trace_metadata(proto: onnx.ModelProto) -> None:
    """Remove the exporter's per-node provenance (stack traces, module paths): 1.4 MB in
    ``small``, and nothing onnxruntime reads."""
    for node in proto.graph.node:
        del node.metadata_props[:]
    for value in proto.graph.value_info:
        del value.metadata_props[:]


def _to_float16(proto: onnx.ModelProto) -> onnx.ModelProto:
    """Float16 inside, float32 ``mix`` and ``stems`` at the boundary."""
    keep_onnxruntime_offline()
    from onnxruntime.transformers.float16 import convert_float_to_float16
    from onnxruntime.transformers.onnx_model import OnnxModel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        half = convert_float_to_float16(proto, keep_io_types=True, disable_shape_infer=False)
    # The converter appends its boundary casts at the end of the node list; ONNX wants the
    # nodes in topological order.
    OnnxModel(half).topological_sort()
    onnx.checker.check_model(half)
    return half


def verification_input(segment: int, sample_rate: int, batch: int = 2) -> np.ndarray:
    """Music-like, normalised as the node feeds it: float32 ``[batch, 2, segment]``."""
    clips = [
        music_like(segment / sample_rate, sample_rate, seed=i)[:, :segment] for i in range(batch)
    ]
    mix = np.stack(clips)
    mono = mix.mean(axis=1, keepdims=True)
    return ((mix - mono.mean(axis=2, keepdims=True)) / mono.std(axis=2, keepdims=True)).astype(
        np.float32
    )


def export_hdemucs(
    out: str | os.PathLike,
    *,
    bundle: str | None = None,
    checkpoint: str | os.PathLike | None = None,
    config: str | None = None,
    seed: int | None = None,
    segment: float = DEFAULT_SEGMENT_SECONDS,
    fp16: bool = False,
    verify: bool = True,
    overwrite: bool = False,
    log: Callable[[str], None] = print,
) -> ExportResult:
    """Export an HDemucs to ``out`` (and ``<out>.fp16.onnx`` with ``fp16=True``).

    Example::

        from stemboard.export import export_hdemucs
        export_hdemucs("tiny.onnx", config="tiny", segment=5.0)

    Exactly one weight source: ``bundle`` (a name in :data:`stemboard.registry.BUNDLES`),
    ``checkpoint`` (a ``torch.save``'d state_dict; ``config`` names its architecture, ``high``
    by default) or ``config`` alone (random weights from ``seed``). ``segment`` is in seconds.
    With ``verify`` the files are written only if onnxruntime matches PyTorch on every stem
    (>= 60 dB SNR in float32, >= 30 dB in float16); otherwise a VerificationError is raised and
    nothing is left behind. An existing file is replaced only with ``overwrite``
    (:class:`~stemboard.errors.OutputExistsError` otherwise, before any work).
    """
    started = time.perf_counter()
    out = Path(out)
    if out.suffix != ".onnx":
        raise InvalidValueError(f"--out must name a .onnx file, got {out}")
    if out.is_dir():
        raise DestinationError(f"--out {out} is a directory; name a .onnx file")
    fp16_target = fp16_path_for(out) if fp16 else None
    targets = [out] + ([fp16_target] if fp16_target is not None else [])
    existing = [str(target) for target in targets if target.exists()]
    if existing and not overwrite:
        raise OutputExistsError(
            f"{existing[0]} already exists (use --overwrite / overwrite=True to replace it)"
        )
    weights = _resolve_weights(bundle, checkpoint, config, seed, log)
    segment_samples = segment_samples_for(weights.arch, segment)
    log(
        f"exporting {weights.arch.name} ({weights.origin}) with segments of {segment_samples} "
        f"samples ({segment_samples / weights.arch.sample_rate:.3f} s)"
    )
    proto = _trace(make_exportable(weights.model), segment_samples)
    metadata = _metadata(weights, segment_samples, "float32")
    _set_metadata(proto, metadata)
    onnx.checker.check_model(proto)
    out.parent.mkdir(parents=True, exist_ok=True)
    with AtomicFiles() as files:
        written = [files.reserve(out)]
        onnx.save_model(proto, written[0])
        if fp16_target is not None:
            half = _to_float16(proto)
            _set_metadata(half, _metadata(weights, segment_samples, "float16"))
            written.append(files.reserve(fp16_target))
            onnx.save_model(half, written[1])
        checks: list[Verification] = []
        if verify:
            mix = verification_input(segment_samples, weights.arch.sample_rate)
            with torch.no_grad():
                reference = weights.model(torch.from_numpy(mix)).numpy()
            for temporary, target, minimum in zip(
                written, targets, (FP32_MIN_SNR_DB, FP16_MIN_SNR_DB), strict=False
            ):
                check = verify_export(
                    temporary, mix, reference, weights.arch.sources, minimum, label=target.name
                )
                log(check.report())
                checks.append(check)
                check.raise_if_failed()
    elapsed = time.perf_counter() - started
    log(f"wrote {' and '.join(map(str, targets))} in {elapsed:.1f} s")
    return ExportResult(out, fp16_target, metadata, checks, elapsed)
