"""Exceptions a user can cause: the CLI prints them as one line and exits non-zero."""

from __future__ import annotations


class StemboardError(Exception):
    """A problem with the user's input (a file, a name, a value), explained in its message."""


class CheckpointError(StemboardError):
    """A weights file that cannot be used: missing, truncated, wrong format or architecture."""


class ModelFormatError(StemboardError):
    """An ONNX file that does not follow stemboard's model contract."""


class VerificationError(StemboardError):
    """An exported graph whose output does not match PyTorch closely enough."""
