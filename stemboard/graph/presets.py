"""Presets as graphs: a validated :class:`Preset` becomes a :class:`StemGraph`, and back.

A graph built from a preset keeps it as ``graph.preset`` so rendering knows which files to
write; a graph built in Python can be saved with :func:`graph_to_preset` + ``save_preset``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pedalboard

from stemboard.graph.effects import describe_chain, make_chain
from stemboard.graph.graph import Bus, Channel, StemGraph
from stemboard.graph.preset_schema import (
    BusSettings,
    ModelSettings,
    OutputSettings,
    Preset,
    PresetError,
    StemSettings,
    load_preset_file,
)
from stemboard.graph.render import render_to_files
from stemboard.node import SeparatorNode

PRESETS_DIR = Path(__file__).resolve().parents[1] / "presets"


def build_graph(
    preset: Preset,
    *,
    model: str | os.PathLike | None = None,
    device: str | None = None,
    allow_external_plugins: bool = False,
    base_dir: Path | None = None,
) -> StemGraph:
    """The graph a preset describes; ``model`` / ``device`` override the preset's."""
    settings = preset.model
    separator = SeparatorNode(
        model if model is not None else settings.name,
        device=device or settings.device,
        overlap=settings.overlap,
        batch_size=settings.batch_size,
        fp16=settings.fp16,
    )
    options = {"allow_external": allow_external_plugins, "base_dir": base_dir}

    def chain(specs: list[dict], where: str) -> pedalboard.Pedalboard | None:
        return make_chain(specs, where, **options) if specs else None

    unknown = [name for name in preset.stems if name not in separator.sources]
    if unknown:
        raise PresetError(
            f"{preset.name}: stems.{unknown[0]}: unknown stem for model {settings.name!r} "
            f"(it has: {', '.join(separator.sources)})"
        )
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
    graph.preset = preset
    return graph


def find_preset(name_or_path: str | os.PathLike) -> Path:
    """A preset file: a path, or the name of a shipped preset (``karaoke``)."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return path
    shipped = PRESETS_DIR / f"{name_or_path}.yaml"
    if shipped.is_file():
        return shipped
    known = ", ".join(sorted(p.stem for p in PRESETS_DIR.glob("*.yaml")))
    raise PresetError(f"{name_or_path}: no such preset file or shipped preset (shipped: {known})")


def load_preset(
    path: str | os.PathLike,
    *,
    model: str | os.PathLike | None = None,
    device: str | None = None,
    allow_external_plugins: bool = False,
) -> StemGraph:
    """Read a preset file (or a shipped preset's name) and build its graph.

    Example::

        graph = stemboard.load_preset("karaoke", model="models/tiny.onnx")
        stemboard.render_file(graph, "song.wav", "out/")
    """
    path = find_preset(path)
    preset = load_preset_file(path, allow_external=allow_external_plugins)
    return build_graph(
        preset,
        model=model,
        device=device,
        allow_external_plugins=allow_external_plugins,
        base_dir=path.parent,
    )


def _chain_specs(chain, where: str) -> list[dict]:
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
    previous = getattr(graph, "preset", None)
    separator = graph.separator
    model_settings = ModelSettings(
        name=model or (previous.model.name if previous else str(separator.model_path)),
        device=separator.device if previous is None else previous.model.device,
        overlap=separator.overlap,
        fp16=previous.model.fp16 if previous else False,
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


def render_file(
    graph_or_preset: StemGraph | str | os.PathLike,
    path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    overwrite: bool = False,
    model: str | os.PathLike | None = None,
    device: str | None = None,
    allow_external_plugins: bool = False,
    progress: Callable[[float], None] | None = None,
) -> dict[str, Path]:
    """Render an audio file through a graph or a preset into the files its outputs name.

    Example::

        stemboard.render_file("karaoke", "song.wav", "out/")

    A graph without a preset writes its mix as ``out/<track>/mix.wav``.
    """
    graph = (
        graph_or_preset
        if isinstance(graph_or_preset, StemGraph)
        else load_preset(
            graph_or_preset,
            model=model,
            device=device,
            allow_external_plugins=allow_external_plugins,
        )
    )
    preset = getattr(graph, "preset", None)
    outputs = preset.outputs if preset else OutputSettings()
    names = outputs.file_names(graph.sources)
    stems = [n for n in names if n in graph.sources]
    buses = [n for n in names if n in graph.buses]
    return render_to_files(
        graph,
        path,
        out_dir,
        mix="mix" in names,
        stems=stems,
        buses=buses,
        format=outputs.format,
        bit_depth=outputs.bit_depth,
        template=outputs.template,
        preset=preset.name if preset else "",
        overwrite=overwrite,
        progress=progress,
    )
