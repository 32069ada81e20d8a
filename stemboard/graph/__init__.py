"""Mixer graphs: separator -> per-stem chains -> buses -> master, and preset files."""

from stemboard.graph.graph import Bus, Channel, StemGraph
from stemboard.graph.preset_schema import Preset, PresetError, load_preset_file, save_preset
from stemboard.graph.presets import (
    PRESETS_DIR,
    build_graph,
    find_preset,
    graph_to_preset,
    load_preset,
    render_file,
)

__all__ = [
    "PRESETS_DIR",
    "Bus",
    "Channel",
    "Preset",
    "PresetError",
    "StemGraph",
    "build_graph",
    "find_preset",
    "graph_to_preset",
    "load_preset",
    "load_preset_file",
    "render_file",
    "save_preset",
]
