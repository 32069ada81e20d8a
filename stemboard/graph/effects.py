"""The effect registry: pedalboard's built-in effects by class name, their parameters, and specs.

A *spec* is a plain mapping, the way a preset file writes an effect::

    check_spec({"plugin": "Reverb", "room_size": 0.4}, "master[0]")   # -> the spec, normalised
    make_plugin({"plugin": "Reverb", "room_size": 0.4}, "master[0]")  # -> pedalboard.Reverb
    describe_plugin(pedalboard.Reverb(room_size=0.4))                 # -> the spec, every value

Plugin and parameter names come from pedalboard itself: the effects are the ``pedalboard.Plugin``
subclasses that build with no arguments and take audio; a plugin's parameters are the arguments
of its constructor, read from the signature pybind11 writes into ``__init__.__doc__`` (the
native classes have no ``inspect.signature``); defaults are read from a default instance.

:func:`check_spec` checks a spec as data, without building anything: names, types, and every
number against its range in :data:`RANGES`. Every numeric parameter has one, no wider than what
pedalboard's setters accept and narrow enough that audio in [-1, 1] at 8-192 kHz comes out
finite, without runaway memory or time (one exception needs the sample rate: the first-order
filters, see :data:`RANGES`). :func:`make_plugin` checks the same way and then builds the plugin
once; a setter that still refuses a value is reported as a :class:`PresetError` too.

External VST3/AU plugins (``{"plugin": "external", "path": "x.vst3", "parameters": {...}}``)
load native code from a file, so they are refused unless the caller passes
``allow_external=True``. Checking one never loads it: its parameter names are known only once
:func:`make_plugin` has loaded it.
"""

from __future__ import annotations

import difflib
import functools
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pedalboard

from stemboard.errors import PresetError, format_value

EXTERNAL = "external"
"""The ``plugin`` value of an external (VST3/AU) plugin spec."""

_EXTERNAL_KEYS = ("plugin", "path", "plugin_name", "parameters")


@dataclass(frozen=True)
class Range:
    """An interval of accepted values; ``None`` is unbounded, ``*_open`` excludes the bound."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def __str__(self) -> str:
        if self.low is not None and self.high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"{left}{_number(self.low)}, {_number(self.high)}{right}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {_number(self.low)}"
        return f"{'<' if self.high_open else '<='} {_number(self.high)}"


def _number(value: float) -> str:
    return f"{value:g}"


_UNIT = Range(0.0, 1.0)
_LEVEL_DB = Range(-120.0, 24.0)  # thresholds: -120 dB is silence, +24 dB leaves room for hot stems
_MILLISECONDS = Range(0.0, 10000.0)
_RATIO = Range(1.0, 1000.0)  # 1000:1 is a limiter already (JUCE's own Limiter uses it)
_FEEDBACK = Range(-0.99, 0.99)
_AUDIO_BAND = Range(1.0, 20000.0)
_EQ_GAIN_DB = Range(-24.0, 24.0)
_EQ_Q = Range(0.1, 40.0)
_SHELF_HZ = Range(30.0, 20000.0)

RANGES: dict[tuple[str, str], Range] = {
    # pedalboard 0.9.26's setters enforce these very ranges; they are repeated here so that a spec
    # is checked without building its plugin.
    ("Bitcrush", "bit_depth"): Range(0.0, 32.0),
    ("Chorus", "rate_hz"): Range(0.0, 100.0),
    ("Chorus", "mix"): _UNIT,
    ("Delay", "delay_seconds"): Range(0.0, 30.0),  # 46 MB of delay line at 192 kHz, stereo
    ("Delay", "mix"): _UNIT,
    ("LadderFilter", "resonance"): _UNIT,
    ("Reverb", "room_size"): _UNIT,
    ("Reverb", "damping"): _UNIT,
    ("Reverb", "wet_level"): _UNIT,
    ("Reverb", "dry_level"): _UNIT,
    ("Reverb", "width"): _UNIT,
    ("Reverb", "freeze_mode"): _UNIT,
    # Narrower than pedalboard's setters, which take values that break the output or the render.
    # pedalboard wants > 0, and a tinier value rounds to 0 in float32, which it then refuses.
    ("BrickwallLimiter", "release_ms"): Range(0.01, 10000.0),
    ("BrickwallLimiter", "lookahead_ms"): Range(0.01, 100.0),
    # pedalboard takes 1 (Delay) or any value (Chorus, Phaser): at 1 nothing decays and every new
    # sample adds to what circulates, so the level climbs for as long as the audio lasts (x50 in
    # 20 s of noise, more for a steady tone); 0.99 bounds the build-up to 40 dB.
    ("Delay", "feedback"): Range(0.0, 0.99),
    ("Chorus", "feedback"): _FEEDBACK,
    ("Phaser", "feedback"): _FEEDBACK,
    ("Compressor", "ratio"): _RATIO,
    ("NoiseGate", "ratio"): _RATIO,
    ("LadderFilter", "drive"): Range(1.0, 100.0),  # pedalboard: >= 1, no upper bound
    # pedalboard takes +-72, but Rubber Band's work doubles with every octave: at +-72 one second
    # of audio takes 3 s to shift at 44.1 kHz and 14 s at 192 kHz; at +-36, 0.4 s and 1.7 s.
    ("PitchShift", "semitones"): Range(-36.0, 36.0),
    # pedalboard takes any rate > 0: at 1 Hz a second of 192 kHz audio takes 7 s, at 1e9 memory
    # climbs without end (0.5 GB after 30 s). From 1 kHz to 384 kHz a second takes at most 1.4 s.
    ("Resample", "target_sample_rate"): Range(1000.0, 384000.0),
    # pedalboard takes up to 10, but LAME refuses anything above 9.999 once processing starts.
    ("MP3Compressor", "vbr_quality"): Range(0.0, 9.999),
    # The EQ filters are float32 biquads and pedalboard takes any gain and any Q or cutoff > 0. A
    # gain of -100 dB or less becomes a gain of 0 and NaN; and at a high sample rate a low cutoff
    # rounds the poles onto or past the unit circle: at 192 kHz a shelf below ~25 Hz (with +-24 dB)
    # or a bell below ~10 Hz grows to Inf. Within these bounds every pole stays inside (checked on
    # a grid of cutoff, gain and Q at 8-192 kHz).
    ("HighShelfFilter", "cutoff_frequency_hz"): _SHELF_HZ,
    ("HighShelfFilter", "gain_db"): _EQ_GAIN_DB,
    ("HighShelfFilter", "q"): _EQ_Q,
    ("LowShelfFilter", "cutoff_frequency_hz"): _SHELF_HZ,
    ("LowShelfFilter", "gain_db"): _EQ_GAIN_DB,
    ("LowShelfFilter", "q"): _EQ_Q,
    ("PeakFilter", "cutoff_frequency_hz"): Range(10.0, 20000.0),
    ("PeakFilter", "gain_db"): _EQ_GAIN_DB,
    ("PeakFilter", "q"): _EQ_Q,
    # stemboard's own: pedalboard's setters accept any number here, NaN and infinity included.
    ("Gain", "gain_db"): Range(-120.0, 60.0),  # +60 dB makes full scale 1000
    ("Distortion", "drive_db"): Range(-60.0, 60.0),  # a gain before tanh: the output stays in +-1
    ("BrickwallLimiter", "ceiling_db"): _LEVEL_DB,
    ("Clipping", "threshold_db"): _LEVEL_DB,
    ("Compressor", "threshold_db"): _LEVEL_DB,
    ("Limiter", "threshold_db"): _LEVEL_DB,
    ("NoiseGate", "threshold_db"): _LEVEL_DB,
    ("Compressor", "attack_ms"): _MILLISECONDS,
    ("Compressor", "release_ms"): _MILLISECONDS,
    ("NoiseGate", "attack_ms"): _MILLISECONDS,
    ("NoiseGate", "release_ms"): _MILLISECONDS,
    ("Limiter", "release_ms"): _MILLISECONDS,
    ("Chorus", "depth"): _UNIT,
    ("Chorus", "centre_delay_ms"): Range(1.0, 100.0),  # JUCE silently clamps to this span
    ("Phaser", "rate_hz"): Range(0.0, 100.0),
    ("Phaser", "depth"): _UNIT,
    ("Phaser", "mix"): _UNIT,
    ("Phaser", "centre_frequency_hz"): _AUDIO_BAND,
    ("LadderFilter", "cutoff_hz"): _AUDIO_BAND,
    # pedalboard's first-order filters do not clamp their cutoff as the EQ filters do: a cutoff
    # between half the sample rate and the sample rate makes them unstable (Inf within 0.25 s).
    # Up to 20 kHz is safe from 40 kHz up; below that, only code that knows the sample rate can
    # refuse a cutoff above half of it.
    ("HighpassFilter", "cutoff_frequency_hz"): _AUDIO_BAND,
    ("LowpassFilter", "cutoff_frequency_hz"): _AUDIO_BAND,
}
"""Accepted values of numeric parameters, by (plugin, parameter): every one has a range."""


@dataclass(frozen=True)
class ParameterInfo:
    """One constructor argument of a built-in plugin.

    ``kind`` is ``"float"``, ``"int"``, ``"bool"`` or ``"enum"``; an enum's value is written as
    the name of one of ``choices`` (``LadderFilter.mode: HPF12``).
    """

    name: str
    kind: str
    default: float | int | bool | str
    choices: tuple[str, ...] = ()
    range: Range | None = None


@dataclass(frozen=True)
class _PluginType:
    cls: type
    parameters: dict[str, ParameterInfo]
    enums: dict[str, Any]  # parameter name -> its pybind11 enum type


_SIGNATURE = re.compile(r"__init__\(self: [\w.]+(?P<arguments>.*)\) -> None")
_ARGUMENT = re.compile(r"(?P<name>\w+): (?P<type>[\w.]+)(?: = .*)?")
_SCALARS = {"float": "float", "int": "int", "bool": "bool"}


def _split_arguments(text: str) -> list[str]:
    """``", a: float = 1, b: Union[str, int]"`` -> the arguments, split at top-level commas."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char in "[(<"
        depth -= char in "])>"
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    parts.append(current.strip())
    return [part for part in parts if part]


def _enum_type(dotted: str) -> Any | None:
    """``pedalboard_native.LadderFilter.Mode`` -> ``pedalboard.LadderFilter.Mode``, if an enum."""
    target: Any = pedalboard
    for attribute in dotted.split(".")[1:]:
        target = getattr(target, attribute, None)
    return target if hasattr(target, "__members__") else None


def _plain(value: Any) -> float | int | bool | str:
    """A parameter's value as a preset writes it.

    Enums become their member name; floats that pedalboard holds in single precision become
    the shortest decimal that reads back to the same float32 (0.33, not 0.33000001311302185).
    """
    if hasattr(value, "name") and hasattr(type(value), "__members__"):
        return value.name
    if isinstance(value, bool | int):
        return value
    number = float(value)
    single = np.float32(number)
    return float(str(single)) if math.isfinite(number) and float(single) == number else number


def _inspect(name: str, cls: type) -> _PluginType | None:
    """The plugin's parameters, or None if it is not an effect stemboard can drive."""
    signature = (cls.__init__.__doc__ or "").strip().split("\n")[0]
    match = _SIGNATURE.fullmatch(signature)
    if match is None:  # overloaded or undocumented constructor
        return None
    try:
        default = cls()
    except (TypeError, RuntimeError):  # abstract (IIRFilter) or needs arguments (Convolution)
        return None
    if not default.is_effect:
        return None
    parameters: dict[str, ParameterInfo] = {}
    enums: dict[str, Any] = {}
    for argument in _split_arguments(match["arguments"]):
        parsed = _ARGUMENT.fullmatch(argument)
        if parsed is None or not hasattr(default, parsed["name"]):
            return None
        key, type_name = parsed["name"], parsed["type"]
        value = getattr(default, key)
        if type_name in _SCALARS:
            parameters[key] = ParameterInfo(
                key, _SCALARS[type_name], _plain(value), range=RANGES.get((name, key))
            )
        elif (enum := _enum_type(type_name)) is not None:
            enums[key] = enum
            parameters[key] = ParameterInfo(key, "enum", _plain(value), tuple(enum.__members__))
        else:
            return None
    return _PluginType(cls, parameters, enums)


@functools.cache
def _registry() -> dict[str, _PluginType]:
    found = {}
    for name in dir(pedalboard):
        cls = getattr(pedalboard, name)
        if (
            name.startswith("_")
            or not isinstance(cls, type)
            or not issubclass(cls, pedalboard.Plugin)
            or issubclass(cls, pedalboard.PluginContainer | pedalboard.ExternalPlugin)
        ):
            continue
        if (plugin_type := _inspect(name, cls)) is not None:
            found[name] = plugin_type
    return found


@functools.cache
def _names_by_class() -> dict[type, str]:
    return {plugin_type.cls: name for name, plugin_type in _registry().items()}


def plugin_names() -> list[str]:
    """pedalboard's built-in effects a chain can use, by class name (``["Bitcrush", ...]``)."""
    return list(_registry())


def _fail(where: str, message: str) -> PresetError:
    return PresetError(f"{where}: {message}" if where else message)


def _plugin_type(name: Any, where: str) -> _PluginType:
    registry = _registry()
    if isinstance(name, str) and name in registry:
        return registry[name]
    if not isinstance(name, str):
        raise _fail(where, f"'plugin' must be an effect's class name, got {format_value(name)}")
    by_lower = {known.lower(): known for known in registry}
    close = difflib.get_close_matches(name.lower(), by_lower, n=3, cutoff=0.6)
    hint = (
        f" (did you mean {', '.join(by_lower[c] for c in close)}?)"
        if close
        else f" (known plugins: {', '.join(registry)})"
    )
    raise _fail(where, f"unknown plugin {name!r}{hint}")


def parameters(name: str) -> dict[str, ParameterInfo]:
    """The parameters of the built-in plugin ``name``, in constructor order.

    >>> list(parameters("Delay"))
    ['delay_seconds', 'feedback', 'mix']
    """
    return dict(_plugin_type(name, "").parameters)


def _checked_value(plugin: str, info: ParameterInfo, value: Any, where: str) -> Any:
    label = f"{plugin}.{info.name}"
    if info.kind == "enum":
        if not isinstance(value, str) or value not in info.choices:
            choices = ", ".join(info.choices)
            raise _fail(where, f"{label} must be one of {choices}, got {format_value(value)}")
        return value
    if info.kind == "bool":
        if not isinstance(value, bool):
            raise _fail(where, f"{label} must be true or false, got {format_value(value)}")
        return value
    if info.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(where, f"{label} must be a whole number, got {format_value(value)}")
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(where, f"{label} must be a number, got {format_value(value)}")
    elif isinstance(value, float) and not math.isfinite(value):
        raise _fail(where, f"{label} must be a finite number, got {format_value(value)}")
    # Compared before any conversion: an integer too large for a float is simply out of range.
    if info.range is not None and value not in info.range:
        raise _fail(where, f"{label}={format_value(value)} is out of range (expected {info.range})")
    return value if info.kind == "int" else float(value)


def _check_builtin(spec: Mapping, where: str) -> dict:
    name = spec["plugin"]
    plugin_type = _plugin_type(name, where)
    checked: dict[str, Any] = {}
    for key, value in spec.items():
        if key == "plugin":
            continue
        if key not in plugin_type.parameters:
            known = ", ".join(plugin_type.parameters) or "none"
            close = difflib.get_close_matches(str(key), plugin_type.parameters, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise _fail(where, f"{name} has no parameter {key!r} ({hint}its parameters: {known})")
        checked[key] = _checked_value(name, plugin_type.parameters[key], value, where)
    ordered = {key: checked[key] for key in plugin_type.parameters if key in checked}
    return {"plugin": name, **ordered}


def _check_external(spec: Mapping, where: str, allow_external: bool, base_dir: Path | None) -> dict:
    for key in spec:
        if key not in _EXTERNAL_KEYS:
            raise _fail(
                where,
                f"unknown key {key!r} for an external plugin "
                f"(valid keys: {', '.join(_EXTERNAL_KEYS)})",
            )
    path = spec.get("path")
    if not isinstance(path, str) or not path:
        raise _fail(where, "an external plugin needs 'path': its .vst3 or .component file")
    if not allow_external:
        raise _fail(
            where,
            f"external plugin {path!r} refused: loading it runs native code from that file; "
            "allow it with --allow-external-plugins (allow_external_plugins=True) if you trust it",
        )
    plugin_name = spec.get("plugin_name")
    if plugin_name is not None and not isinstance(plugin_name, str):
        raise _fail(where, f"plugin_name must be a string, got {format_value(plugin_name)}")
    values = spec.get("parameters")
    values = {} if values is None else values
    if not isinstance(values, Mapping):
        raise _fail(f"{where}.parameters", f"expected a mapping, got {format_value(values)}")
    for key, value in values.items():
        if not isinstance(value, bool | int | float | str):
            raise _fail(
                f"{where}.parameters.{key}",
                f"expected a number, boolean or string, got {format_value(value)}",
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise _fail(
                f"{where}.parameters.{key}", f"expected a finite number, got {format_value(value)}"
            )
    resolved = ((base_dir or Path.cwd()) / path).resolve()
    if not resolved.exists():
        raise _fail(f"{where}.path", f"external plugin {str(resolved)!r} does not exist")
    checked = {"plugin": EXTERNAL, "path": str(resolved)}
    if plugin_name is not None:
        checked["plugin_name"] = plugin_name
    return {**checked, "parameters": dict(values)}


def _one_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _build_builtin(checked: dict, spec: Mapping, where: str) -> pedalboard.Plugin:
    """The plugin of a checked spec; ``spec`` (as written) is what error messages quote."""
    name = checked["plugin"]
    plugin_type = _registry()[name]
    plugin = plugin_type.cls()
    # Setting parameters one at a time (as the constructor does) pins any error to one of them.
    for key, value in checked.items():
        if key == "plugin":
            continue
        native = plugin_type.enums[key].__members__[value] if key in plugin_type.enums else value
        try:
            setattr(plugin, key, native)
        except (ValueError, TypeError) as error:
            raise _fail(
                where,
                f"{name}.{key}={format_value(spec[key])} is out of range "
                f"(pedalboard says: {_one_line(error)})",
            ) from None
    return plugin


def _load_external(checked: dict, spec: Mapping, where: str) -> pedalboard.Plugin:
    """The plugin of a checked external spec, loaded once; ``spec`` is the spec as written."""
    path, plugin_name = checked["path"], checked.get("plugin_name")
    try:
        plugin = pedalboard.load_plugin(path, plugin_name=plugin_name)
    except (ImportError, RuntimeError, ValueError) as error:
        raise _fail(
            f"{where}.path", f"cannot load external plugin {spec['path']!r}: {_one_line(error)}"
        ) from None
    known = plugin.parameters
    for key, value in checked["parameters"].items():
        if key not in known:
            raise _fail(
                f"{where}.parameters",
                f"{Path(path).name} has no parameter {key!r} (its parameters: {', '.join(known)})",
            )
        try:
            setattr(plugin, key, value)
        except (ValueError, TypeError) as error:
            raise _fail(
                f"{where}.parameters.{key}",
                f"{format_value(value)} was refused: {_one_line(error)}",
            ) from None
    # A loaded plugin does not know its file; remember it so that describe_plugin can save it.
    plugin._stemboard_path = path
    plugin._stemboard_plugin_name = plugin_name
    return plugin


def check_spec(
    spec: Mapping,
    where: str,
    *,
    allow_external: bool = False,
    base_dir: Path | None = None,
) -> dict:
    """Check a spec as data, building nothing; return it normalised.

    >>> check_spec({"plugin": "Gain", "gain_db": 3}, "stems.vocals.chain[0]")
    {'plugin': 'Gain', 'gain_db': 3.0}

    Checked: the plugin's name, its parameters' names, types and ranges (:data:`RANGES`); for an
    external plugin, its keys, the ``allow_external`` opt-in and that its file exists (it is not
    loaded, so its parameter names are checked by :func:`make_plugin`). Normalised: numbers that
    are floats become floats, parameters are in constructor order, and an external plugin's path
    is absolute (so the spec no longer needs ``base_dir``). Raises :class:`PresetError`, whose
    message starts with ``where``.
    """
    if not isinstance(spec, Mapping):
        raise _fail(
            where,
            f"expected an effect like {{plugin: Reverb, room_size: 0.5}}, got {format_value(spec)}",
        )
    if "plugin" not in spec:
        raise _fail(where, "missing key 'plugin' (the effect's class name, e.g. Reverb)")
    if spec["plugin"] == EXTERNAL:
        return _check_external(spec, where, allow_external, base_dir)
    return _check_builtin(spec, where)


def make_plugin(
    spec: Mapping,
    where: str,
    *,
    allow_external: bool = False,
    base_dir: Path | None = None,
) -> pedalboard.Plugin:
    """Build the plugin a spec describes; ``where`` (a key path) starts every error message.

    >>> make_plugin({"plugin": "Reverb", "room_size": 0.4}, "stems.vocals.chain[0]")
    <pedalboard.Reverb room_size=0.4 ...>

    The spec is checked as :func:`check_spec` does, then the plugin is built once. An external
    plugin's ``path`` is relative to ``base_dir`` (default: the current directory) and is loaded
    only with ``allow_external=True``. Raises :class:`PresetError`.
    """
    checked = check_spec(spec, where, allow_external=allow_external, base_dir=base_dir)
    if checked["plugin"] == EXTERNAL:
        return _load_external(checked, spec, where)
    return _build_builtin(checked, spec, where)


def describe_plugin(plugin: pedalboard.Plugin) -> dict:
    """The spec of ``plugin`` with every parameter's current value: the inverse of make_plugin.

    >>> describe_plugin(pedalboard.Gain(gain_db=3))
    {'plugin': 'Gain', 'gain_db': 3.0}
    """
    path = getattr(plugin, "_stemboard_path", None)
    if path is not None:
        spec: dict[str, Any] = {"plugin": EXTERNAL, "path": path}
        if plugin._stemboard_plugin_name is not None:
            spec["plugin_name"] = plugin._stemboard_plugin_name
        values = {}
        for key, parameter in plugin.parameters.items():
            values[key] = parameter.type(getattr(plugin, key))
        return {**spec, "parameters": values}
    name = _names_by_class().get(type(plugin))
    if name is None:
        if isinstance(plugin, pedalboard.ExternalPlugin):
            raise PresetError(
                f"cannot save {plugin!r}: its file is unknown; "
                "load external plugins with make_plugin(..., allow_external=True)"
            )
        raise PresetError(
            f"cannot save {type(plugin).__name__}: a preset chain holds pedalboard's built-in "
            f"effects ({', '.join(plugin_names())}) and external plugins"
        )
    values = {key: _plain(getattr(plugin, key)) for key in _registry()[name].parameters}
    return {"plugin": name, **values}


def check_plugin(plugin: Any, where: str) -> None:
    """Refuse a built-in pedalboard plugin set beyond what a preset accepts (the ranges above).

    So a Python graph and a preset accept the same effects. A container (``Pedalboard``,
    ``Chain``, ``Mix``) is checked plugin by plugin (``where[i]``); plugins the registry does not
    describe (external ones, a stemboard node, your own) pass. Raises :class:`PresetError`.
    """
    if isinstance(plugin, pedalboard.PluginContainer):
        for index, inner in enumerate(plugin):
            check_plugin(inner, f"{where}[{index}]")
        return
    if type(plugin) in _names_by_class():
        check_spec(describe_plugin(plugin), where)


def make_chain(specs: Iterable[Mapping], where: str, **options: Any) -> pedalboard.Pedalboard:
    """A ``Pedalboard`` of the specs, in order; errors name ``where[i]``.

    ``options`` are make_plugin's (``allow_external``, ``base_dir``).
    """
    return pedalboard.Pedalboard(
        [make_plugin(spec, f"{where}[{index}]", **options) for index, spec in enumerate(specs)]
    )


def describe_chain(board: Iterable[pedalboard.Plugin]) -> list[dict]:
    """The specs of a chain's plugins (a ``Pedalboard`` or any list of plugins), in order."""
    return [describe_plugin(plugin) for plugin in board]
