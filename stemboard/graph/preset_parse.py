"""Presets, schema version 1: from a file's data to a checked :class:`Preset`, and back to a file.

The division of labour: this module checks the layout and the types (which keys, mappings or
lists, numbers or strings), then hands each value to the one that owns its rules — gain, pan,
tail, mute/solo and routing to the graph (:mod:`stemboard.graph.rules`), effect specs to the
effect registry (:mod:`stemboard.graph.effects`, which never loads native plugin code here),
formats to the audio writer, templates to :mod:`stemboard.templates`. So a preset accepts
exactly what a Python graph accepts.

Stem names depend on the model. They are checked here when the model's stems are known — given
as ``sources``, or from the registry's record of the preset's model — and otherwise when the
graph is built (:func:`stemboard.graph.presets.build_graph`), with the same messages.

Every error is one line that starts with the file name and the key path::

    presets/x.yaml: stems.vocal: unknown stem 'vocal' (did you mean vocals? the model has: ...)

Example::

    preset = load_preset_file("stemboard/presets/karaoke.yaml")   # a checked Preset
    save_preset(preset, "my_karaoke.yaml")                         # loads back equal
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from stemboard.audio.writing import SUPPORTED_FORMATS, check_clip_mode
from stemboard.choices import BIT_DEPTHS, CLIP_MODES
from stemboard.errors import GraphError, InvalidValueError, PresetError, did_you_mean, format_value
from stemboard.graph.effects import check_spec
from stemboard.graph.preset_model import (
    ALL,
    SCHEMA_VERSION,
    SESSION_CHAINS,
    SESSION_KINDS,
    VERSION_KEY,
    BusSettings,
    OutputSettings,
    Preset,
    StemSettings,
    preset_to_dict,
)
from stemboard.graph.preset_yaml import read_yaml, write_yaml
from stemboard.graph.rules import (
    check_gain_db,
    check_pan,
    check_stem_names,
    check_switch,
    check_tail_seconds,
    plan_routing,
)
from stemboard.node.settings import NodeSettings, SettingError, fp16_alias, settings_from
from stemboard.registry import known_sources
from stemboard.templates import check_template

_TOP_KEYS = (
    VERSION_KEY,
    "name",
    "description",
    "model",
    "stems",
    "buses",
    "master",
    "tail_seconds",
    "outputs",
)
_MODEL_KEYS = ("name", "device", "overlap", "batch_size", "precision", "shifts", "seed", "fp16")
_STEM_KEYS = ("chain", "gain_db", "pan", "mute", "solo")
_BUS_KEYS = ("inputs", "chain", "gain_db", "pan", "mute")
_OUTPUT_KEYS = (
    "mix",
    "stems",
    "buses",
    "format",
    "bit_depth",
    "template",
    "clip_mode",
    "sessions",
    "session_chains",
)


def _error(where: str, message: str) -> PresetError:
    return PresetError(f"{where}: {message}" if where else message)


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _mapping(value: Any, where: str, keys: Sequence[str]) -> dict:
    """``value`` as a mapping whose keys are all in ``keys`` (``None`` reads as empty)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _error(
            where, f"expected a mapping with keys {', '.join(keys)}, got {format_value(value)}"
        )
    for key in value:
        if key not in keys:
            raise _error(
                _join(where, str(key)),
                f"unknown key {format_value(key)} "
                f"({did_you_mean(str(key), keys)}valid keys: {', '.join(keys)})",
            )
    return value


def _names_mapping(value: Any, where: str, what: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _error(where, f"expected a mapping of {what}, got {format_value(value)}")
    for key in value:
        if not isinstance(key, str):
            raise _error(where, f"{what} must be strings, got {format_value(key)}")
    return value


def _number(value: Any, where: str, low: float, high: float, *, high_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _error(where, f"expected a number, got {format_value(value)}")
    inside = low <= value < high if high_open else low <= value <= high
    if not inside:  # NaN too; an integer beyond a float compares as it is
        interval = f"[{low:g}, {high:g}{')' if high_open else ']'}"
        raise _error(where, f"{format_value(value)} is out of range (expected {interval})")
    return float(value)


def _boolean(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise _error(where, f"expected true or false, got {format_value(value)}")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value or "\n" in value or "\0" in value:
        raise _error(where, f"expected a non-empty single-line string, got {format_value(value)}")
    return value


def _name_list(value: Any, where: str, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _error(where, f"expected a list of {what}, got {format_value(value)}")
    seen: set[str] = set()
    for index, item in enumerate(value):
        if item in seen:
            raise _error(f"{where}[{index}]", f"{item!r} is listed twice")
        seen.add(item)
    return list(value)


def _choice(value: Any, where: str, what: str, choices: Sequence[Any]) -> Any:
    if not any(type(value) is type(choice) and value == choice for choice in choices):
        known = ", ".join(str(choice) for choice in choices)
        raise _error(where, f"unknown {what} {format_value(value)} (expected one of: {known})")
    return value


def _chain(value: Any, where: str, allow_external: bool, base_dir: Path | None) -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _error(where, f"expected a list of effects, got {format_value(value)}")
    return [
        check_spec(spec, f"{where}[{index}]", allow_external=allow_external, base_dir=base_dir)
        for index, spec in enumerate(value)
    ]


def _check_version(data: dict) -> None:
    if VERSION_KEY not in data:
        raise PresetError(
            f"missing {VERSION_KEY!r}: a preset starts with '{VERSION_KEY}: {SCHEMA_VERSION}' "
            "(the schema version)"
        )
    version = data[VERSION_KEY]
    if isinstance(version, bool) or not isinstance(version, int):
        raise _error(
            VERSION_KEY, f"expected an integer schema version, got {format_value(version)}"
        )
    if version > SCHEMA_VERSION:
        raise _error(
            VERSION_KEY,
            f"version {version} is newer than this stemboard reads ({SCHEMA_VERSION}); "
            "upgrade stemboard",
        )
    if version < 1:
        raise _error(
            VERSION_KEY, f"unsupported version {version} (this stemboard reads {SCHEMA_VERSION})"
        )


def _integer(value: Any, where: str, low: int, high: int | None = None) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < low
        or (high is not None and value > high)
    ):
        expected = f"from {low} to {high}" if high is not None else f">= {low}"
        raise _error(where, f"expected an integer {expected}, got {format_value(value)}")
    return value


def _model(value: Any) -> NodeSettings:
    """``model:``, checked by the node's own settings (:mod:`stemboard.node.settings`); the
    old ``fp16: true`` reads as ``precision: fp16``."""
    fields = dict(_mapping(value, "model", _MODEL_KEYS))
    try:
        if "fp16" in fields:
            fields["precision"] = fp16_alias(
                fields.get("precision"),
                fields.pop("fp16"),
                alias=f"fp16: {format_value(value.get('fp16'))}",
                spell="precision: {}",
                where="model.fp16",
            )
            if fields["precision"] is None:
                del fields["precision"]
        return settings_from(fields, "model.")
    except SettingError as error:
        raise PresetError(str(error)) from None


def _strip_levels(fields: dict, where: str, switches: Sequence[str]) -> dict[str, Any]:
    """gain_db, pan and the switches of a stem or bus, checked by the graph's rules."""
    levels: dict[str, Any] = {
        "gain_db": check_gain_db(fields.get("gain_db", 0.0), f"{where}.gain_db"),
        "pan": check_pan(fields.get("pan", 0.0), f"{where}.pan"),
    }
    for switch in switches:
        levels[switch] = check_switch(fields.get(switch, False), f"{where}.{switch}")
    return levels


def _stems(value: Any, **chain_options: Any) -> dict[str, StemSettings]:
    stems = {}
    for stem, settings in _names_mapping(value, "stems", "stem names").items():
        where = f"stems.{stem}"
        fields = _mapping(settings, where, _STEM_KEYS)
        stems[stem] = StemSettings(
            chain=_chain(fields.get("chain"), f"{where}.chain", **chain_options),
            **_strip_levels(fields, where, ("mute", "solo")),
        )
    return stems


def _buses(value: Any, **chain_options: Any) -> dict[str, BusSettings]:
    buses: dict[str, BusSettings] = {}
    for bus, settings in _names_mapping(value, "buses", "bus names").items():
        where = f"buses.{bus}"
        fields = _mapping(settings, where, _BUS_KEYS)
        if "inputs" not in fields:
            raise _error(where, "missing key 'inputs' (the stems and buses this bus mixes)")
        inputs = fields["inputs"]
        if not isinstance(inputs, list) or not all(isinstance(item, str) for item in inputs):
            raise _error(
                f"{where}.inputs",
                f"expected a list of stem and bus names, got {format_value(inputs)}",
            )
        buses[bus] = BusSettings(
            inputs=list(inputs),
            chain=_chain(fields.get("chain"), f"{where}.chain", **chain_options),
            **_strip_levels(fields, where, ("mute",)),
        )
    return buses


def _outputs(value: Any, buses: Mapping[str, BusSettings]) -> OutputSettings:
    fields = _mapping(value, "outputs", _OUTPUT_KEYS)
    defaults = OutputSettings()
    stems = fields.get("stems", defaults.stems)
    if stems != ALL:
        stems = _name_list(stems, "outputs.stems", f"stem names or '{ALL}'")
    bus_names = _name_list(fields.get("buses", defaults.buses), "outputs.buses", "bus names")
    for index, bus in enumerate(bus_names):
        if bus not in buses:
            known = ", ".join(buses) or "none"
            raise _error(f"outputs.buses[{index}]", f"unknown bus {bus!r} (buses: {known})")
    clip_mode = _choice(
        fields.get("clip_mode", defaults.clip_mode), "outputs.clip_mode", "clip mode", CLIP_MODES
    )
    outputs = OutputSettings(
        mix=_boolean(fields.get("mix", defaults.mix), "outputs.mix"),
        stems=stems,
        buses=bus_names,
        format=_choice(
            fields.get("format", defaults.format), "outputs.format", "format", SUPPORTED_FORMATS
        ),
        bit_depth=_choice(
            fields.get("bit_depth", defaults.bit_depth),
            "outputs.bit_depth",
            "bit depth",
            BIT_DEPTHS,
        ),
        template=fields.get("template", defaults.template),
        clip_mode=check_clip_mode(clip_mode),
        sessions=_sessions(fields.get("sessions", defaults.sessions)),
        session_chains=_choice(
            fields.get("session_chains", defaults.session_chains),
            "outputs.session_chains",
            "session chains",
            SESSION_CHAINS,
        ),
    )
    if not (outputs.mix or outputs.stems or outputs.buses or outputs.sessions):
        raise _error("outputs", "nothing to write: set mix: true, or list stems, buses or sessions")
    return outputs


def _sessions(value: Any) -> list[str]:
    kinds = _name_list(value, "outputs.sessions", f"session kinds ({', '.join(SESSION_KINDS)})")
    for index, kind in enumerate(kinds):
        if kind not in SESSION_KINDS:
            raise _error(
                f"outputs.sessions[{index}]",
                f"unknown session kind {kind!r} (choose from: {', '.join(SESSION_KINDS)})",
            )
    return kinds


def _name(value: Any) -> str:
    name = _text(value, "name")
    if "/" in name or "\\" in name or name in (".", ".."):
        raise _error("name", f"{name!r} must be usable as a file name (no / or \\)")
    return name


def check_preset_sources(preset: Preset, sources: Sequence[str]) -> None:
    """The checks that need the model's stem names: ``stems``, bus inputs, ``outputs.stems``
    and the template's file count. Raises :class:`PresetError` naming the preset's file."""
    try:
        _check_sources(preset, tuple(sources))
    except (PresetError, InvalidValueError) as error:
        prefix = f"{preset.origin}: " if preset.origin else ""
        raise PresetError(f"{prefix}{error}") from None


def _check_sources(preset: Preset, sources: tuple[str, ...]) -> None:
    check_stem_names(list(preset.stems), sources, "stems")
    plan_routing({name: bus.inputs for name, bus in preset.buses.items()}, sources)
    if preset.outputs.stems != ALL:
        for index, stem in enumerate(preset.outputs.stems):
            if stem not in sources:
                try:
                    check_stem_names([stem], sources, "")
                except GraphError as error:
                    raise _error(f"outputs.stems[{index}]", error.problem) from None
    _check_template(preset.outputs, len(preset.outputs.file_names(sources)))


def _check_template(outputs: OutputSettings, files: int | None) -> None:
    try:
        check_template(outputs.template, outputs.format, files)
    except InvalidValueError as error:
        raise _error("outputs.template", str(error)) from None


def _parse(
    data: Any,
    source: str,
    sources: Sequence[str] | None,
    allow_external: bool,
    base_dir: Path | None,
    check_stems: bool,
) -> Preset:
    if data is None:
        raise PresetError(f"the file is empty (a preset starts with '{VERSION_KEY}: 1')")
    if not isinstance(data, dict):
        raise PresetError(
            f"expected a mapping of preset keys ({VERSION_KEY}, name, ...), "
            f"got {format_value(data)}"
        )
    _check_version(data)
    data = _mapping(data, "", _TOP_KEYS)
    chain_options = {"allow_external": allow_external, "base_dir": base_dir}
    # In the order of the file layout, so that the first problem is reported first.
    name = _name(data["name"]) if "name" in data else Path(source).stem
    description = data.get("description")
    if description not in (None, ""):
        description = _text(description, "description")
    model = _model(data.get("model"))
    stems = _stems(data.get("stems"), **chain_options)
    buses = _buses(data.get("buses"), **chain_options)
    plan_routing({bus: settings.inputs for bus, settings in buses.items()}, None)
    master = _chain(data.get("master"), "master", **chain_options)
    tail = check_tail_seconds(data.get("tail_seconds", 0.0))
    outputs = _outputs(data.get("outputs"), buses)
    preset = Preset(
        name=name,
        description=description or "",
        model=model,
        stems=stems,
        buses=buses,
        master=master,
        tail_seconds=tail,
        outputs=outputs,
        origin=source,
    )
    if sources is None and check_stems:
        sources = known_sources(model.name)
    if sources is not None:
        _check_sources(preset, tuple(sources))
    else:
        _check_template(outputs, None if outputs.stems == ALL else len(outputs.file_names(())))
    return preset


def parse_preset(
    data: Any,
    source: str,
    *,
    sources: Sequence[str] | None = None,
    allow_external: bool = False,
    base_dir: str | os.PathLike | None = None,
    check_stems: bool = True,
) -> Preset:
    """Check preset data (what ``yaml.safe_load`` returns) and return the :class:`Preset`.

    ``source`` (the file name) starts every error message. ``sources`` are the model's stem
    names; without them the registry's record of the preset's model gives them when it is a
    known name, and otherwise (or with ``check_stems=False``, for a preset used with another
    model than its own) the stem names are checked when the graph is built. External
    plugins are refused unless ``allow_external`` (and never loaded here); their paths are
    relative to ``base_dir``. Raises :class:`PresetError`.
    """
    base = Path(base_dir) if base_dir is not None else None
    try:
        return _parse(data, source, sources, allow_external, base, check_stems)
    except (PresetError, GraphError) as error:
        raise PresetError(f"{source}: {error}") from None


def load_preset_file(
    path: str | os.PathLike,
    *,
    sources: Sequence[str] | None = None,
    allow_external: bool = False,
    check_stems: bool = True,
) -> Preset:
    """Read and check a preset file (``yaml.safe_load`` rules, and no key given twice).

    ``name`` defaults to the file's stem; external plugin paths are relative to the file's
    folder. ``sources`` and ``check_stems`` as in :func:`parse_preset`. Raises
    :class:`PresetError` with a one-line message that starts with ``path``.
    """
    path = Path(path)
    return parse_preset(
        read_yaml(path),
        str(path),
        sources=sources,
        allow_external=allow_external,
        base_dir=path.parent,
        check_stems=check_stems,
    )


def save_preset(preset: Preset, path: str | os.PathLike) -> Path:
    """Write ``preset`` as a YAML preset file with a comment header, atomically; the path."""
    path = Path(path)
    title = " — ".join(part for part in (preset.name, preset.description) if part)
    header = f"# stemboard preset: {' '.join(title.split())}\n"
    return write_yaml(preset_to_dict(preset), path, header)
