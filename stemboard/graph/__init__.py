"""Mixer graphs: separator -> per-stem chains -> buses -> master, and preset files.

- :mod:`stemboard.graph.rules`: the rules every graph setting follows.
- :mod:`stemboard.graph.strips`: :class:`Channel` and :class:`Bus`, settings that can change.
- :mod:`stemboard.graph.graph`: :class:`StemGraph` and its planar stream.
- :mod:`stemboard.graph.effects`: the effect registry (pedalboard's effects by name).
- :mod:`stemboard.graph.preset_model`, :mod:`~stemboard.graph.preset_yaml`,
  :mod:`~stemboard.graph.preset_parse`: what a preset holds, its YAML, and its checks.
- :mod:`stemboard.graph.presets`: presets as graphs and back; the shipped presets.

Names are imported on first use.
"""

from stemboard.lazy import lazy_exports

__all__ = [
    "PRESETS_DIR",
    "Bus",
    "Channel",
    "Preset",
    "StemGraph",
    "build_graph",
    "find_preset",
    "graph_to_preset",
    "load_graph",
    "load_preset",
    "load_preset_file",
    "read_preset",
    "save_preset",
    "shipped_presets",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "Bus": "stemboard.graph.strips",
        "Channel": "stemboard.graph.strips",
        "StemGraph": "stemboard.graph.graph",
        "Preset": "stemboard.graph.preset_model",
        "load_preset_file": "stemboard.graph.preset_parse",
        "save_preset": "stemboard.graph.preset_parse",
        "PRESETS_DIR": "stemboard.graph.presets",
        "build_graph": "stemboard.graph.presets",
        "find_preset": "stemboard.graph.presets",
        "graph_to_preset": "stemboard.graph.presets",
        "load_graph": "stemboard.graph.presets",
        "load_preset": "stemboard.graph.presets",
        "read_preset": "stemboard.graph.presets",
        "shipped_presets": "stemboard.graph.presets",
    },
)
