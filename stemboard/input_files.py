"""Files stemboard reads from a path a user gave: regular files only, refused in one line
otherwise.

A FIFO, a device or a socket named like an audio file, a preset or a model would make the
reader block or read forever; a folder would give a confusing error later. Every reader of a
user's file (models, presets, audio inputs, batch catalogues) asks :func:`regular_file` first,
which only looks at the file (``stat``), never opens it.

Example::

    path = regular_file("song.wav", "input")      # the path, or a MissingFileError / ValueError
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from stemboard.errors import InvalidValueError, MissingFileError

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def kind_of(mode: int) -> str | None:
    """What a file of ``st_mode`` is when it is not a regular file ("a folder", "a named pipe
    (FIFO)", ...); None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def regular_file(path: str | os.PathLike, what: str = "file") -> Path:
    """``path`` when it names a regular file (symbolic links followed); otherwise
    :class:`~stemboard.errors.MissingFileError` (nothing there, or a broken link) or
    :class:`~stemboard.errors.InvalidValueError` saying what it is instead."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise MissingFileError(f"{path}: no such {what}") from None
    except OSError as error:
        raise InvalidValueError(f"{path}: cannot read this {what}: {error.strerror}") from None
    kind = kind_of(mode)
    if kind is not None:
        raise InvalidValueError(f"{path}: is {kind}, not a {what}")
    return path
