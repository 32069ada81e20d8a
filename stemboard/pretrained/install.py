"""A known model made ready without torch: its official checkpoint fetched (or imported) and
bound to the weight-free graph stemboard ships for its architecture.

Example::

    install_bundle("hdemucs_high_musdb_plus", log=print)   # ~/.cache/stemboard/....onnx
    bind_checkpoint("my_high.pt", architecture("high"), "my_high.onnx")

What a checkpoint is called in the file it becomes (:func:`checkpoint_identity`) is decided here
for the exporter too, so binding and ``stemboard export`` write the same metadata.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from stemboard.atomic import AtomicFiles, atomic_path
from stemboard.digest import sha256_file
from stemboard.errors import CheckpointError, InvalidValueError, StemboardError
from stemboard.model_format import fp16_path_for, model_targets
from stemboard.pretrained.binding import WeightFreeGraph, check_state_dict
from stemboard.pretrained.demucs_file import DemucsPackage, architecture_of, read_any_checkpoint
from stemboard.pretrained.download import (
    Progress,
    checkpoint_path,
    find_or_fetch,
    forget,
    mirror_path,
    mismatch,
)
from stemboard.registry import (
    ARCHITECTURES,
    BUNDLES,
    PACKAGED,
    Architecture,
    Bundle,
    architecture,
    bundle,
    bundle_for_sha256,
    bundle_model_path,
    packaged_model_path,
    torch_hub_copy,
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


def read_checkpoint(
    path: str | os.PathLike, config: str | None = None, *, sha256: str | None = None
) -> tuple[Architecture, dict[str, np.ndarray], str]:
    """The layout, weights and sha256 of a checkpoint file, read without running anything.

    A demucs model file (``.th`` or ``.safetensors``) names its layout itself
    (:func:`~stemboard.pretrained.demucs_file.architecture_of`; ``config``, if given, must
    agree); a plain ``state_dict`` is of architecture ``config`` (``high`` by default).
    ``sha256`` is the file's when the caller has just checked it (else it is computed).
    """
    loaded = read_any_checkpoint(path)
    if isinstance(loaded, DemucsPackage):
        arch = architecture_of(loaded)
        if config is not None and architecture(config).name != arch.name:
            raise CheckpointError(
                f"{path}: a demucs model of layout {arch.name!r}, not {config!r} "
                "(leave --config out: a demucs file names its own layout)"
            )
        return arch, loaded.state, sha256 or sha256_file(path)
    arch = architecture(config or "high")
    if arch.demucs:
        raise CheckpointError(
            f"{path}: a bare state_dict; a {arch.name} checkpoint is a demucs model file "
            "(its class, arguments and state, as demucs saves it)"
        )
    return arch, loaded, sha256 or sha256_file(path)


def bundle_state(
    record: Bundle,
    arch: Architecture,
    *,
    progress: Progress | None = None,
    log: Callable[[str], None] = print,
) -> tuple[dict[str, np.ndarray], str]:
    """The weights of bundle ``record`` (each file found or fetched and verified) and the sha256
    that names them: the file's, or for a bag of several files the sha256 of their sha256s."""
    paths = [find_or_fetch(file, progress=progress, log=log) for file in record.files]
    return merged_state(record, arch, paths)


def merged_state(
    record: Bundle, arch: Architecture, paths: list[Path]
) -> tuple[dict[str, np.ndarray], str]:
    """The state of ``record``'s files at ``paths``: one file's own, or a bag's models under
    ``models.<k>.`` in the bag's order; and the sha256 naming them."""
    state: dict[str, np.ndarray] = {}
    digests = []
    for index, path in enumerate(paths):
        member_arch, member, sha256 = read_checkpoint(path)
        if arch.demucs and member_arch.name != (arch.name if not arch.bag else _member_name(arch)):
            raise CheckpointError(
                f"{path}: a model of layout {member_arch.name!r}, not the {record.name} one"
            )
        prefix = f"models.{index}." if arch.bag else ""
        state.update({prefix + key: value for key, value in member.items()})
        digests.append(sha256)
    if len(digests) == 1:
        return state, digests[0]
    return state, hashlib.sha256(" ".join(digests).encode()).hexdigest()


def _member_name(bag: Architecture) -> str:
    """The registry layout of each model of ``bag``: the record equal to it but not a bag."""
    for arch in ARCHITECTURES.values():
        if (
            not arch.bag
            and replace(bag, name=arch.name, description=arch.description, bag=()) == arch
        ):
            return arch.name
    return bag.name


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
    checkpoint = Path(checkpoint)
    _, state, sha256 = read_checkpoint(checkpoint, arch.name, sha256=sha256)
    return bind_state(
        state,
        arch,
        out,
        fp32=fp32,
        fp16=fp16,
        identity=identity or checkpoint_identity(checkpoint, sha256, arch),
        sha256=sha256,
        source=checkpoint,
        log=log,
    )


def bind_state(
    state: dict[str, np.ndarray],
    arch: Architecture,
    out: str | os.PathLike,
    *,
    fp32: bool = True,
    fp16: bool = False,
    identity: tuple[str, str],
    sha256: str,
    source: str | os.PathLike,
    log: Callable[[str], None] = print,
) -> list[Path]:
    """Write the model of weights ``state`` (read from ``source``) of ``arch`` as
    :func:`bind_checkpoint` does."""
    out = Path(out)
    wanted = [
        (WeightFreeGraph.shipped(arch, fp16=half), path)
        for half, path, asked in ((False, out, fp32), (True, fp16_path_for(out), fp16))
        if asked
    ]
    check_state_dict(source, state, wanted[0][0].expected_shapes(), arch.name)
    model, origin = identity
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
    the official files found or downloaded (:func:`find_or_fetch`), then bound."""
    record = bundle(name)
    path = bundle_model_path(name)
    wanted = fp16_path_for(path) if fp16 else path
    if wanted.is_file():
        return wanted
    paths = [find_or_fetch(file, progress=progress, log=log) for file in record.files]
    _bind_bundle(record, paths, path, fp16=fp16, log=log)
    return wanted


def _bind_bundle(
    record: Bundle, paths: list[Path], out: Path, *, fp16: bool, log: Callable[[str], None]
) -> list[Path]:
    """Bind ``record``'s verified files at ``paths`` to its shipped graph at ``out``; a cached
    file whose content binding refuses is deleted from the cache."""
    arch = architecture(record.architecture)
    log(
        f"binding {record.name} to stemboard's {arch.name} graph into {out.parent} (once, no torch)"
    )
    try:
        state, sha256 = merged_state(record, arch, paths)
        return bind_state(
            state, arch, out, fp32=not fp16, fp16=fp16, identity=bundle_identity(record.name),
            sha256=sha256, source=paths[0] if len(paths) == 1 else record.name, log=log,
        )  # fmt: skip
    except CheckpointError as error:
        ours = [
            path
            for path, file in zip(paths, record.files, strict=True)
            if path in (checkpoint_path(file), mirror_path(file))
        ]
        if not ours:
            raise  # torchaudio's or demucs' copies: not ours to delete
        for path in ours:
            forget(path)
        raise CheckpointError(f"{error} (deleted from the cache)") from None


def import_checkpoint(
    name: str, *files: str | os.PathLike, log: Callable[[str], None] = print
) -> Path:
    """Take copies of bundle ``name``'s official files that the user already has (one per
    model of a bag, in order): checked against the record (size, sha256), copied into
    stemboard's cache, and bound."""
    record = bundle(name)
    if len(files) != len(record.files):
        raise InvalidValueError(
            f"{name} has {len(record.files)} official files "
            f"({', '.join(file.file_name for file in record.files)}); got {len(files)}"
        )
    destinations = []
    for given, official in zip(map(Path, files), record.files, strict=True):
        if not given.is_file():
            raise CheckpointError(f"{given}: no such file")
        problem = mismatch(given, size=official.size, sha256=official.sha256)
        if problem is not None:
            size = f", {official.size:,} bytes" if official.size is not None else ""
            raise CheckpointError(
                f"{given} is not the official file of {official.name}: {problem} "
                f"(the official file is {official.url}{size})"
            )
        destinations.append(given)
    copied = []
    for given, official in zip(destinations, record.files, strict=True):
        destination = checkpoint_path(official)
        if destination.resolve() != given.resolve():
            destination.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(destination) as part:
                shutil.copyfile(given, part)
            log(f"copied {given} to {destination}")
        copied.append(destination)
    path = bundle_model_path(name)
    _bind_bundle(record, copied, path, fp16=False, log=log)
    return path


def export_without_torch(
    out: str | os.PathLike,
    *,
    bundle_name: str | None = None,
    checkpoint: str | os.PathLike | None = None,
    config: str | None = None,
    seed: int | None = None,
    segment: float | None = None,
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
    if record is not None:
        arch = architecture(record.architecture)
    else:
        arch, state, sha256 = read_checkpoint(checkpoint, config)
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
    if record is not None:
        paths = [find_or_fetch(file, progress=progress, log=log) for file in record.files]
        state, sha256 = merged_state(record, arch, paths)
        identity, source = bundle_identity(record.name), record.name
    else:
        identity, source = checkpoint_identity(checkpoint, sha256, arch), checkpoint
    log(
        f"binding {source} to stemboard's {arch.name} graph without torch: the graph is the "
        "one the exporter writes, but the result is not verified against PyTorch "
        "(torch is not installed)"
    )
    return bind_state(
        state, arch, targets[0], fp16=fp16, identity=identity, sha256=sha256, source=source,
        log=log,
    )  # fmt: skip


@dataclass(frozen=True)
class ModelEntry:
    """A known model as ``stemboard models list`` shows it."""

    name: str
    architecture: str
    sources: tuple[str, ...]
    size_mb: float  # the packaged file, or what fetching the official files downloads (about)
    state: str  # what is on this machine
    description: str
    cost: float | None = None  # CPU time per song relative to htdemucs, measured
    sdr_db: float | None = None
    sdr_source: str = ""

    @property
    def speed(self) -> str:
        """A speed class from :attr:`cost`."""
        if self.cost is None:
            return "-"
        if self.cost <= 0.6:
            return "fast"
        return "medium" if self.cost <= 1.5 else "slow"


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
                path.stat().st_size / 1e6 if path.is_file() else 0.0,
                "packaged" if path.is_file() else "missing (reinstall stemboard)",
                packaged.description,
                sdr_source="none: trained on synthetic songs, for demonstrations",
            )
        )
    for name, record in BUNDLES.items():
        made = bundle_model_path(name)
        if made.is_file():
            state = "ready" + (" (+fp16)" if fp16_path_for(made).is_file() else "")
        elif all(
            checkpoint_path(file).is_file() or _is_file(mirror_path(file)) for file in record.files
        ):
            state = "weights downloaded, not bound"
        elif all(torch_hub_copy(file).is_file() for file in record.files):
            state = "torch.hub's copy found, not bound"
        else:
            state = "not fetched"
        entries.append(
            ModelEntry(
                name,
                record.architecture,
                architecture(record.architecture).sources,
                record.size_mb,
                state,
                record.description,
                record.cost,
                record.sdr_db,
                record.sdr_source,
            )
        )
    return entries


def _is_file(path: Path | None) -> bool:
    return path is not None and path.is_file()
