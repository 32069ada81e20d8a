"""Presets as graphs: a checked :class:`Preset` becomes a :class:`StemGraph`, and back.

A graph built from a preset keeps it as ``graph.preset`` so rendering knows which files to
write; a graph built in Python can be saved with :func:`graph_to_preset` + ``save_preset``.
Every effect of a preset is built exactly once, here (an external plugin is loaded once, and
only when the caller allowed it).

Example::

    graph = load_preset("karaoke", model="demo")         # a shipped preset, on the demo model
    mix = graph(audio, 44100)
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pedalboard

from stemboard.errors import GraphError, PresetError, PresetNotFoundError
from stemboard.graph.effects import describe_chain, make_chain
from stemboard.graph.graph import StemGraph
from stemboard.graph.preset_model import (
    BusSettings,
    ModelSettings,
    OutputSettings,
    Preset,
    StemSettings,
)
from stemboard.graph.preset_parse import check_preset_sources, load_preset_file
from stemboard.graph.strips import Bus, Channel
from stemboard.node import SeparatorNode

PRESETS_DIR = Path(__file__).resolve().parents[1] / "presets"

log = logging.getLogger(__name__)


def build_graph(
    preset: Preset,
    *,
    model: str | os.PathLike | None = None,
    device: str | None = None,
    separator: Any = None,
    allow_external_plugins: bool = False,
) -> StemGraph:
    """The graph a preset describes; ``model`` / ``device`` override the preset's (the other
    model settings: :meth:`ModelSettings.overridden`), and ``separator`` (a node already
    built) replaces its model altogether.

    The stem names are checked against the model's own (a preset for a model whose stems are
    ``speech, music`` works with that model). Raises :class:`PresetError` naming the file.
    """
    settings = preset.model
    if separator is None:
        separator = SeparatorNode(
            model if model is not None else settings.name,
            device=device or settings.device,
            overlap=settings.overlap,
            batch_size=settings.batch_size,
            precision=settings.precision,
            shifts=settings.shifts,
            seed=settings.seed,
        )
        log.info("%s", separator.describe())
    check_preset_sources(preset, separator.sources)
    options = {"allow_external": allow_external_plugins}

    def chain(specs: list[dict], where: str) -> pedalboard.Pedalboard | None:
        return make_chain(specs, where, **options) if specs else None

    prefix = f"{preset.origin}: " if preset.origin else ""
    try:
        graph = StemGraph(
            separator,
            stems={
                name: Channel(
                    chain=chain(s.chain, f"stems.{name}.chain"),
                    gain_db=s.gain_db,
                    pan=s.pan,
                    mute=s.mute,
                    solo=s.solo,
                )
                for name, s in preset.stems.items()
            },
            buses={
                name: Bus(
                    inputs=list(b.inputs),
                    chain=chain(b.chain, f"buses.{name}.chain"),
                    gain_db=b.gain_db,
                    pan=b.pan,
                    mute=b.mute,
                )
                for name, b in preset.buses.items()
            },
            master=chain(preset.master, "master"),
            tail_seconds=preset.tail_seconds,
        )
    except (PresetError, GraphError) as error:
        raise PresetError(f"{prefix}{error}") from None
    graph.preset = preset
    return graph


def shipped_presets() -> list[Path]:
    """The preset files that ship with stemboard, by name."""
    return sorted(PRESETS_DIR.glob("*.yaml"))


def find_preset(name_or_path: str | os.PathLike) -> Path:
    """A preset file: a path, or the name of a shipped preset (``karaoke``)."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    shipped = PRESETS_DIR / f"{name_or_path}.yaml"
    if shipped.is_file():
        return shipped
    known = ", ".join(p.stem for p in shipped_presets())
    raise PresetNotFoundError(
        f"{name_or_path}: no such preset file or shipped preset (shipped: {known})"
    )


def load_preset(
    path: str | os.PathLike,
    *,
    model: str | os.PathLike | None = None,
    device: str | None = None,
    separator: Any = None,
    allow_external_plugins: bool = False,
) -> StemGraph:
    """Read a preset file (or a shipped preset's name) and build its graph.

    Example::

        graph = stemboard.load_preset("karaoke", model="demo")
        stemboard.render_file(graph, "song.wav", "out/")

    ``model`` / ``device`` override the preset's; ``separator`` gives a node already built.
    """
    path = find_preset(path)
    # Another model than the preset's own: its stem names are checked against that model's.
    overridden = model is not None or separator is not None
    preset = load_preset_file(
        path, allow_external=allow_external_plugins, check_stems=not overridden
    )
    return build_graph(
        preset,
        model=model,
        device=device,
        separator=separator,
        allow_external_plugins=allow_external_plugins,
    )


def _chain_specs(chain: Any, where: str) -> list[dict]:
    if chain is None:
        return []
    plugins = chain if isinstance(chain, pedalboard.Pedalboard) else [chain]
    try:
        return describe_chain(plugins)
    except PresetError as error:
        raise PresetError(f"{where}: {error}") from None


def _asked_precision(separator: Any) -> str:
    """The precision to ask for to run as ``separator`` does (a node keeps what runs, not what
    was asked): bf16 and fp16 as they are; fp32 as ``auto``, which gives fp32 wherever bf16
    is not native or not good enough for the model, and bf16 where it is."""
    return "auto" if separator.precision == "fp32" else separator.precision


def graph_to_preset(
    graph: StemGraph,
    name: str,
    *,
    description: str = "",
    model: str | None = None,
    outputs: OutputSettings | None = None,
) -> Preset:
    """The preset that rebuilds ``graph`` (its chains must be pedalboard plugins)."""
    previous: Preset | None = getattr(graph, "preset", None)
    separator = graph.separator
    # What the preset asked for where the graph came from one; a node keeps its shifts but
    # not their seed (0 otherwise, the node's default).
    model_settings = ModelSettings(
        name=model or (previous.model.name if previous else str(separator.model_path)),
        device=separator.device if previous is None else previous.model.device,
        overlap=separator.overlap,
        precision=previous.model.precision if previous else _asked_precision(separator),
        shifts=separator.shifts,
        seed=previous.model.seed if previous else 0,
    )
    stems = {
        stem: StemSettings(
            chain=_chain_specs(c.chain, f"stems.{stem}.chain"),
            gain_db=c.gain_db,
            pan=c.pan,
            mute=c.mute,
            solo=c.solo,
        )
        for stem, c in graph.channels.items()
        if c != Channel()
    }
    buses = {
        bus: BusSettings(
            inputs=list(b.inputs),
            chain=_chain_specs(b.chain, f"buses.{bus}.chain"),
            gain_db=b.gain_db,
            pan=b.pan,
            mute=b.mute,
        )
        for bus, b in graph.buses.items()
    }
    return Preset(
        name=name,
        description=description,
        model=model_settings,
        stems=stems,
        buses=buses,
        master=_chain_specs(graph.master, "master"),
        tail_seconds=graph.tail_seconds,
        outputs=outputs or (previous.outputs if previous else OutputSettings()),
    )
