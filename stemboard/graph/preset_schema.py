"""Preset files, schema version 1: reading, validating and writing them (see docs/presets.md).

A preset names a model, an effect chain with gain, pan, mute and solo per stem, buses that mix
stems and other buses, a master chain, and the files to write::

    preset = load_preset_file("stemboard/presets/karaoke.yaml")  # a validated Preset
    save_preset(preset, "my_karaoke.yaml")              # loads back equal

Files are read with ``yaml.safe_load`` only. Every error is one line that starts with the file
name and the key path: ``presets/x.yaml: stems.vocal: unknown stem 'vocal' (...)``.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath
from typing import Any

import yaml

from stemboard.errors import StemboardError
from stemboard.io import SUPPORTED_BIT_DEPTHS, SUPPORTED_FORMATS
from stemboard.node.session import DEVICES
from stemboard.registry import MUSDB_SOURCES

SCHEMA_VERSION = 1
VERSION_KEY = "stemboard_preset"
DEFAULT_SOURCES: tuple[str, ...] = MUSDB_SOURCES
DEFAULT_MODEL = "hdemucs_high_musdb_plus"
DEFAULT_TEMPLATE = "{track}/{name}.{ext}"
TEMPLATE_FIELDS = ("track", "name", "ext", "preset")
ALL = "all"
"""``outputs.stems: all`` writes every stem the model has."""
MIX = "mix"
"""The ``{name}`` of the mix file; no bus may be called this."""
GAIN_DB_RANGE = (-120.0, 24.0)
MAX_TAIL_SECONDS = 60.0

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
_MODEL_KEYS = ("name", "device", "overlap", "batch_size", "fp16")
_STEM_KEYS = ("chain", "gain_db", "pan", "mute", "solo")
_BUS_KEYS = ("inputs", "chain", "gain_db", "pan", "mute")
_OUTPUT_KEYS = ("mix", "stems", "buses", "format", "bit_depth", "template")
_BUS_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


class PresetError(StemboardError):
    """A preset that cannot be used; the message names the file, the key path and the problem."""


def format_value(value: Any) -> str:
    """A value as an error message shows it: YAML words for YAML things, short, one line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass
class ModelSettings:
    """The separator: a known model name or an ``.onnx`` path, and how ``SeparatorNode`` runs it."""

    name: str = DEFAULT_MODEL
    device: str = "auto"
    overlap: float = 0.25
    batch_size: int | None = None
    fp16: bool = False


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
    """The files a render writes: the mix, stems (a list or ``"all"``), buses, and their format."""

    mix: bool = True
    stems: list[str] | str = field(default_factory=list)
    buses: list[str] = field(default_factory=list)
    format: str = "wav"
    bit_depth: int = 24
    template: str = DEFAULT_TEMPLATE

    def file_names(self, sources: Sequence[str]) -> list[str]:
        """The ``{name}`` of every file written: ``"mix"``, then stems, then buses."""
        stems = list(sources) if self.stems == ALL else list(self.stems)
        return [MIX] * self.mix + stems + list(self.buses)


@dataclass
class Preset:
    """A validated preset; effect chains are lists of specs (see :mod:`stemboard.graph.effects`)."""

    name: str
    description: str = ""
    model: ModelSettings = field(default_factory=ModelSettings)
    stems: dict[str, StemSettings] = field(default_factory=dict)
    buses: dict[str, BusSettings] = field(default_factory=dict)
    master: list[dict] = field(default_factory=list)
    tail_seconds: float = 0.0
    outputs: OutputSettings = field(default_factory=OutputSettings)


def _error(where: str, message: str) -> PresetError:
    return PresetError(f"{where}: {message}" if where else message)


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f"did you mean {close[0]}? " if close else ""


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
                f"({_did_you_mean(str(key), keys)}valid keys: {', '.join(keys)})",
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
    if not math.isfinite(value) or value < low or (value >= high if high_open else value > high):
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
    # Imported here: effects imports PresetError from this module.
    from stemboard.graph.effects import check_spec

    if value is None:
        return []
    if not isinstance(value, list):
        raise _error(where, f"expected a list of effects, got {format_value(value)}")
    return [
        check_spec(spec, f"{where}[{index}]", allow_external=allow_external, base_dir=base_dir)
        for index, spec in enumerate(value)
    ]


def _gain(value: Any, where: str) -> float:
    return _number(value, where, *GAIN_DB_RANGE)


def _pan(value: Any, where: str) -> float:
    return _number(value, where, -1.0, 1.0)


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


def _model(value: Any) -> ModelSettings:
    fields = _mapping(value, "model", _MODEL_KEYS)
    defaults = ModelSettings()
    batch_size = fields.get("batch_size", defaults.batch_size)
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
    ):
        raise _error(
            "model.batch_size", f"expected null or an integer >= 1, got {format_value(batch_size)}"
        )
    return ModelSettings(
        name=_text(fields.get("name", defaults.name), "model.name"),
        device=_choice(fields.get("device", defaults.device), "model.device", "device", DEVICES),
        overlap=_number(
            fields.get("overlap", defaults.overlap), "model.overlap", 0, 1, high_open=True
        ),
        batch_size=batch_size,
        fp16=_boolean(fields.get("fp16", defaults.fp16), "model.fp16"),
    )


def _unknown_stem(stem: str, where: str, sources: Sequence[str]) -> PresetError:
    return _error(
        where,
        f"unknown stem {stem!r} "
        f"({_did_you_mean(stem, sources)}the model has: {', '.join(sources)})",
    )


def _stems(value: Any, sources: Sequence[str], **chain_options: Any) -> dict[str, StemSettings]:
    stems = {}
    for stem, settings in _names_mapping(value, "stems", "stem names").items():
        where = f"stems.{stem}"
        if stem not in sources:
            raise _unknown_stem(stem, where, sources)
        fields = _mapping(settings, where, _STEM_KEYS)
        stems[stem] = StemSettings(
            chain=_chain(fields.get("chain"), f"{where}.chain", **chain_options),
            gain_db=_gain(fields.get("gain_db", 0.0), f"{where}.gain_db"),
            pan=_pan(fields.get("pan", 0.0), f"{where}.pan"),
            mute=_boolean(fields.get("mute", False), f"{where}.mute"),
            solo=_boolean(fields.get("solo", False), f"{where}.solo"),
        )
    return stems


def _buses(value: Any, sources: Sequence[str], **chain_options: Any) -> dict[str, BusSettings]:
    items = _names_mapping(value, "buses", "bus names")
    for bus in items:
        where = f"buses.{bus}"
        if bus in sources:
            raise _error(
                where, f"bus name {bus!r} is also a stem name; call the bus something else"
            )
        if bus == MIX:
            raise _error(where, f"bus name {MIX!r} is reserved for the mix output file")
        if not _BUS_NAME.fullmatch(bus):
            raise _error(
                where,
                f"bus name {bus!r} must be letters, digits, _ or -, not starting with a digit",
            )
    buses: dict[str, BusSettings] = {}
    feeds: dict[str, str] = {}  # stem or bus -> the bus it feeds
    for bus, settings in items.items():
        where = f"buses.{bus}"
        fields = _mapping(settings, where, _BUS_KEYS)
        if "inputs" not in fields:
            raise _error(where, "missing key 'inputs' (the stems and buses this bus mixes)")
        inputs = _name_list(fields["inputs"], f"{where}.inputs", "stem and bus names")
        if not inputs:
            raise _error(f"{where}.inputs", "a bus needs at least one input")
        for index, name in enumerate(inputs):
            at = f"{where}.inputs[{index}]"
            if name not in sources and name not in items:
                raise _error(
                    at,
                    f"unknown input {name!r} ({_did_you_mean(name, [*sources, *items])}"
                    f"stems: {', '.join(sources)}; buses: {', '.join(items)})",
                )
            if name in feeds:
                raise _error(
                    at, f"{name!r} already feeds bus {feeds[name]!r} (a stem or bus feeds one bus)"
                )
            feeds[name] = bus
        buses[bus] = BusSettings(
            inputs=inputs,
            chain=_chain(fields.get("chain"), f"{where}.chain", **chain_options),
            gain_db=_gain(fields.get("gain_db", 0.0), f"{where}.gain_db"),
            pan=_pan(fields.get("pan", 0.0), f"{where}.pan"),
            mute=_boolean(fields.get("mute", False), f"{where}.mute"),
        )
    for bus in buses:
        path, following = [bus], feeds.get(bus)
        while following is not None and following not in path:
            path.append(following)
            following = feeds.get(following)
        if following is not None:
            cycle = [*path[path.index(following) :], following]
            raise _error(
                f"buses.{bus}.inputs",
                f"bus cycle {' -> '.join(cycle)}: a bus cannot feed itself, "
                "directly or through other buses",
            )
    return buses


def check_template(template: str, format: str, files: int, where: str = "outputs.template") -> None:
    """Raise :class:`PresetError` unless ``template`` is a safe file name template.

    Safe: only the fields {track}, {name}, {ext}, {preset}, no format specs; relative (no
    leading slash, no drive letter); no ``..``; ends with ``.{ext}`` or ``.<format>``; has
    ``{name}`` when ``files`` > 1 (or the files would overwrite each other).
    """
    if not isinstance(template, str) or not template:
        raise _error(where, f"expected a file name template, got {format_value(template)}")
    if any(ord(char) < 32 for char in template):
        raise _error(where, f"{format_value(template)} contains control characters")
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as error:
        raise _error(where, f"bad template {template!r}: {error}") from None
    fields = ", ".join(f"{{{name}}}" for name in TEMPLATE_FIELDS)
    used = set()
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in TEMPLATE_FIELDS:
            raise _error(where, f"unknown field {{{name}}} in {template!r} (fields: {fields})")
        if spec or conversion:
            raise _error(where, f"{{{name}}} takes no format spec or conversion in {template!r}")
        used.add(name)
    if PureWindowsPath(template).anchor:
        raise _error(
            where, f"{template!r} is an absolute path; it must be relative to the output directory"
        )
    if ".." in template:
        raise _error(where, f"{template!r} contains '..'; files stay inside the output directory")
    if not template.endswith((".{ext}", f".{format}")):
        raise _error(where, f"{template!r} must end with '.{{ext}}' (or '.{format}')")
    if files > 1 and "name" not in used:
        raise _error(
            where, f"{template!r} has no {{name}} but {files} files are written: they would collide"
        )


def output_path(out_dir: str | os.PathLike, template: str, **fields: Any) -> Path:
    """The file ``template`` names for ``fields``, resolved inside ``out_dir``.

    >>> output_path("out", "{track}/{name}.{ext}", track="song", name="vocals", ext="wav")
    PosixPath('/.../out/song/vocals.wav')

    Raises :class:`PresetError` when the result (symbolic links resolved) is not inside
    ``out_dir`` — whatever the field values are, e.g. ``track="../../etc"``.
    """
    try:
        relative = template.format(**{key: str(value) for key, value in fields.items()})
    except KeyError as error:
        raise PresetError(f"template {template!r} uses {{{error.args[0]}}}, not given") from None
    except (ValueError, IndexError, AttributeError) as error:
        raise PresetError(f"bad template {template!r}: {error}") from None

    def refuse(problem: str) -> PresetError:
        return PresetError(f"output file {relative!r} (template {template!r}) {problem}")

    if "\0" in relative:
        raise refuse("contains a NUL character")
    if PureWindowsPath(relative).anchor or Path(relative).is_absolute():
        raise refuse("is an absolute path")
    root = Path(out_dir).resolve()
    target = (root / relative).resolve()
    if target == root or not target.is_relative_to(root):
        raise refuse(f"is outside the output directory {root}")
    return target


def _outputs(
    value: Any, sources: Sequence[str], buses: Mapping[str, BusSettings]
) -> OutputSettings:
    fields = _mapping(value, "outputs", _OUTPUT_KEYS)
    defaults = OutputSettings()
    stems = fields.get("stems", defaults.stems)
    if stems != ALL:
        stems = _name_list(stems, "outputs.stems", f"stem names or '{ALL}'")
        for index, stem in enumerate(stems):
            if stem not in sources:
                raise _unknown_stem(stem, f"outputs.stems[{index}]", sources)
    bus_names = _name_list(fields.get("buses", defaults.buses), "outputs.buses", "bus names")
    for index, bus in enumerate(bus_names):
        if bus not in buses:
            known = ", ".join(buses) or "none"
            raise _error(f"outputs.buses[{index}]", f"unknown bus {bus!r} (buses: {known})")
    format = fields.get("format", defaults.format)
    bit_depth = fields.get("bit_depth", defaults.bit_depth)
    outputs = OutputSettings(
        mix=_boolean(fields.get("mix", defaults.mix), "outputs.mix"),
        stems=stems,
        buses=bus_names,
        format=_choice(format, "outputs.format", "format", SUPPORTED_FORMATS),
        bit_depth=_choice(bit_depth, "outputs.bit_depth", "bit depth", SUPPORTED_BIT_DEPTHS),
        template=fields.get("template", defaults.template),
    )
    files = len(outputs.file_names(sources))
    if files == 0:
        raise _error("outputs", "nothing to write: set mix: true, or list stems or buses")
    check_template(outputs.template, outputs.format, files)
    return outputs


def _name(value: Any) -> str:
    name = _text(value, "name")
    if "/" in name or "\\" in name or name in (".", ".."):
        raise _error("name", f"{name!r} must be usable as a file name (no / or \\)")
    return name


def _parse(
    data: Any,
    source: str,
    sources: Sequence[str],
    allow_external: bool,
    base_dir: Path | None,
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
    stems = _stems(data.get("stems"), sources, **chain_options)
    buses = _buses(data.get("buses"), sources, **chain_options)
    master = _chain(data.get("master"), "master", **chain_options)
    tail = _number(data.get("tail_seconds", 0.0), "tail_seconds", 0, MAX_TAIL_SECONDS)
    return Preset(
        name=name,
        description=description or "",
        model=model,
        stems=stems,
        buses=buses,
        master=master,
        tail_seconds=tail,
        outputs=_outputs(data.get("outputs"), sources, buses),
    )


def parse_preset(
    data: Any,
    source: str,
    *,
    sources: Sequence[str] | None = None,
    allow_external: bool = False,
    base_dir: str | os.PathLike | None = None,
) -> Preset:
    """Validate preset data (what ``yaml.safe_load`` returns) and return the :class:`Preset`.

    ``source`` (the file name) starts every error message; ``sources`` are the model's stem
    names (default: drums, bass, other, vocals). External plugins are refused unless
    ``allow_external``; their paths are relative to ``base_dir``. Raises :class:`PresetError`.
    """
    sources = tuple(sources) if sources is not None else DEFAULT_SOURCES
    base = Path(base_dir) if base_dir is not None else None
    try:
        return _parse(data, source, sources, allow_external, base)
    except PresetError as error:
        raise PresetError(f"{source}: {error}") from None


_TAG = re.compile(r"'(?:tag:yaml\.org,2002:)?([^']*)'")


def _yaml_problem(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    said = [getattr(error, "context", None), getattr(error, "problem", None)]
    problem = ", ".join(part for part in said if part) or str(error)
    tag = _TAG.search(problem)
    if "constructor for the tag" in problem and tag is not None:
        return (
            f"{where}YAML tag '!!{tag[1]}' is not allowed: presets hold plain data "
            "(mappings, lists, strings, numbers, booleans)"
        )
    return f"{where}invalid YAML: {' '.join(problem.split())}"


def load_preset_file(
    path: str | os.PathLike,
    *,
    sources: Sequence[str] | None = None,
    allow_external: bool = False,
) -> Preset:
    """Read, parse and validate a preset file (``yaml.safe_load`` only).

    ``name`` defaults to the file's stem; external plugin paths are relative to the file's
    folder. Raises :class:`PresetError` with a one-line message that starts with ``path``.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PresetError(f"{path}: no such preset file") from None
    except UnicodeDecodeError:
        raise PresetError(f"{path}: not a text file (presets are UTF-8 YAML)") from None
    except OSError as error:
        raise PresetError(f"{path}: cannot read it: {error.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise PresetError(f"{path}: {_yaml_problem(error)}") from None
    except RecursionError:
        raise PresetError(f"{path}: invalid YAML: nested too deeply") from None
    return parse_preset(
        data, str(path), sources=sources, allow_external=allow_external, base_dir=path.parent
    )


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
    data["model"] = dataclasses.asdict(preset.model)
    if preset.stems:
        data["stems"] = {stem: _changed(settings) for stem, settings in preset.stems.items()}
    if preset.buses:
        data["buses"] = {bus: _changed(settings) for bus, settings in preset.buses.items()}
    if preset.master:
        data["master"] = [dict(spec) for spec in preset.master]
    if preset.tail_seconds:
        data["tail_seconds"] = preset.tail_seconds
    data["outputs"] = dataclasses.asdict(preset.outputs)
    return data


def save_preset(preset: Preset, path: str | os.PathLike) -> Path:
    """Write ``preset`` as a YAML preset file with a comment header; return the path."""
    path = Path(path)
    title = " — ".join(part for part in (preset.name, preset.description) if part)
    header = f"# stemboard preset: {' '.join(title.split())}\n"
    body = yaml.safe_dump(
        preset_to_dict(preset),
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=None,
        width=100,
    )
    path.write_text(header + body, encoding="utf-8")
    return path
