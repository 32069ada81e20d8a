"""One batch at a time in an output folder: an exclusive lock next to the ledger.

Two runs writing one folder would remove each other's temporary files and record each other's
tracks as failed, so a run holds ``OUT/.stemboard/lock`` from the moment it opens the ledger to
its end, and a second run is refused in one line (:class:`FolderBusyError`). The lock is the
operating system's (``flock`` on POSIX, ``msvcrt.locking`` on Windows): it goes with the process
that holds it, however that process ends, so the lock of a run that was killed is simply taken
by the next one. The file holds the pid of the run that has it, for the message.

Example::

    with FolderLock.acquire(Path("out/.stemboard/lock")):
        ...                                          # only this run writes into out/
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from types import TracebackType

from stemboard.audio.reading import display
from stemboard.errors import DestinationError
from stemboard.file_lock import try_lock

log = logging.getLogger(__name__)


class FolderBusyError(DestinationError):
    """Another batch holds the output folder."""


def _cannot_lock(error: OSError) -> None:
    log.warning(
        "%s: cannot lock (%s); make sure no other batch writes here",
        error.filename or "the output folder",
        error.strerror or error,
    )


class FolderLock:
    """The held lock of an output folder; :meth:`release` (or the end of a ``with``) lets it
    go, and so does the end of the process."""

    def __init__(self, path: Path, fd: int):
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, path: Path) -> FolderLock:
        """The lock at ``path`` (created if missing), or :class:`FolderBusyError` naming the
        run that holds it."""
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise DestinationError(
                f"{display(path)}: cannot open the lock: {error.strerror or error}"
            ) from None
        if not try_lock(fd, _cannot_lock):
            holder = _holder(fd)
            os.close(fd)
            raise FolderBusyError(
                f"{display(path.parent.parent)}: another stemboard batch{holder} is writing into "
                "this output folder; wait for it to finish, or give this one another -o"
            )
        with contextlib.suppress(
            OSError, AttributeError
        ):  # for messages only; no pwrite on Windows
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(path, fd)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor lets the lock go

    def __enter__(self) -> FolderLock:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


def _holder(fd: int) -> str:
    """`` (pid N)`` from the lock file, or nothing when it cannot be read."""
    try:
        text = os.pread(fd, 32, 0).decode().strip()
    except (OSError, UnicodeDecodeError, AttributeError):  # no pread on Windows
        return ""
    return f" (pid {text})" if text.isdigit() else ""
