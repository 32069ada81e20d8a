"""Manifests: a ``.csv`` with a header, or a ``.jsonl`` of one object a line, listing tracks.

Each row has a ``path`` (relative to the manifest's folder) and optionally a ``preset`` (a file,
relative to the manifest, or a shipped name) and an ``output`` (the folder below the output
folder the track renders into). A manifest is UTF-8, with or without the byte order mark that
spreadsheet programs write. Anything wrong with it is one line naming the manifest and the
line: a missing column, an unknown one, a field too long, JSON nested too deeply.

Example::

    rows = manifest_rows(Path("list.csv"))      # [(2, {"path": "a.wav", "preset": "karaoke"})]
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path, PurePosixPath, PureWindowsPath

from stemboard.audio.reading import display
from stemboard.errors import InvalidValueError

COLUMNS = ("path", "preset", "output")


def manifest_rows(path: Path) -> list[tuple[int, dict[str, str | None]]]:
    """``(line, row)`` for every track the manifest lists, each field checked to be text."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidValueError(f"{display(path)}: a manifest is UTF-8 text") from None
    rows = _csv_rows(path, text) if path.suffix.lower() == ".csv" else _jsonl_rows(path, text)
    return [(line, _checked(path, line, row)) for line, row in rows]


def _csv_rows(path: Path, text: str) -> list[tuple[int, dict]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows = []
    try:
        if reader.fieldnames is None or "path" not in reader.fieldnames:
            raise InvalidValueError(
                f"{display(path)}: a manifest needs a header with a 'path' column "
                f"(and optionally 'preset', 'output'); found {reader.fieldnames}"
            )
        for row in reader:
            rows.append((reader.line_num, row))
    except csv.Error as error:  # a field over csv's limit (128 KiB)
        line = reader.reader.line_num  # the line read last (the DictReader's is the last row's)
        raise InvalidValueError(f"{display(path)}: line {line}: {error}") from None
    return rows


def _jsonl_rows(path: Path, text: str) -> list[tuple[int, dict]]:
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise InvalidValueError(
                f"{display(path)}: line {number}: not JSON: {error.msg}"
            ) from None
        except RecursionError:
            raise InvalidValueError(
                f"{display(path)}: line {number}: JSON nested too deeply"
            ) from None
        if not isinstance(row, dict):
            raise InvalidValueError(f"{display(path)}: line {number}: expected a JSON object")
        rows.append((number, row))
    return rows


def _checked(path: Path, line: int, row: dict) -> dict[str, str | None]:
    where = f"{display(path)}: line {line}"
    if None in row:  # csv: more fields than the header names
        raise InvalidValueError(f"{where}: more fields than the header has")
    unknown = sorted(str(key) for key in set(row) - set(COLUMNS))
    if unknown:
        raise InvalidValueError(
            f"{where}: unknown column {unknown[0]!r} (columns: {', '.join(COLUMNS)})"
        )
    checked = {}
    for key in COLUMNS:
        value = row.get(key) or None
        if value is not None and (not isinstance(value, str) or "\0" in value):
            expected = {
                "path": "an audio file",
                "preset": "a file or a preset's name",
                "output": "a folder name",
            }[key]
            raise InvalidValueError(f"{where}: '{key}' must be text naming {expected}")
        checked[key] = value
    if checked["path"] is None:
        raise InvalidValueError(f"{where}: 'path' must name an audio file")
    return checked


def safe_folder(text: str, where: str) -> PurePosixPath:
    """A relative folder that stays inside the output folder, or ``InvalidValueError``."""
    if PureWindowsPath(text).anchor or text.startswith("/"):
        raise InvalidValueError(f"{where}: output folder {text!r} is absolute")
    parts = PurePosixPath(text.replace("\\", "/")).parts
    if ".." in parts:
        raise InvalidValueError(f"{where}: output folder {text!r} leaves the output folder")
    return PurePosixPath(*[part for part in parts if part not in ("", ".")])
