"""A catalogue's tracks from what the user names: files, folders, glob patterns and manifests.

Each track keeps the folder it was found under (its *root*), so that its outputs mirror its
path below that root: ``music/a/01 Intro.mp3`` and ``music/b/01 Intro.mp3`` (found under
``music/``) render into ``OUT/a/01 Intro/`` and ``OUT/b/01 Intro/`` and never collide.

- a **file** is rooted at the current folder when it lies below it (``a/01.wav`` ->
  ``OUT/a/01/``), otherwise at its own folder;
- a **folder** is walked recursively for the formats pedalboard reads, rooted at itself
  (links to folders are not followed, so a link loop is no trouble);
- a **glob pattern** (``music/**/*.flac``) is rooted at its longest folder without wildcards;
- a **manifest** (see :mod:`stemboard.batch.manifests`) lists tracks with a ``path`` (relative
  to the manifest's folder, which is their root) and optionally a ``preset`` and an ``output``
  folder below ``OUT`` instead of the mirrored path.

Files are not opened here, only looked at: a track that is not a regular file (a named pipe, a
device, a symbolic link loop or a broken link) keeps its :attr:`Item.problem`, and fails alone
without a worker ever opening it.

Example::

    items = find_tracks(["music/", "extra/*.mp3", "list.csv"])
    items[0].input, items[0].folder          # Path('music/a/01 Intro.mp3'), PurePath('a')
"""

from __future__ import annotations

import dataclasses
import errno
import glob
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pedalboard.io import get_supported_read_formats

from stemboard.audio.reading import display
from stemboard.batch.manifests import manifest_rows, safe_folder
from stemboard.errors import MissingFileError
from stemboard.input_files import kind_of

MANIFEST_SUFFIXES = (".csv", ".jsonl")
_GLOB_CHARACTERS = set("*?[")


@dataclass(frozen=True)
class Item:
    """One track to render: its file, the folder below the output folder it renders into, the
    preset it uses instead of the batch's (from a manifest), and why it cannot be read (None
    for a regular file)."""

    input: Path
    folder: PurePosixPath
    preset: str | None = None
    problem: str | None = None

    @property
    def key(self) -> str:
        """The absolute path with every link resolved: the ledger's key for the track."""
        return os.path.realpath(self.input)


def audio_suffixes() -> tuple[str, ...]:
    """The file suffixes a folder walk picks up: what pedalboard reads here."""
    return tuple(sorted(set(get_supported_read_formats())))


def problem_of(path: Path) -> str | None:
    """Why ``path`` cannot be read as an audio file without opening it; None for a regular
    file (links followed)."""
    try:
        mode = path.stat().st_mode
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "a symbolic link loop"
        if isinstance(error, FileNotFoundError):
            return "a broken symbolic link" if os.path.islink(path) else "no such file"
        return f"cannot be read: {error.strerror}"
    kind = kind_of(mode)
    return None if kind is None else f"{kind}, not an audio file"


def _below(path: Path, root: Path) -> PurePosixPath | None:
    """The folder of ``path`` below ``root``, by the paths as written, else with every link
    resolved; None when it lies below neither."""
    for folder, base in (
        (Path(os.path.abspath(path)).parent, Path(os.path.abspath(root))),
        (Path(os.path.realpath(path)).parent, Path(os.path.realpath(root))),
    ):
        if folder.is_relative_to(base):
            return PurePosixPath(*folder.relative_to(base).parts)
    return None


def _from_file(path: Path) -> Item:
    return Item(path, _below(path, Path.cwd()) or PurePosixPath())


def _walk(folder: Path) -> list[Item]:
    suffixes = audio_suffixes()
    found = []
    for directory, subfolders, files in os.walk(folder):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        for name in sorted(files):
            if name.startswith(".") or not name.lower().endswith(suffixes):
                continue
            path = Path(directory) / name
            found.append(Item(path, PurePosixPath(*Path(directory).relative_to(folder).parts)))
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
    paths = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if not Path(p).is_dir())
    if not paths:
        raise MissingFileError(f"{display(pattern)}: no file matches this pattern")
    return [Item(path, _below(path, root) or PurePosixPath()) for path in paths]


def _from_manifest(path: Path) -> list[Item]:
    base = path.parent
    items = []
    for line, row in manifest_rows(path):
        track = base / row["path"]
        preset = row["preset"]
        if (
            preset is not None
            and preset.endswith((".yaml", ".yml"))
            and not Path(preset).is_absolute()
        ):
            preset = str(base / preset)
        if row["output"] is not None:
            folder = safe_folder(row["output"], f"{display(path)}: line {line}")
        else:
            folder = _below(track, base) or PurePosixPath()
        items.append(Item(track, folder, preset))
    return items


def _named(text: str) -> list[Item]:
    """What one input holds: a folder's audio files, a manifest's tracks, a file (or something
    that is not one: it fails alone), or the files a pattern matches."""
    path = Path(text)
    if path.is_dir():
        found = _walk(path)
        if not found:
            raise MissingFileError(f"{display(path)}: no audio files in this folder")
        return found
    if path.is_file() and path.suffix.lower() in MANIFEST_SUFFIXES:
        return _from_manifest(path)
    if os.path.lexists(path):
        return [_from_file(path)]
    if _GLOB_CHARACTERS & set(text):
        return _from_glob(text)
    raise MissingFileError(f"{display(text)}: no such file, folder or pattern")


def find_tracks(inputs: Sequence[str | os.PathLike[str]]) -> list[Item]:
    """Every track the inputs name, in order, each once (the first mention wins), each with
    its :attr:`Item.problem` when it is not a regular file.

    Raises :class:`~stemboard.errors.MissingFileError` for a file, folder or pattern that finds
    nothing, and ``ValueError`` for a broken manifest.
    """
    items = [item for given in inputs for item in _named(os.fspath(given))]
    return [
        dataclasses.replace(item, problem=problem_of(item.input)) for item in _first_mentions(items)
    ]


def _first_mentions(items: Iterable[Item]) -> list[Item]:
    seen: set[str] = set()
    unique = []
    for item in items:
        if item.key not in seen:
            seen.add(item.key)
            unique.append(item)
    return unique
