"""The operating system's exclusive lock on an open file: ``flock`` on POSIX, ``msvcrt.locking``
on Windows. It goes with the process that holds it, however that process ends.

Used by the batch's output-folder lock and by the download of a pretrained checkpoint.
"""

from __future__ import annotations

import contextlib
import errno
import time
from collections.abc import Callable

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

_BUSY = (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK, errno.EDEADLK)


def try_lock(fd: int, unsupported: Callable[[OSError], None] | None = None) -> bool:
    """Lock ``fd`` without waiting; False while another process holds it. A file system that
    cannot lock (some network mounts) counts as locked, after calling ``unsupported`` with the
    error: the caller goes on unguarded rather than not at all."""
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError as error:
        if error.errno in _BUSY:
            return False
        if unsupported is not None:
            unsupported(error)
    return True


def wait_for_lock(fd: int, poll_s: float = 0.2) -> None:
    """Lock ``fd``, waiting as long as another process holds it."""
    if fcntl is not None:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX)
        return
    while not try_lock(fd):
        time.sleep(poll_s)
