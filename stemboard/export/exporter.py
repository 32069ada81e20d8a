"""HDemucs -> one ONNX graph: ``mix [batch, 2, samples]`` -> ``stems [batch, sources, 2, samples]``.

The steps: resolve the weights (a bundle, a checkpoint or a seeded random initialisation),
switch the model to exportable operators, trace it with torch's dynamo exporter at a fixed
segment length with a dynamic batch axis, write the metadata of the ONNX contract, optionally
derive a float16 variant, verify both against PyTorch, and only then move the files into place.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnx_ir as ir
import onnx_ir.passes.common as common_passes
import onnxscript
import onnxscript.rewriter.onnx_fusions
import torch
from onnxscript import rewriter
from onnxscript.optimizer import _constant_folding

from stemboard.atomic import AtomicFiles
from stemboard.errors import (
    InvalidValueError,
)
from stemboard.export.building import build
from stemboard.export.exportable import make_exportable
from stemboard.export.stripping import weight_free
from stemboard.export.verify import Verification, verify_export
from stemboard.export.weights import model_with
from stemboard.model_format import PRODUCER, ModelInfo, model_targets
from stemboard.offline import keep_onnxruntime_offline
from stemboard.pretrained.binding import WeightFreeGraph
from stemboard.pretrained.download import Progress
from stemboard.pretrained.install import (
    bundle_identity,
    bundle_state,
    checkpoint_identity,
    read_checkpoint,
)
from stemboard.registry import Architecture, architecture, bundle
from stemboard.signals import music_like
from stemboard.version import __version__

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
    model: torch.nn.Module
    arch: Architecture
    model_name: str
    origin: str
    sha256: str


def segment_samples_for(arch: Architecture, seconds: float | None = None) -> int:
    """The baked-in segment length (:meth:`~stemboard.registry.Architecture.segment_samples`)."""
    return arch.segment_samples(seconds)


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
    progress: Progress | None = None,
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
        state, sha = bundle_state(record, arch, progress=progress, log=log)
        model = model_with(arch, state, record.name)
        return _Weights(model, arch, *bundle_identity(record.name), sha)
    if checkpoint is not None:
        arch, state, sha = read_checkpoint(checkpoint, config)
        model = model_with(arch, state, checkpoint)
        name, origin = checkpoint_identity(checkpoint, sha, arch)
        if name != arch.name:
            log(f"{checkpoint} is the official {name} file")
        return _Weights(model, arch, name, origin, sha)
    arch = architecture(config)
    seed = 0 if seed is None else seed
    torch.manual_seed(seed)
    model = build(arch)
    return _Weights(model, arch, arch.name, f"random (seed {seed})", _state_sha256(model))


def build_model(config: str, seed: int = 0) -> torch.nn.Module:
    """The PyTorch model of registry architecture ``config`` with random weights from ``seed``,
    in eval mode: what ``export_hdemucs(config=config, seed=seed)`` exports."""
    return _resolve_weights(None, None, config, seed, lambda _: None).model


def _metadata(weights: _Weights, segment: int, precision: str) -> dict[str, str]:
    return weights.arch.model_info(
        segment,
        model=weights.model_name,
        weights_sha256=weights.sha256,
        origin=weights.origin,
        precision=precision,
    ).to_metadata()


def _set_metadata(proto: onnx.ModelProto, metadata: dict[str, str]) -> None:
    del proto.metadata_props[:]
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    proto.producer_name = PRODUCER
    proto.producer_version = __version__
    proto.doc_string = ModelInfo.from_metadata(metadata, "the exported graph").summary()


FOLD_OUTPUT_LIMIT = 4096  # elements; see _optimize


def _trace(
    exportable: torch.nn.Module, segment: int, parameters: Collection[str]
) -> onnx.ModelProto:
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
    _optimize(program.model, parameters)
    proto = program.model_proto
    _drop_trace_metadata(proto)
    _name_values_in_order(proto.graph)
    return proto


def _optimize(model: onnxscript.ir.Model, parameters: Collection[str]) -> None:
    """What ``torch.onnx.export(optimize=True)`` does, with a lower constant-folding limit and
    the model's parameters left as they are.

    The default limit (262,144 elements) lets folding turn broadcasts into stored tensors
    (expanded norm parameters, attention index grids): 18 MB of constants beside 9.4 MB of
    weights in the ``small`` model. Below the limit they stay ops in the file, and the runtime
    folds them in memory when it loads the graph, so running costs nothing more.

    The ``parameters`` (initializers named as the ``state_dict`` keys) are hidden from the
    optimizer as graph inputs while it runs: nothing computed from a weight is folded into a
    stored tensor, and no rewrite can depend on a weight's value. Each parameter reaches the
    file unchanged under its own name, so the graph is the same for any weights of the
    architecture and weights can be bound to it without torch (:mod:`.weight_free`); the
    runtime folds what the graph computes from them (gate orders, transposes, scale products)
    when it loads the file.
    """
    graph = model.graph
    hidden = []
    for name in parameters:
        value = graph.initializers.pop(name, None)
        if value is None:
            continue
        hidden.append((value, value.const_value))
        value.const_value = None
        graph.inputs.append(value)
    _optimizer_passes()(model)
    onnxscript.rewriter.onnx_fusions.fuse(model)
    for value, const_value in hidden:
        graph.inputs.remove(value)
        value.const_value = const_value
        graph.register_initializer(value)


def _optimizer_passes() -> ir.passes.Sequential:
    """``onnxscript.optimizer.optimize_ir``'s passes, with :data:`FOLD_OUTPUT_LIMIT` and without
    the ``SlicesSplit`` rewrite. That rule has two output nodes, and onnxscript matches such a
    pattern by scanning the whole graph for every candidate node: quadratic in the graph's size,
    four fifths of a bag's export time (a bag's graph is four models' long), and it never fires
    on these models (the shipped graphs are the same with and without it)."""
    rules = [rule for rule in rewriter._DEFAULT_REWRITE_RULES if rule.name != "SlicesSplit"]
    loop = ir.passes.PassManager(
        [
            _constant_folding.FoldConstantsPass(
                shape_inference=True,
                input_size_limit=_constant_folding.DEFAULT_CONSTANT_FOLD_INPUT_SIZE_LIMIT,
                output_size_limit=FOLD_OUTPUT_LIMIT,
            ),
            rewriter.RewritePass(rules),
            common_passes.RemoveUnusedNodesPass(),
            common_passes.RemoveUnusedFunctionsPass(),
            common_passes.RemoveUnusedOpsetsPass(),
        ],
        steps=2,
        early_stop=True,
    )
    return ir.passes.Sequential(
        common_passes.InlinePass(),
        loop,
        common_passes.RemoveUnusedNodesPass(),
        common_passes.LiftConstantsToInitializersPass(lift_all_constants=True, size_limit=0),
        common_passes.LiftSubgraphInitializersToMainGraphPass(),
        common_passes.DeduplicateInitializersPass(),
        common_passes.CommonSubexpressionEliminationPass(),
        common_passes.OutputFixPass(),
        common_passes.NameFixPass(),
    )


def _drop_trace_metadata(proto: onnx.ModelProto) -> None:
    """Remove the exporter's per-node provenance (stack traces, module paths): 1.4 MB in
    ``small``, and nothing onnxruntime reads."""
    for node in proto.graph.node:
        del node.metadata_props[:]
    for value in proto.graph.value_info:
        del value.metadata_props[:]


def _name_values_in_order(graph: onnx.GraphProto) -> None:
    """Name the graph's nodes and unnamed values (the exporter's ``node_eq_326``, ``val_N``...)
    by the position where the node list first mentions them, and store the initializers and
    value infos in that order.

    The exporter numbers names from counters that depend on what the process traced before
    (a second trace in one process names some constants differently); here the same graph
    always reads the same, whichever process traced it, so a weight-free graph shipped with
    stemboard and a fresh export agree byte for byte. Inputs, outputs, parameters and named
    buffers (``spectrogram.window``) keep their names.
    """
    kept = {value.name for value in (*graph.input, *graph.output)}
    kept |= {init.name for init in graph.initializer if "." in init.name}
    order: dict[str, int] = {}  # every name, by first mention
    for node in graph.node:
        for name in (*node.input, *node.output):
            if name:
                order.setdefault(name, len(order))
    new_name = {name: name if name in kept else f"v{position}" for name, position in order.items()}
    for position, node in enumerate(graph.node):
        node.name = f"{node.op_type}_{position}"
        node.input[:] = [new_name.get(name, name) for name in node.input]
        node.output[:] = [new_name.get(name, name) for name in node.output]
    for entries in (graph.initializer, graph.value_info):
        entries.sort(key=lambda entry: order.get(entry.name, len(order)))
        for entry in entries:
            entry.name = new_name.get(entry.name, entry.name)


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


_TRACED: dict[tuple[Architecture, int], list[bytes]] = {}
"""Weight-free graphs this process traced, by (architecture, segment): float32 first, then the
float16 variant when it was asked for."""


def _graphs(weights: _Weights, segment_samples: int, fp16: bool) -> list[onnx.ModelProto]:
    """The float32 graph of ``weights`` (and its float16 variant with ``fp16``), with their
    metadata, checked by ONNX's checker.

    The graph of an architecture does not depend on its weights (:func:`_optimize`), so an
    architecture is traced once per process: a second export of it binds the new weights to
    the graph traced first (:mod:`stemboard.pretrained.binding`, which writes what the trace
    would, byte for byte).
    """
    key = (weights.arch, segment_samples)
    cached = _TRACED.get(key, [])
    if len(cached) >= 1 + fp16:
        return [_bound(data, weights, segment_samples) for data in cached[: 1 + fp16]]
    proto = _trace(make_exportable(weights.model), segment_samples, weights.model.state_dict())
    _set_metadata(proto, _metadata(weights, segment_samples, "float32"))
    onnx.checker.check_model(proto)
    graphs = [proto]
    if fp16:
        half = _to_float16(proto)
        _set_metadata(half, _metadata(weights, segment_samples, "float16"))
        graphs.append(half)
    shapes = {key: tuple(value.shape) for key, value in weights.model.state_dict().items()}
    _TRACED[key] = [weight_free(g, shapes, weights.arch.name).SerializeToString() for g in graphs]
    return graphs


def _bound(data: bytes, weights: _Weights, segment_samples: int) -> onnx.ModelProto:
    """The weight-free graph ``data`` with ``weights`` and their metadata in it."""
    graph = WeightFreeGraph(data, f"the traced {weights.arch.name} graph")
    state = {key: value.detach().cpu().numpy() for key, value in weights.model.state_dict().items()}
    info = ModelInfo.from_metadata(_metadata(weights, segment_samples, graph.precision), "export")
    with tempfile.TemporaryDirectory(prefix="stemboard-bind-") as folder:
        path = graph.bind(state, info, Path(folder) / "bound.onnx")
        return onnx.load(path)


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
    segment: float | None = None,
    fp16: bool = False,
    verify: bool = True,
    overwrite: bool = False,
    log: Callable[[str], None] = print,
    progress: Progress | None = None,
) -> ExportResult:
    """Export a Hybrid Demucs (torchaudio's HDemucs, demucs' HTDemucs or HDemucs, or a bag of
    them) to ``out`` (and ``<out>.fp16.onnx`` with ``fp16=True``).

    Example::

        from stemboard.export import export_hdemucs
        export_hdemucs("tiny.onnx", config="tiny", segment=5.0)
        export_hdemucs("htdemucs.onnx", config="htdemucs", seed=1)

    Exactly one weight source: ``bundle`` (a name in :data:`stemboard.registry.BUNDLES`),
    ``checkpoint`` (a ``torch.save``'d state_dict, whose architecture ``config`` names,
    ``high`` by default; or a demucs model file, which names its own) or ``config`` alone
    (random weights from ``seed``). ``segment`` is in seconds (None: the architecture's own —
    an HTDemucs runs only at its training segment).
    With ``verify`` the files are written only if onnxruntime matches PyTorch on every stem
    (>= 60 dB SNR in float32, >= 30 dB in float16); otherwise a VerificationError is raised and
    nothing is left behind. An existing file is replaced only with ``overwrite``
    (:class:`~stemboard.errors.OutputExistsError` otherwise, before any work). A bundle's
    checkpoint is fetched as :func:`stemboard.pretrained.download.find_or_fetch` does,
    reporting to ``progress``.
    """
    started = time.perf_counter()
    targets = model_targets(out, fp16=fp16, overwrite=overwrite)
    out = targets[0]
    fp16_target = targets[1] if fp16 else None
    weights = _resolve_weights(bundle, checkpoint, config, seed, log, progress)
    segment_samples = segment_samples_for(weights.arch, segment)
    log(
        f"exporting {weights.arch.name} ({weights.origin}) with segments of {segment_samples} "
        f"samples ({segment_samples / weights.arch.sample_rate:.3f} s)"
    )
    graphs = _graphs(weights, segment_samples, fp16)
    metadata = _metadata(weights, segment_samples, "float32")
    out.parent.mkdir(parents=True, exist_ok=True)
    with AtomicFiles() as files:
        written = [files.reserve(target) for target in targets]
        for graph, temporary in zip(graphs, written, strict=True):
            onnx.save_model(graph, temporary)
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
