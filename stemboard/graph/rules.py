"""The graph's rules, in one place: strip levels, tails, chains, stem names and routing.

:class:`~stemboard.graph.strips.Channel`, :class:`~stemboard.graph.strips.Bus` and
:class:`~stemboard.graph.graph.StemGraph` enforce them when built and when a setting changes;
the preset loader hands its values to the same functions, so whatever a Python graph accepts a
preset accepts, and the other way round.

Every rule raises :class:`~stemboard.errors.GraphError` (a ``ValueError``) whose ``where`` is a
key path in the preset layout (``stems.vocals.pan``, ``buses.rhythm.inputs[1]``) and whose
message reads ``"<where>: <problem>"``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stemboard.errors import GraphError, PresetError, did_you_mean, format_value
from stemboard.graph.effects import check_plugin

GAIN_DB_RANGE = (-120.0, 60.0)
"""A strip's gain in dB: -120 is as good as silence; +60 is the most any stemboard gain takes."""
PAN_RANGE = (-1.0, 1.0)
"""Hard left to hard right."""
MAX_TAIL_SECONDS = 60.0
"""The longest effect tail rendered after the input ends."""
MIX = "mix"
"""The name of the master output; no bus may be called this."""
BUS_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def located(where: str, problem: str) -> GraphError:
    """A :class:`GraphError` at key path ``where``."""
    error = GraphError(f"{where}: {problem}" if where else problem)
    error.where, error.problem = where, problem
    return error


def at(where: str, error: GraphError) -> GraphError:
    """``error`` again, its key path prefixed with ``where`` (``pan`` -> ``stems.vocals.pan``)."""
    inner = getattr(error, "where", "")
    return located(f"{where}.{inner}" if where and inner else where or inner, error.problem)


def _number(value: Any, where: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise located(where, f"expected a number, got {format_value(value)}")
    if not low <= value <= high:  # NaN too; an integer beyond a float compares as it is
        raise located(
            where, f"{format_value(value)} is out of range (expected [{low:g}, {high:g}])"
        )
    return float(value)


def check_gain_db(value: Any, where: str = "gain_db") -> float:
    """A strip or bus gain in dB, within :data:`GAIN_DB_RANGE`."""
    return _number(value, where, *GAIN_DB_RANGE)


def check_pan(value: Any, where: str = "pan") -> float:
    """A pan position within :data:`PAN_RANGE`."""
    return _number(value, where, *PAN_RANGE)


def check_tail_seconds(value: Any, where: str = "tail_seconds") -> float:
    """Seconds of effect tail, within [0, :data:`MAX_TAIL_SECONDS`]."""
    return _number(value, where, 0.0, MAX_TAIL_SECONDS)


def check_switch(value: Any, where: str) -> bool:
    """``mute`` and ``solo``: true or false (not 0, 1 or "yes")."""
    if not isinstance(value, bool):
        raise located(where, f"expected true or false, got {format_value(value)}")
    return value


def check_chain(value: Any, where: str = "chain") -> Any:
    """A chain: None, or something that processes audio the pedalboard way.

    That is any pedalboard ``Plugin`` (a ``Pedalboard`` is one) or anything else with
    ``process(audio, sample_rate, reset=...)`` and ``reset()``, such as a stemboard node. The
    built-in effects in it must be set within the effect registry's ranges, as in a preset.
    """
    if value is None:
        return None
    if callable(getattr(value, "process", None)) and callable(getattr(value, "reset", None)):
        try:
            check_plugin(value, where)
        except PresetError as error:
            at_where, _, problem = str(error).partition(": ")
            raise located(at_where, problem) from None
        return value
    hint = (
        " (wrap a list of plugins in pedalboard.Pedalboard([...]))"
        if isinstance(value, list | tuple)
        else ""
    )
    raise located(
        where,
        f"expected a pedalboard plugin, a Pedalboard or a stemboard node, got "
        f"{type(value).__name__} {format_value(value)}{hint}",
    )


def check_stem_names(names: Sequence[str], sources: Sequence[str], where: str) -> None:
    """Every name is one of the model's ``sources``; ``where`` is the mapping's key path.

    One unknown name is located at its key, with the closest stem; several are named together
    at the mapping (a preset for a six-stem model used with a four-stem one: ``stems: unknown
    stems 'guitar', 'piano' (the model has: drums, bass, other, vocals)``).
    """
    unknown = [name for name in names if name not in sources]
    has = f"the model has: {', '.join(sources)}"
    if len(unknown) == 1:
        name = unknown[0]
        raise located(
            f"{where}.{name}" if where else name,
            f"unknown stem {name!r} ({did_you_mean(name, sources)}{has})",
        )
    if unknown:
        raise located(where, f"unknown stems {', '.join(map(repr, unknown))} ({has})")


@dataclass(frozen=True)
class Routing:
    """How the buses connect: ``order`` lists every bus after the buses feeding it; ``feeds``
    maps each stem or bus that feeds a bus to that bus (the rest go to the master)."""

    order: tuple[str, ...]
    feeds: Mapping[str, str]


def plan_routing(buses: Mapping[str, Sequence[str]], sources: Sequence[str] | None) -> Routing:
    """Check the buses (name -> inputs) and put them in processing order.

    The rules: a bus name is letters, digits, ``_`` or ``-`` (not starting with a digit), not a
    stem's name and not ``mix``; a bus has at least one input, each listed once, each a stem or
    a bus; a stem or bus feeds at most one bus; no bus feeds itself, directly or through others.
    With ``sources`` None (the model not known yet) an input that is not a bus is taken for a
    stem; :func:`check_stem_names` checks it once the model is known.
    """
    stems = () if sources is None else tuple(sources)
    for bus in buses:
        where = f"buses.{bus}"
        if not isinstance(bus, str) or not BUS_NAME.fullmatch(bus):
            raise located(
                where,
                f"bus name {format_value(bus)} must be letters, digits, _ or -, "
                "not starting with a digit",
            )
        if bus in stems:
            raise located(
                where, f"bus name {bus!r} is also a stem name; call the bus something else"
            )
        if bus == MIX:
            raise located(where, f"bus name {MIX!r} is reserved for the mix output")
        if bus == "master":  # the master chain's name in presets, the studio and messages
            raise located(where, "bus name 'master' is reserved for the master chain")
    feeds: dict[str, str] = {}
    for bus, inputs in buses.items():
        where = f"buses.{bus}.inputs"
        if not inputs:
            raise located(where, "a bus needs at least one input")
        seen: set[str] = set()
        for index, name in enumerate(inputs):
            at_index = f"{where}[{index}]"
            if not isinstance(name, str):
                raise located(at_index, f"expected a stem or bus name, got {format_value(name)}")
            if name in seen:
                raise located(at_index, f"{name!r} is listed twice")
            seen.add(name)
            if name not in buses and sources is not None and name not in stems:
                raise located(
                    at_index,
                    f"unknown input {name!r} ({did_you_mean(name, [*stems, *buses])}"
                    f"stems: {', '.join(stems)}; buses: {', '.join(buses)})",
                )
            if name in feeds:
                raise located(
                    at_index,
                    f"{name!r} already feeds bus {feeds[name]!r} (a stem or bus feeds one bus)",
                )
            feeds[name] = bus
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(bus: str, path: list[str]) -> None:
        if state.get(bus) == "done":
            return
        if state.get(bus) == "visiting":
            cycle = [*path[path.index(bus) :], bus]
            raise located(
                f"buses.{cycle[0]}.inputs",
                f"buses form a cycle: {' -> '.join(cycle)} (a bus cannot feed itself, directly "
                "or through other buses)",
            )
        state[bus] = "visiting"
        for name in buses[bus]:
            if name in buses:
                visit(name, [*path, bus])
        state[bus] = "done"
        order.append(bus)

    for bus in buses:
        visit(bus, [])
    return Routing(tuple(order), dict(feeds))
