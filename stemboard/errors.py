"""Exceptions a user can cause: the CLI prints them as one line and exits non-zero.

Every one is a :class:`StemboardError`, the base the CLI catches. They also follow Python's
conventions, so code that does not know stemboard can catch them: a file that is not there is
a ``FileNotFoundError``, an output that would be replaced is a ``FileExistsError``, a bad value
(an option, a preset entry, a model file's contents, a broken audio file) is a ``ValueError``,
audio of the wrong type is a ``TypeError``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any


class StemboardError(Exception):
    """A problem with the user's input (a file, a name, a value), explained in its message."""


class MissingFileError(StemboardError, FileNotFoundError):
    """A file or folder the user named (a model, an input, a preset) does not exist."""


class OutputExistsError(StemboardError, FileExistsError):
    """An output file exists already and overwriting was not asked for."""


class DestinationError(StemboardError, OSError):
    """An output folder or file that cannot be written: not a folder, read-only, outside."""


class DiskFullError(DestinationError):
    """An output that could not be written because its device is full."""


class InvalidValueError(StemboardError, ValueError):
    """A value stemboard cannot use: an option, a setting, the contents of a file."""


class AudioTypeError(StemboardError, TypeError):
    """Audio given as something other than a float32/float64 numpy array."""


class AudioFileError(InvalidValueError):
    """An input audio file that cannot be used: undecodable, corrupt, NaN inside, too many
    channels, or content that contradicts its file name."""


class GraphError(InvalidValueError):
    """A mixer graph setting out of its rules: routing, gain, pan, tail, a chain."""


class PresetError(InvalidValueError):
    """A preset that cannot be used; the message names the file, the key path and the problem."""


class PresetNotFoundError(PresetError, MissingFileError):
    """A preset file or shipped preset name that does not exist."""


class CheckpointError(InvalidValueError):
    """A weights file that cannot be used: truncated, wrong format or architecture."""


class CheckpointNotFoundError(CheckpointError, MissingFileError):
    """A weights file that is not there."""


class ModelFormatError(InvalidValueError):
    """An ONNX file that does not follow stemboard's model contract."""


class ModelNotFoundError(MissingFileError):
    """A model file that is not there; the message says which command makes it."""


class VerificationError(StemboardError):
    """An exported graph whose output does not match PyTorch closely enough."""


def format_value(value: Any) -> str:
    """A value as an error message shows it: YAML words for YAML things, short, one line.

    >>> format_value(True), format_value(None), format_value({"a": 1}), format_value(0.5)
    ('true', 'null', 'a mapping', '0.5')
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, int) and value.bit_length() > 13_000:  # repr refuses over 4300 digits
        return f"an integer of {int(value.bit_length() * 0.30103) + 1} digits"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"did you mean X? "`` for the choice closest to a mistyped ``word``, or ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"did you mean {close[0]}? " if close else ""
