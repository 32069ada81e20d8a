"""What a preset holds, as plain dataclasses: the model, strips, buses, master, tail, outputs.

A :class:`Preset` is data only: effect chains are lists of specs (mappings, see
:mod:`stemboard.graph.effects`), not plugins. :mod:`stemboard.graph.preset_parse` makes one from
a file's data and checks it; :func:`stemboard.graph.presets.build_graph` turns one into a
:class:`~stemboard.graph.graph.StemGraph`; :func:`preset_to_dict` gives the file layout back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from stemboard.choices import DEFAULT_CLIP_MODE
from stemboard.graph.rules import MIX
from stemboard.node.settings import NodeSettings
from stemboard.templates import DEFAULT_TEMPLATE

SCHEMA_VERSION = 1
VERSION_KEY = "stemboard_preset"
ALL = "all"
"""``outputs.stems: all`` writes every stem the model has."""
SESSION_KINDS = ("dawproject", "rpp")
"""The DAW sessions a render can write: DAWproject (Bitwig, Studio One, Cubase, ...) and
REAPER's ``.rpp`` (see :mod:`stemboard.sessions`)."""
SESSION_CHAINS = ("printed", "dry")
"""How a session carries the chains: rendered into the audio, or left to the DAW."""
LATER_OUTPUT_KEYS = ("sessions", "session_chains")
"""``outputs:`` keys a file holds only when they are not at their default."""
LATER_MODEL_KEYS = ("precision", "shifts", "seed")
"""``model:`` keys a file holds only when they are not at their default, so that a preset
that does not use them reads as it did before they existed."""


ModelSettings = NodeSettings
"""The old name of :class:`~stemboard.node.settings.NodeSettings` (a preset's ``model:``),
kept for one release."""


@dataclass
class StemSettings:
    """One stem's strip: its effect chain (a list of specs), then gain, pan, mute and solo."""

    chain: list[dict] = field(default_factory=list)
    gain_db: float = 0.0
    pan: float = 0.0
    mute: bool = False
    solo: bool = False


@dataclass
class BusSettings:
    """A bus: the sum of its inputs (stems and buses), then its chain, gain, pan and mute."""

    inputs: list[str]
    chain: list[dict] = field(default_factory=list)
    gain_db: float = 0.0
    pan: float = 0.0
    mute: bool = False


@dataclass
class OutputSettings:
    """The files a render writes: the mix, stems (a list or ``"all"``), buses, and their format;
    and the DAW sessions (``sessions``, each a :data:`SESSION_KINDS`) with their chains
    (``session_chains``, one of :data:`SESSION_CHAINS`)."""

    mix: bool = True
    stems: list[str] | str = field(default_factory=list)
    buses: list[str] = field(default_factory=list)
    format: str = "wav"
    bit_depth: int = 24
    template: str = DEFAULT_TEMPLATE
    clip_mode: str = DEFAULT_CLIP_MODE
    sessions: list[str] = field(default_factory=list)
    session_chains: str = SESSION_CHAINS[0]

    def file_names(self, sources: Sequence[str]) -> list[str]:
        """The ``{name}`` of every file written: ``"mix"``, then stems, then buses."""
        stems = list(sources) if self.stems == ALL else list(self.stems)
        return [MIX] * self.mix + stems + list(self.buses)


@dataclass
class Preset:
    """A validated preset; effect chains are lists of specs (see :mod:`stemboard.graph.effects`).

    ``origin`` (the file it came from, for messages) does not take part in equality.
    """

    name: str
    description: str = ""
    model: NodeSettings = field(default_factory=NodeSettings)
    stems: dict[str, StemSettings] = field(default_factory=dict)
    buses: dict[str, BusSettings] = field(default_factory=dict)
    master: list[dict] = field(default_factory=list)
    tail_seconds: float = 0.0
    outputs: OutputSettings = field(default_factory=OutputSettings)
    origin: str = field(default="", compare=False, repr=False)


def _changed(settings: Any) -> dict:
    """A settings dataclass as a dict, leaving out the fields that hold their default."""
    values, changed = dataclasses.asdict(settings), {}
    for item in dataclasses.fields(settings):
        value = getattr(settings, item.name)
        if item.default is not dataclasses.MISSING:
            default = item.default
        elif item.default_factory is not dataclasses.MISSING:
            default = item.default_factory()
        else:
            default = dataclasses.MISSING
        if value != default:
            changed[item.name] = values[item.name]
    return changed


def preset_to_dict(preset: Preset) -> dict:
    """The preset as plain data in the file layout (what ``parse_preset`` reads back)."""
    data: dict[str, Any] = {VERSION_KEY: SCHEMA_VERSION, "name": preset.name}
    if preset.description:
        data["description"] = preset.description
    model = dataclasses.asdict(preset.model)
    later = _changed(preset.model)
    data["model"] = {
        key: value for key, value in model.items() if key not in LATER_MODEL_KEYS or key in later
    }
    if preset.stems:
        data["stems"] = {stem: _changed(settings) for stem, settings in preset.stems.items()}
    if preset.buses:
        data["buses"] = {bus: _changed(settings) for bus, settings in preset.buses.items()}
    if preset.master:
        data["master"] = [dict(spec) for spec in preset.master]
    if preset.tail_seconds:
        data["tail_seconds"] = preset.tail_seconds
    outputs = dataclasses.asdict(preset.outputs)
    later = _changed(preset.outputs)
    data["outputs"] = {
        key: value for key, value in outputs.items() if key not in LATER_OUTPUT_KEYS or key in later
    }
    return data
