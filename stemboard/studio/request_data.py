"""What the studio takes from a request: a JSON body, or the data of a preset file's text, held
to limits that every later step can live with.

A request's body is read up to :data:`MAX_BODY_BYTES` and must be one JSON object.
:func:`check_plain` then refuses, naming where it is, what the preset schema and the answers
cannot hold: nesting deeper than :data:`MAX_DEPTH`, more than :data:`MAX_VALUES` values (a YAML
alias stands for a whole tree, so they are counted as expanded), an integer beyond a float's
range (a preset's numbers become floats) and a string that is not Unicode text (a lone
surrogate, which no file name or answer can be written with). JSON's own rules hold too:
``NaN`` and ``Infinity`` are not JSON, and ``1e999`` is no float.

Example::

    body = read_json(b'{"preset": {"stemboard_preset": 1}}')
    check_plain(parse_yaml(text, "mine.yaml"), "mine.yaml")
"""

from __future__ import annotations

import json
import math
import re
import sys
from typing import Any

from stemboard.errors import InvalidValueError

MAX_BODY_BYTES = 1024 * 1024
MAX_DEPTH = 32
MAX_VALUES = 100_000
_SURROGATE = re.compile("[\ud800-\udfff]")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class BodyTooLargeError(InvalidValueError):
    """A request body beyond :data:`MAX_BODY_BYTES`."""


def too_large() -> BodyTooLargeError:
    limit = MAX_BODY_BYTES / (1024 * 1024)
    return BodyTooLargeError(f"the request body is larger than {limit:g} MB (a preset is a few KB)")


def shown(value: Any) -> str:
    """A value a client sent, as an error message shows it: its ``repr``, one short line."""
    if isinstance(value, int) and abs(value) >= 10**60:  # repr fails past 4300 digits
        return f"an integer of {_digits(abs(value))} digits"
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _digits(number: int) -> int:
    digits = int(math.log10(number)) + 1  # a float's estimate, off by one near a power of 10
    if number < 10 ** (digits - 1):
        return digits - 1
    return digits + 1 if number >= 10**digits else digits


class _NotJson(ValueError):
    pass


def _constant(name: str) -> float:
    raise _NotJson(f"the request body is not JSON: {name} is not a JSON number")


def _float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _NotJson(f"the number {shown(text)} is beyond the range of a float")
    return number


def _int(text: str) -> int:
    # int() refuses more than 4300 digits; far fewer are beyond a float already
    if len(text.lstrip("-")) > sys.float_info.max_10_exp + 1:
        raise _NotJson(f"the number {shown(text)} is beyond the range of a float")
    return int(text)


def read_json(body: bytes) -> dict:
    """The JSON object a request body holds, checked by :func:`check_plain`; otherwise
    :class:`~stemboard.errors.InvalidValueError` in one line."""
    if len(body) > MAX_BODY_BYTES:
        raise too_large()
    try:
        data = json.loads(body, parse_constant=_constant, parse_float=_float, parse_int=_int)
    except _NotJson as error:
        raise InvalidValueError(str(error)) from None
    except RecursionError:
        raise InvalidValueError(
            f"the request body is nested deeper than {MAX_DEPTH} levels"
        ) from None
    except ValueError:
        raise InvalidValueError("the request body is not JSON") from None
    if not isinstance(data, dict):
        raise InvalidValueError("expected a JSON object")
    check_plain(data, "the request body")
    return data


def _where(path: tuple) -> str:
    parts = []
    for key in path:
        if isinstance(key, int) and not isinstance(key, bool):
            parts.append(f"[{key}]")
        else:
            name = key if isinstance(key, str) and _NAME.fullmatch(key) else shown(key)
            parts.append(f".{name}" if parts else name)
    where = "".join(parts)
    return where if len(where) <= 120 else f"{where[:117]}..."


def check_plain(data: Any, source: str) -> None:
    """Refuse what no later step should have to survive (see the module), as
    :class:`~stemboard.errors.InvalidValueError` naming ``source`` and the key path."""
    todo: list[tuple[Any, tuple]] = [(data, ())]
    count = 0
    while todo:
        value, path = todo.pop()
        count += 1
        problem = None
        if count > MAX_VALUES:
            raise InvalidValueError(f"{source}: more than {MAX_VALUES} values")
        if len(path) > MAX_DEPTH:
            problem = f"nested deeper than {MAX_DEPTH} levels"
        elif isinstance(value, str):
            if _SURROGATE.search(value):
                problem = f"{shown(value)} is not Unicode text (it holds a lone surrogate)"
        elif isinstance(value, int) and not isinstance(value, bool):
            if abs(value) > sys.float_info.max:
                problem = f"{shown(value)} is beyond the range of a float"
        elif isinstance(value, dict):
            for key, item in value.items():
                todo.append((key, path))
                todo.append((item, (*path, key)))
        elif isinstance(value, list | tuple | set | frozenset):
            todo.extend((item, (*path, index)) for index, item in enumerate(value))
        if problem is not None:
            where = _where(path)
            raise InvalidValueError(
                f"{source}: {where}: {problem}" if where else f"{source}: {problem}"
            )
