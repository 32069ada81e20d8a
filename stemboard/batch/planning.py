"""Planning a batch: everything that can be checked before any track runs, and what each track
depends on.

:func:`plan_batch` reads as its steps: check the options and the output folder (writable, not
held by another run, its ledger usable), find the tracks, read their presets (as data; the
stems they and ``stems`` name are checked against a known model's before its files are made),
make the model files (made on first use, the fp16 variant when a track asks for it), and plan
every track's files from the model's stem names with :func:`~stemboard.batch.work.planned_outputs`
— checked to stay inside the output folder, links resolved, and to be written by one track
only — with the hash of what they depend on for the ledger. No model is loaded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stemboard.audio.reading import display
from stemboard.batch.inputs import Item, find_tracks
from stemboard.batch.ledger import Ledger
from stemboard.batch.machine import default_workers, threads_per_worker
from stemboard.batch.options import BatchOptions
from stemboard.batch.ray_engine import import_ray
from stemboard.batch.work import Task, Work, planned_outputs
from stemboard.digest import sha256_file
from stemboard.errors import InvalidValueError
from stemboard.graph.preset_model import (
    LATER_MODEL_KEYS,
    OutputSettings,
    Preset,
    preset_to_dict,
)
from stemboard.graph.preset_parse import check_preset_sources
from stemboard.graph.presets import read_preset
from stemboard.model_format import ModelInfo, read_file_metadata
from stemboard.models import ensure_model
from stemboard.node.settings import DEFAULT_MODEL, NodeSettings
from stemboard.registry import known_sources
from stemboard.render import OutputClaims, OutputPlan, check_destination
from stemboard.templates import check_inside


@dataclass(frozen=True)
class PlannedTrack:
    """A track of the plan: its item, its ledger key (the absolute path), what its files depend
    on, the files, and the task a worker gets."""

    item: Item
    input: str
    model_sha256: str
    options_sha256: str
    targets: tuple[Path, ...]
    task: Task


@dataclass(frozen=True)
class BatchPlan:
    """Everything :func:`~stemboard.batch.runner.execute` needs; made by :func:`plan_batch`."""

    out_dir: Path
    options: BatchOptions
    work: Work
    tracks: tuple[PlannedTrack, ...]
    workers: int

    @property
    def engine(self) -> str:
        return self.options.engine

    @property
    def gpus_per_worker(self) -> float:
        """Ray's GPUs per actor: as given, else a whole GPU with ``--device cuda``."""
        given = self.options.gpus_per_worker
        return float(self.options.node.device == "cuda") if given is None else float(given)


def plan_batch(
    inputs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    options: BatchOptions | None = None,
    *,
    log: Callable[[str], None] = print,
    **keywords: Any,
) -> BatchPlan:
    """Check everything and plan the batch (see the module); raises ``StemboardError``.

    The options are a :class:`~stemboard.batch.options.BatchOptions`, or its fields as keywords:
    ``preset`` or ``stems``, ``model``, ``device``, ``precision``, ``shifts``, ``seed``,
    ``format``, ``bit_depth``, ``clip_mode``, ``sessions``, ``session_chains``, ``engine``,
    ``address``, ``workers``, ``gpus_per_worker``, ``retries``, ``overwrite``,
    ``allow_external_plugins``. Every track, manifest presets included, runs on the one model
    (default the preset's, else ``hdemucs_high_musdb_plus``).
    """
    options = _options(options, keywords)
    if options.engine == "ray":
        import_ray()  # a missing Ray is said now, in one line
    out_dir = Path(out_dir)
    check_destination(out_dir)
    Ledger.check(out_dir)
    batch_preset = _read(options, options.preset)
    items = find_tracks(inputs)
    if not items:
        raise InvalidValueError("no tracks to render: the inputs name no audio file")
    presets = {
        name: batch_preset if name == options.preset else _read(options, name)
        for name in _preset_names(items, options)
    }
    model = options.model or (batch_preset.model.name if batch_preset else DEFAULT_MODEL)
    known = known_sources(model)
    if known is not None:  # stems the model lacks are refused before it is fetched
        for preset in presets.values():
            check_preset_sources(preset, known)
        if options.wanted_stems is not None:
            OutputPlan.of_stems(known, options.wanted_stems)
    model_file = _make_model_files(model, options, presets.values(), items, log)
    info = ModelInfo.from_metadata(read_file_metadata(model_file), str(model_file))
    for preset in presets.values():
        check_preset_sources(preset, info.sources)
    workers = options.workers or default_workers(options.node.device)
    work = Work(
        str(model_file),
        options.node,
        options.files,
        options.preset,
        options.wanted_stems,
        threads_per_worker(options.engine, workers),
        options.allow_external_plugins,
    )
    tracks = _plan_tracks(items, work, presets, info.sources, sha256_file(model_file), out_dir)
    return BatchPlan(out_dir, options, work, tracks, workers)


def _options(options: BatchOptions | None, keywords: dict[str, Any]) -> BatchOptions:
    if options is not None and keywords:
        raise TypeError("give the options as a BatchOptions or as keywords, not both")
    return options if options is not None else BatchOptions.of(**keywords)


def _read(options: BatchOptions, name: str | None) -> Preset | None:
    """A preset as data (its stems are checked once the model is known)."""
    if name is None:
        return None
    return read_preset(
        name, check_stems=False, allow_external_plugins=options.allow_external_plugins
    )


def _preset_names(items: Iterable[Item], options: BatchOptions) -> list[str]:
    """The presets the tracks render through (a manifest's, or the batch's), each once."""
    names = (item.preset or options.preset for item in items)
    return list(dict.fromkeys(name for name in names if name is not None))


def _node_settings(
    options: BatchOptions, presets: Iterable[Preset], items: Sequence[Item]
) -> list[NodeSettings]:
    """The node settings the tracks run with: each preset's, and a separation's."""
    settings = [options.node.applied(preset.model) for preset in presets]
    if any(item.preset is None for item in items) and options.preset is None:
        settings.append(options.node.applied())
    return settings


def _make_model_files(
    model: str,
    options: BatchOptions,
    presets: Iterable[Preset],
    items: Sequence[Item],
    log: Callable[[str], None],
) -> Path:
    """The model's file, made on first use, and its fp16 variant beside it when a track
    runs in fp16 (a known bundle's is exported with it; a file without one is refused)."""
    model_file = ensure_model(model, log=log)
    if any(settings.fp16 for settings in _node_settings(options, presets, items)):
        ensure_model(model, fp16=True, log=log)
    return model_file


def _plan_tracks(
    items: Sequence[Item],
    work: Work,
    presets: dict[str, Preset],
    sources: tuple[str, ...],
    model_sha256: str,
    out_dir: Path,
) -> tuple[PlannedTrack, ...]:
    """Each track's files, checked to stay inside ``out_dir`` and to be nobody else's."""
    claims = OutputClaims("give one an 'output' folder in a manifest")
    tracks = []
    for item in items:
        preset = presets.get(item.preset or work.preset)
        outputs = planned_outputs(work, preset, sources)
        targets = outputs.targets(item.input, out_dir / item.folder)
        for target in targets.values():
            check_inside(out_dir, target, display(target))
        claims.claim(item.input, targets.values())
        task = Task(
            str(item.input),
            tuple((str(name), str(path)) for name, path in targets.items()),
            str(out_dir),
            item.preset,
        )
        options_sha256 = options_hash(work, preset, outputs)
        tracks.append(
            PlannedTrack(
                item, item.key, model_sha256, options_sha256, tuple(targets.values()), task
            )
        )
    return tuple(tracks)


LEDGER_DEFAULT_NAME = "hdemucs_high_musdb_plus"
"""The model name a render's hash records for the default model: the default of the releases
whose ledgers it must match (before `htdemucs` became the default). Which model ran is in the
ledger as its file's sha256, so the name only keeps those hashes."""


def options_hash(work: Work, preset: Preset | None, outputs: OutputPlan) -> str:
    """What a track's files depend on besides the input and the model, as a sha256.

    A render's is its preset, with the precision, shifts and seed that run; a separation's
    has them where they are not the defaults. Ledgers written by earlier releases hold the
    same hashes for the same options, so a run after an upgrade skips what they have done.

    Which DAW sessions a track writes is not in it: they are files like the others, so a
    session kind asked for later is a file missing from a track that is done, and only it is
    made (see :class:`~stemboard.batch.run_state.RunState`). How the sessions carry the
    chains is, when it is not the default (``dry`` sessions hold other audio).
    """
    if preset is None:
        settings, defaults = work.node.applied(), NodeSettings()
        described: dict = {"separate": list(outputs.names), "overlap": settings.overlap}
        for key in LATER_MODEL_KEYS:
            if getattr(settings, key) != getattr(defaults, key):
                described[key] = getattr(settings, key)
    else:
        files = dataclasses.replace(
            preset.outputs, sessions=[], session_chains=OutputSettings().session_chains
        )
        model = work.node.applied(preset.model)
        if model.name == DEFAULT_MODEL:  # the model itself is told by its file's sha256
            model = dataclasses.replace(model, name=LEDGER_DEFAULT_NAME)
        runs = dataclasses.replace(preset, model=model, outputs=files)
        described = {
            "render": preset_to_dict(runs),
            "files": list(outputs.names),
            "overlap": runs.model.overlap,
        }
        if outputs.sessions and outputs.session_chains != files.session_chains:
            described["session_chains"] = outputs.session_chains
    described.update(format=dataclasses.asdict(outputs.format))
    text = json.dumps(described, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()
