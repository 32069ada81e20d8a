"""What stemboard writes on stderr: one line per message, ``stemboard: warning: ...``.

The command line's own messages and the records of the ``stemboard`` logger (a runtime that
falls back to fp32, what ``-v`` adds) take the same form, also in batch worker processes.

Example::

    with log_to_stderr(verbose=True):        # INFO and up, e.g. what runs each model
        node = SeparatorNode("demo")
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

LOGGER = "stemboard"


def printable(text: object) -> str:
    """``text`` printable whatever the bytes of a file name in it: bytes that are not UTF-8
    as ``\\xNN``."""
    raw = str(text).encode("utf-8", "surrogateescape")
    return raw.decode("utf-8", "backslashreplace")


def say(message: object) -> None:
    """One line on stderr (the stream of the moment, so a test's capture sees it)."""
    print(printable(message), file=sys.stderr, flush=True)


class OneLineHandler(logging.Handler):
    """Log records as ``stemboard: warning: ...`` (``error:`` for errors, nothing for INFO)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = " ".join(record.getMessage().split("\n"))
        except Exception:  # a bad format string in a record: logging's own report
            self.handleError(record)
            return
        if record.levelno >= logging.ERROR:
            say(f"stemboard: error: {message}")
        elif record.levelno >= logging.WARNING:
            say(f"stemboard: warning: {message}")
        else:
            say(f"stemboard: {message}")


def install(level: int) -> OneLineHandler:
    """Send the ``stemboard`` logger's records of ``level`` and up to stderr, one line each,
    and nowhere else; the handler (a worker process keeps it for its life)."""
    logger = logging.getLogger(LOGGER)
    handler = OneLineHandler()
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return handler


def stderr_level() -> int | None:
    """The level :func:`install` set in this process, or None when the records are not
    being written as one-line messages (a library user's own logging)."""
    logger = logging.getLogger(LOGGER)
    if any(isinstance(handler, OneLineHandler) for handler in logger.handlers):
        return logger.getEffectiveLevel()
    return None


@contextmanager
def log_to_stderr(verbose: bool = False) -> Iterator[None]:
    """:func:`install` for the duration: INFO and up with ``verbose``, else WARNING and up;
    the logger is as it was afterwards."""
    logger = logging.getLogger(LOGGER)
    previous = (logger.level, logger.propagate)
    handler = install(logging.INFO if verbose else logging.WARNING)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous[0])
        logger.propagate = previous[1]
