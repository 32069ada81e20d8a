"""A known model made ready without torch: its official checkpoint fetched (or imported) and
bound to the weight-free graph stemboard ships for its architecture.

Example::

    install_bundle("hdemucs_high_musdb_plus", log=print)   # ~/.cache/stemboard/....onnx
    bind_checkpoint("my_high.pt", architecture("high"), "my_high.onnx")

What a checkpoint is called in the file it becomes (:func:`checkpoint_identity`) is decided here
for the exporter too, so binding and ``stemboard export`` write the same metadata.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stemboard.atomic import AtomicFiles, atomic_path
from stemboard.digest import sha256_file
from stemboard.errors import CheckpointError, InvalidValueError, StemboardError
from stemboard.model_format import fp16_path_for, model_targets
from stemboard.pretrained.binding import WeightFreeGraph, check_state_dict
from stemboard.pretrained.download import (
    Progress,
    checkpoint_path,
    find_or_fetch,
    forget,
    mismatch,
)
from stemboard.pretrained.torch_file import read_state_dict
from stemboard.registry import (
    BUNDLES,
    DEFAULT_SEGMENT_SECONDS,
    PACKAGED,
    Architecture,
    architecture,
    bundle,
    bundle_for_sha256,
    bundle_model_path,
    packaged_model_path,
    torchaudio_copy,
)


def bundle_identity(name: str) -> tuple[str, str]:
    """The model name and the origin a file made from bundle ``name``'s checkpoint declares."""
    return name, f"bundle {name}"


def checkpoint_identity(
    path: str | os.PathLike, sha256: str, arch: Architecture
) -> tuple[str, str]:
    """The model name and the origin a file made from the checkpoint at ``path`` declares:
    an official bundle's when the file is that bundle's, else the architecture's name."""
    official = bundle_for_sha256(sha256)
    if official is not None and official.architecture == arch.name:
        return bundle_identity(official.name)
    return arch.name, f"checkpoint {Path(path).name}"


def bind_checkpoint(
    checkpoint: str | os.PathLike,
    arch: Architecture,
    out: str | os.PathLike,
    *,
    fp32: bool = True,
    fp16: bool = False,
    identity: tuple[str, str] | None = None,
    sha256: str | None = None,
    log: Callable[[str], None] = print,
) -> list[Path]:
    """Write the model of ``checkpoint`` (a ``torch.save``'d state_dict of ``arch``) to ``out``
    (``fp32``) and its float16 variant beside it (``fp16``), from the shipped weight-free graphs.

    The checkpoint is read without running anything in it and checked against the graph (every
    tensor, its shape, finite values) before a byte is written; the files appear whole or not
    at all. ``identity`` (model name, origin) overrides :func:`checkpoint_identity`;
    ``sha256`` is the file's when the caller has just checked it (else it is computed).
    Returns the paths written.
    """
    checkpoint, out = Path(checkpoint), Path(out)
    wanted = [
        (WeightFreeGraph.shipped(arch, fp16=half), path)
        for half, path, asked in ((False, out, fp32), (True, fp16_path_for(out), fp16))
        if asked
    ]
    state = read_state_dict(checkpoint)
    check_state_dict(checkpoint, state, wanted[0][0].expected_shapes(), arch.name)
    sha256 = sha256 or sha256_file(checkpoint)
    model, origin = identity or checkpoint_identity(checkpoint, sha256, arch)
    out.parent.mkdir(parents=True, exist_ok=True)
    with AtomicFiles() as files:
        for graph, path in wanted:
            info = arch.model_info(
                graph.segment_samples,
                model=model,
                weights_sha256=sha256,
                origin=origin,
                precision=graph.precision,
            )
            graph.bind(state, info, files.reserve(path))
    for _, path in wanted:
        log(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return [path for _, path in wanted]


def install_bundle(
    name: str,
    *,
    fp16: bool = False,
    progress: Progress | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    """The model file of bundle ``name`` (``<name>.fp16.onnx`` with ``fp16``), made if missing:
    the official checkpoint found or downloaded (:func:`find_or_fetch`), then bound."""
    record = bundle(name)
    arch = architecture(record.architecture)
    path = bundle_model_path(name)
    wanted = fp16_path_for(path) if fp16 else path
    if wanted.is_file():
        return wanted
    checkpoint = find_or_fetch(record, progress=progress, log=log)
    log(f"binding {name} to stemboard's {arch.name} graph into {path.parent} (once, no torch)")
    try:
        bind_checkpoint(
            checkpoint,
            arch,
            path,
            fp32=not fp16,
            fp16=fp16,
            identity=bundle_identity(name),
            sha256=record.sha256,  # find_or_fetch checked it
            log=log,
        )
    except CheckpointError as error:
        if checkpoint != checkpoint_path(record):
            raise  # torchaudio's copy: not ours to delete
        forget(checkpoint)
        raise CheckpointError(f"{error} (deleted from the cache)") from None
    return wanted


def import_checkpoint(
    name: str, file: str | os.PathLike, *, log: Callable[[str], None] = print
) -> Path:
    """Take a copy of bundle ``name``'s official checkpoint that the user already has: checked
    against the record (size, sha256), copied into stemboard's cache, and bound."""
    record = bundle(name)
    file = Path(file)
    if not file.is_file():
        raise CheckpointError(f"{file}: no such file")
    problem = mismatch(file, size=record.size, sha256=record.sha256)
    if problem is not None:
        raise CheckpointError(
            f"{file} is not the official checkpoint of {name}: {problem} "
            f"(the official file is {record.url}, {record.size:,} bytes)"
        )
    destination = checkpoint_path(record)
    if destination.resolve() != file.resolve():
        destination.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(destination) as part:
            shutil.copyfile(file, part)
        log(f"copied {file} to {destination}")
    arch = architecture(record.architecture)
    path = bundle_model_path(name)
    bind_checkpoint(
        destination, arch, path, identity=bundle_identity(name), sha256=record.sha256, log=log
    )
    return path


def export_without_torch(
    out: str | os.PathLike,
    *,
    bundle_name: str | None = None,
    checkpoint: str | os.PathLike | None = None,
    config: str | None = None,
    seed: int | None = None,
    segment: float = DEFAULT_SEGMENT_SECONDS,
    fp16: bool = False,
    overwrite: bool = False,
    missing: str = "torch",
    progress: Progress | None = None,
    log: Callable[[str], None] = print,
) -> list[Path]:
    """What ``stemboard export`` can do where torch is not installed (``missing`` names the
    absent package): a bundle or a checkpoint of an architecture stemboard ships a graph for,
    at that graph's segment, bound to ``out`` (not verified against PyTorch, and said so).
    Anything else is an error that says torch is needed for it."""
    needs_torch = f"needs torch ({missing} is not installed): pip install 'stemboard[export]'"
    if checkpoint is None and bundle_name is None:
        raise StemboardError(f"exporting random weights (--config alone) {needs_torch}")
    if seed is not None:
        raise InvalidValueError("--seed only applies to a random initialisation (--config alone)")
    if checkpoint is not None and bundle_name is not None:
        raise InvalidValueError("give one weight source: --bundle NAME or --checkpoint FILE")
    record = bundle(bundle_name) if bundle_name is not None else None
    arch = architecture(record.architecture if record else config or "high")
    if not arch.weight_free:
        raise StemboardError(
            f"stemboard ships no graph of architecture {arch.name!r}; exporting it {needs_torch}"
        )
    shipped = WeightFreeGraph.shipped(arch)
    if arch.segment_samples(segment) != shipped.segment_samples:
        raise StemboardError(
            f"the shipped {arch.name} graph has segments of "
            f"{shipped.segment_samples / arch.sample_rate:g} s; another --segment {needs_torch}"
        )
    targets = model_targets(out, fp16=fp16, overwrite=overwrite)
    identity, sha256 = None, None
    if record is not None:
        checkpoint = find_or_fetch(record, progress=progress, log=log)
        identity, sha256 = bundle_identity(record.name), record.sha256
    log(
        f"binding {checkpoint} to stemboard's {arch.name} graph without torch: the graph is the "
        "one the exporter writes, but the result is not verified against PyTorch "
        "(torch is not installed)"
    )
    return bind_checkpoint(
        checkpoint, arch, targets[0], fp16=fp16, identity=identity, sha256=sha256, log=log
    )


@dataclass(frozen=True)
class ModelEntry:
    """A known model as ``stemboard models list`` shows it."""

    name: str
    architecture: str
    sources: tuple[str, ...]
    size: int  # bytes: the packaged file, or the official checkpoint to download
    state: str  # what is on this machine
    description: str


def known_models() -> list[ModelEntry]:
    """Every model the registry knows by name, with what of it is on this machine (files are
    looked at, not read)."""
    entries = []
    for name, packaged in PACKAGED.items():
        path = packaged_model_path(name)
        entries.append(
            ModelEntry(
                name,
                packaged.architecture,
                architecture(packaged.architecture).sources,
                path.stat().st_size if path.is_file() else 0,
                "packaged" if path.is_file() else "missing (reinstall stemboard)",
                packaged.description,
            )
        )
    for name, record in BUNDLES.items():
        made = bundle_model_path(name)
        if made.is_file():
            state = "ready" + (" (+fp16)" if fp16_path_for(made).is_file() else "")
        elif checkpoint_path(record).is_file():
            state = "checkpoint downloaded, not bound"
        elif torchaudio_copy(record).is_file():
            state = "torchaudio's copy found, not bound"
        else:
            state = "not fetched"
        entries.append(
            ModelEntry(
                name,
                record.architecture,
                architecture(record.architecture).sources,
                record.size,
                state,
                record.description,
            )
        )
    return entries
