"""A catalogue's tracks from what the user names: files, folders, glob patterns and manifests.

Each track keeps the folder it was found under (its *root*), so that its outputs mirror its
path below that root: ``music/a/01 Intro.mp3`` and ``music/b/01 Intro.mp3`` (found under
``music/``) render into ``OUT/a/01 Intro/`` and ``OUT/b/01 Intro/`` and never collide.

- a **file** is rooted at the current folder when it lies below it (``a/01.wav`` ->
  ``OUT/a/01/``), otherwise at its own folder;
- a **folder** is walked recursively for the formats pedalboard reads, rooted at itself;
- a **glob pattern** (``music/**/*.flac``) is rooted at its longest folder without wildcards;
- a **manifest** (``.csv`` with a header, or ``.jsonl``, one object a line) lists tracks with a
  ``path`` column (relative to the manifest's folder, which is their root) and optionally a
  ``preset`` (a file, relative to the manifest, or a shipped name) and an ``output`` (the folder
  below ``OUT`` the track renders into, instead of its mirrored path).

Example::

    items = find_tracks(["music/", "extra/*.mp3", "list.csv"])
    items[0].input, items[0].folder          # Path('music/a/01 Intro.mp3'), PurePath('a')
"""

from __future__ import annotations

import csv
import glob
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from pedalboard.io import get_supported_read_formats

from stemboard.audio.reading import display
from stemboard.errors import InvalidValueError, MissingFileError

MANIFEST_SUFFIXES = (".csv", ".jsonl")
_GLOB_CHARACTERS = set("*?[")


@dataclass(frozen=True)
class Item:
    """One track to render: its file, the folder below the output folder it renders into, and
    the preset it uses instead of the batch's (from a manifest)."""

    input: Path
    folder: PurePosixPath
    preset: str | None = None


def audio_suffixes() -> tuple[str, ...]:
    """The file suffixes a folder walk picks up: what pedalboard reads here."""
    return tuple(sorted(set(get_supported_read_formats())))


def _safe_folder(text: str, where: str) -> PurePosixPath:
    """A relative folder that stays inside the output folder, or ``ValueError``."""
    if PureWindowsPath(text).anchor or text.startswith("/"):
        raise InvalidValueError(f"{where}: output folder {text!r} is absolute")
    parts = PurePosixPath(text.replace("\\", "/")).parts
    if ".." in parts:
        raise InvalidValueError(f"{where}: output folder {text!r} leaves the output folder")
    return PurePosixPath(*[part for part in parts if part not in ("", ".")])


def _mirrored(path: Path, root: Path) -> PurePosixPath:
    relative = path.resolve().parent.relative_to(root.resolve())
    return PurePosixPath(*relative.parts)


def _from_file(path: Path) -> Item:
    cwd = Path.cwd().resolve()
    parent = path.resolve().parent
    root = cwd if parent.is_relative_to(cwd) else parent
    return Item(path, _mirrored(path, root))


def _walk(folder: Path) -> list[Item]:
    suffixes = audio_suffixes()
    found = []
    for directory, subfolders, files in os.walk(folder):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        for name in sorted(files):
            if name.startswith(".") or not name.lower().endswith(suffixes):
                continue
            path = Path(directory) / name
            found.append(Item(path, _mirrored(path, folder)))
    return found


def _glob_root(pattern: str) -> Path:
    parts = Path(pattern).parts
    fixed = []
    for part in parts:
        if _GLOB_CHARACTERS & set(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def _from_glob(pattern: str) -> list[Item]:
    root = _glob_root(pattern)
    paths = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
    if not paths:
        raise MissingFileError(f"{display(pattern)}: no file matches this pattern")
    return [Item(path, _mirrored(path, root)) for path in paths]


def _manifest_rows(path: Path) -> list[tuple[int, dict]]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidValueError(f"{display(path)}: a manifest is UTF-8 text") from None
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        if reader.fieldnames is None or "path" not in reader.fieldnames:
            raise InvalidValueError(
                f"{display(path)}: a manifest needs a header with a 'path' column "
                f"(and optionally 'preset', 'output'); found {reader.fieldnames}"
            )
        return [(index + 2, row) for index, row in enumerate(reader)]
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
        if not isinstance(row, dict):
            raise InvalidValueError(f"{display(path)}: line {number}: expected a JSON object")
        rows.append((number, row))
    return rows


def _from_manifest(path: Path) -> list[Item]:
    base = path.parent
    items = []
    for line, row in _manifest_rows(path):
        where = f"{display(path)}: line {line}"
        unknown = sorted(set(row) - {"path", "preset", "output"})
        if unknown:
            raise InvalidValueError(
                f"{where}: unknown column {unknown[0]!r} (columns: path, preset, output)"
            )
        text = row.get("path")
        if not isinstance(text, str) or not text:
            raise InvalidValueError(f"{where}: 'path' must name an audio file")
        track = base / text
        preset = row.get("preset") or None
        if preset is not None:
            if not isinstance(preset, str):
                raise InvalidValueError(f"{where}: 'preset' must be a file or a preset's name")
            if preset.endswith((".yaml", ".yml")) and not Path(preset).is_absolute():
                preset = str(base / preset)
        output = row.get("output") or None
        if output is not None:
            if not isinstance(output, str):
                raise InvalidValueError(f"{where}: 'output' must be a folder name")
            folder = _safe_folder(output, where)
        else:
            folder = (
                _mirrored(track, base)
                if track.resolve().parent.is_relative_to(base.resolve())
                else PurePosixPath()
            )
        items.append(Item(track, folder, preset))
    return items


def find_tracks(inputs: Sequence[str | os.PathLike[str]]) -> list[Item]:
    """Every track the inputs name, in order, each once (the first mention wins).

    Raises :class:`~stemboard.errors.MissingFileError` for a file, folder or pattern that finds
    nothing, and ``ValueError`` for a broken manifest. Files are not opened here: a corrupt one
    fails as its own track, when it is rendered.
    """
    items: list[Item] = []
    for given in inputs:
        text = os.fspath(given)
        path = Path(text)
        if path.is_dir():
            found = _walk(path)
            if not found:
                raise MissingFileError(f"{display(path)}: no audio files in this folder")
            items.extend(found)
        elif path.is_file() and path.suffix.lower() in MANIFEST_SUFFIXES:
            items.extend(_from_manifest(path))
        elif path.is_file():
            items.append(_from_file(path))
        elif _GLOB_CHARACTERS & set(text):
            items.extend(_from_glob(text))
        else:
            raise MissingFileError(f"{display(path)}: no such file, folder or pattern")
    return _first_mentions(items)


def _first_mentions(items: Iterable[Item]) -> list[Item]:
    seen: set[Path] = set()
    unique = []
    for item in items:
        key = item.input.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(item)
    return unique
