"""Presets as graphs: a checked :class:`Preset` becomes a :class:`StemGraph`, and back.

Two verbs, named after what they return: :func:`read_preset` gives the checked
:class:`Preset` (data), :func:`load_graph` the :class:`StemGraph` it describes, running on the
node its ``model:`` settings describe (with a caller's overrides). A graph built from a preset
keeps it as ``graph.preset`` so rendering knows which files to write; a graph built in Python
can be saved with :func:`graph_to_preset` + ``save_preset``. Every effect of a preset is built
exactly once, here (an external plugin is loaded once, and only when the caller allowed it).

Example::

    graph = load_graph("karaoke", model="demo")          # a shipped preset, on the demo model
    mix = graph(audio, 44100)
    preset = read_preset("karaoke")                      # the same preset, as data
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pedalboard

from stemboard.errors import GraphError, PresetError, PresetNotFoundError, did_you_mean
from stemboard.graph.effects import describe_chain, make_chain
from stemboard.graph.graph import StemGraph
from stemboard.graph.preset_model import (
    BusSettings,
    OutputSettings,
    Preset,
    StemSettings,
)
from stemboard.graph.preset_parse import check_preset_sources, load_preset_file
from stemboard.graph.strips import Bus, Channel
from stemboard.node import SeparatorNode
from stemboard.node.contracts import Separator
from stemboard.node.settings import NodeSettings
from stemboard.registry import known_sources

PRESETS_DIR = Path(__file__).resolve().parents[1] / "presets"

log = logging.getLogger(__name__)

OpenNode = Callable[[NodeSettings], Separator]
"""How a caller turns settings into a node: :meth:`SeparatorNode.from_settings` (the default),
:func:`stemboard.models.open_node` (which makes a known model's file first), a worker's cache."""


def build_graph(
    preset: Preset,
    *,
    separator: Separator | None = None,
    allow_external_plugins: bool = False,
) -> StemGraph:
    """The graph a preset describes, on ``separator`` (default: the node its ``model:``
    settings describe).

    The stem names are checked against the separator's own (a preset for a model whose stems
    are ``speech, music`` works with that model). Raises :class:`PresetError` naming the file.
    """
    if separator is None:
        separator = SeparatorNode.from_settings(preset.model)
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
    """A preset file: a path, or the name of a shipped preset (``karaoke``).

    A folder called like a shipped preset (``karaoke/``, an earlier output folder, say) does
    not hide it: the shipped preset is taken, and ``-v`` says so. A name that is neither says
    which shipped preset it is closest to.
    """
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or (path.exists() and not path.is_dir()):
        return path
    shipped = PRESETS_DIR / f"{path.name}.yaml" if path.name == os.fspath(name_or_path) else None
    if shipped is not None and shipped.is_file():
        if path.is_dir():
            log.info("%s: a folder of that name is here; using the shipped preset", path)
        return shipped
    if path.exists():
        return path  # a folder: reading it says so
    names = [p.stem for p in shipped_presets()]
    raise PresetNotFoundError(
        f"{name_or_path}: no such preset file or shipped preset "
        f"({did_you_mean(str(name_or_path), names)}shipped: {', '.join(names)})"
    )


def read_preset(
    name_or_path: str | os.PathLike,
    *,
    sources: tuple[str, ...] | None = None,
    check_stems: bool = True,
    allow_external_plugins: bool = False,
) -> Preset:
    """The checked :class:`Preset` in a file, or a shipped preset's (see :func:`find_preset`).

    ``sources`` are the stem names to check against (default: the registry's record of the
    preset's own model, when it is a known one; ``check_stems=False`` leaves them to the graph,
    for a preset run on another model). Raises :class:`PresetError` naming the file.
    """
    return load_preset_file(
        find_preset(name_or_path),
        sources=sources,
        allow_external=allow_external_plugins,
        check_stems=check_stems,
    )


def load_graph(
    preset: str | os.PathLike | Preset,
    *,
    model: str | os.PathLike | None = None,
    device: str | None = None,
    precision: str | None = None,
    shifts: int | None = None,
    seed: int | None = None,
    separator: Separator | None = None,
    open_node: OpenNode | None = None,
    allow_external_plugins: bool = False,
) -> StemGraph:
    """A preset's graph: a file, a shipped preset's name or a :class:`Preset` already read.

    Example::

        graph = stemboard.load_graph("karaoke", model="demo", precision="fp32")
        stemboard.render_file(graph, "song.wav", "out/")

    ``model``, ``device``, ``precision``, ``shifts`` and ``seed`` override the preset's
    ``model:`` settings (None keeps the preset's); ``graph.preset`` records the precision,
    shifts and seed that run (the model and device are the node's). ``separator`` gives a node
    already built instead; otherwise ``open_node`` makes one from the settings (default
    :meth:`SeparatorNode.from_settings`). The preset's stem names are checked against the
    model's; for a known model before the node is made, so that a preset the model cannot run
    (``guitar_lead`` on a four-stem model) is refused before anything is fetched or loaded.
    """
    if isinstance(preset, Preset):
        checked = preset
    else:
        # another model than the preset's own: its stem names are checked against that one's
        overridden = model is not None or separator is not None
        checked = read_preset(
            preset, check_stems=not overridden, allow_external_plugins=allow_external_plugins
        )
    settings = checked.model.overridden(precision=precision, shifts=shifts, seed=seed)
    checked = dataclasses.replace(checked, model=settings)
    if separator is None:
        node_settings = settings.overridden(model=model, device=device)
        known = known_sources(node_settings.name)
        if known is not None:  # refused before a model is fetched or loaded for nothing
            check_preset_sources(checked, known)
        opened = open_node or SeparatorNode.from_settings
        separator = opened(node_settings)
    return build_graph(checked, separator=separator, allow_external_plugins=allow_external_plugins)


load_preset = load_graph
"""The old name of :func:`load_graph` (it returns a graph, not a preset), kept for one
release."""


def _chain_specs(chain: Any, where: str) -> list[dict]:
    if chain is None:
        return []
    plugins = chain if isinstance(chain, pedalboard.Pedalboard) else [chain]
    try:
        return describe_chain(plugins)
    except PresetError as error:
        raise PresetError(f"{where}: {error}") from None


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
    asked: NodeSettings | None = getattr(graph.separator, "settings", None)
    if previous is not None:
        model_settings = previous.model
    elif asked is not None:
        model_settings = asked.portable()
    else:
        raise PresetError(
            "this graph's separator keeps no settings (a SeparatorNode does); give the graph a "
            "preset, or build it on a SeparatorNode"
        )
    if model is not None:
        model_settings = model_settings.overridden(model=model)
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
