"""Preset files as YAML: read strictly, written atomically.

Reading uses ``yaml.safe_load``'s loader (plain data only: mappings, lists, strings, numbers,
booleans, null) and refuses what it would let slip: a key given twice in one mapping (YAML says
the last wins; a preset that says two things is a mistake, so the error names the key and both
lines). Every problem is one line: ``line 3, column 5: ...``.

Example::

    data = read_yaml(Path("my.yaml"))             # plain data, or PresetError
    write_yaml(data, Path("copy.yaml"), header="# stemboard preset: copy\\n")
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from stemboard.atomic import atomic_path
from stemboard.errors import (
    DestinationError,
    InvalidValueError,
    MissingFileError,
    PresetError,
    PresetNotFoundError,
)
from stemboard.input_files import regular_file


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class _StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping."""


def _mapping_without_duplicates(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False):
    first_line: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            earlier = first_line.get(key)
        except TypeError:  # an unhashable key: the constructor explains it below
            continue
        if earlier is not None:
            raise _DuplicateKey(
                f"line {line}, column {key_node.start_mark.column + 1}: duplicate key "
                f"{key!r} (on lines {earlier} and {line}); a key may appear once in a mapping"
            )
        first_line[key] = line
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates
)

_TAG = re.compile(r"'(?:tag:yaml\.org,2002:)?([^']*)'")


def _yaml_problem(error: yaml.YAMLError) -> str:
    if isinstance(error, _DuplicateKey):
        return error.message
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


def read_text(path: Path) -> str:
    """A preset file's text; :class:`PresetError` in one line when it cannot be read as text."""
    try:
        regular_file(path, "preset file")
    except MissingFileError as error:
        raise PresetNotFoundError(str(error)) from None
    except InvalidValueError as error:  # a folder, a FIFO (which would block the read), ...
        raise PresetError(str(error)) from None
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PresetNotFoundError(f"{path}: no such preset file") from None
    except UnicodeDecodeError:
        raise PresetError(f"{path}: not a text file (presets are UTF-8 YAML)") from None
    except OSError as error:
        raise PresetError(f"{path}: cannot read it: {error.strerror}") from None


def parse_yaml(text: str, source: str) -> Any:
    """The plain data in ``text``; :class:`PresetError` naming ``source`` and the line."""
    if "\0" in text:
        raise PresetError(f"{source}: not a text file (presets are UTF-8 YAML)")
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as error:
        raise PresetError(f"{source}: {_yaml_problem(error)}") from None
    except RecursionError:
        raise PresetError(f"{source}: invalid YAML: nested too deeply") from None
    except ValueError as error:  # a value Python cannot hold: a 5000-digit integer, 2001-13-45
        raise PresetError(f"{source}: invalid YAML: {error}") from None


def read_yaml(path: Path) -> Any:
    """:func:`read_text` then :func:`parse_yaml`."""
    return parse_yaml(read_text(path), str(path))


def write_yaml(data: Any, path: Path, header: str = "") -> Path:
    """Write ``data`` as block-style YAML after ``header``, atomically; returns ``path``."""
    body = yaml.safe_dump(
        data, sort_keys=False, allow_unicode=True, default_flow_style=None, width=100
    )
    try:
        with atomic_path(path) as temporary:
            temporary.write_text(header + body, encoding="utf-8")
    except OSError as error:
        raise DestinationError(f"{path}: cannot write: {error.strerror or error}") from None
    return path
