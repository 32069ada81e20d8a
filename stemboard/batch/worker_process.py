"""What runs inside a local worker process: how it starts, how it stops, and one track.

A worker lives only as long as its driver. On Linux the kernel kills it the moment the driver
dies (``PR_SET_PDEATHSIG``), whatever killed the driver, ``SIGKILL`` included; on every
platform a thread also watches the driver (the pipe multiprocessing keeps to it) and ends the
worker when it closes. So a driver that is gone leaves no worker rendering into the folder, and
no render of a worker renames its files into place after it.

Signals: a worker starts with SIGINT and SIGTERM held back until its handlers are set. Ctrl-C
is the driver's to handle (it stops the batch); SIGTERM stops a render in progress — its
temporary files are removed on the way out, and the attempt comes back as
:class:`~stemboard.batch.work.Lost` — and ends an idle worker quietly. So a Ctrl-C at the
terminal, or ``kill -- -PGID`` (systemd, ``timeout``, Slurm), prints no traceback from any
process of the batch.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

from stemboard.batch.work import Lost, Outcome, Renderer, Task, Work
from stemboard.console import install

PR_SET_PDEATHSIG = 1
"""prctl(2): the signal this process gets when its parent dies (Linux)."""


class WorkerStopped(BaseException):
    """SIGTERM during a render: raised in the worker's main thread so that every ``with``
    block cleans up."""


_renderer: Renderer | None = None
_rendering = False


def start_worker(work: Work, pids: Any, token: int, log_level: int | None, driver_pid: int) -> None:
    """A worker process starts (the pool's initializer): it dies with its driver, leaves
    Ctrl-C to the driver, stops on SIGTERM; with ``log_level`` its log lines go to stderr as
    the driver's do (see :mod:`stemboard.console`). It reports its pid to the driver, with
    the ``token`` of its pool."""
    global _renderer
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stop)
    if hasattr(signal, "pthread_sigmask"):  # held back since the start: see signals_held
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _HELD)
    die_with_driver(driver_pid)
    if log_level is not None:
        install(log_level)
    _renderer = Renderer(work)
    pids.put((token, os.getpid()))


_HELD = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM held back in this thread of the driver while it starts worker
    processes: a new process inherits the mask, so a Ctrl-C at the terminal (which goes to
    every process of its group) cannot end a worker that is still importing with a traceback.
    The worker lets them through once its handlers are set (:func:`start_worker`); the driver
    gets what came meanwhile as the block ends."""
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no process groups to signal
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def die_with_driver(driver_pid: int) -> None:
    """End this process when the driver (its parent, ``driver_pid``) ends."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != driver_pid:  # it died before the line above took effect
        os._exit(1)
    parent = multiprocessing.parent_process()
    if parent is not None:
        watch = threading.Thread(target=_exit_with, args=(parent,), daemon=True)
        watch.start()


def _exit_with(parent: multiprocessing.process.BaseProcess) -> None:
    """Wait for the driver to end, then end this process at once: nothing it would still do
    (a rename into place) is wanted any more."""
    parent.join()
    os._exit(1)


def _stop(number: int, frame: object) -> None:
    """SIGTERM: stop the render in progress, or end an idle worker (it has nothing to clean
    up, and an exception outside a render would print a traceback)."""
    if _rendering:
        raise WorkerStopped()
    os._exit(0)


def render(task: Task) -> Outcome:
    """One track in a worker (see :meth:`~stemboard.batch.work.Renderer.attempt`); a render
    stopped by SIGTERM comes back as :class:`~stemboard.batch.work.Lost`."""
    global _rendering
    try:
        _rendering = True
        return _renderer.attempt(task)
    except WorkerStopped:
        return Lost("its worker process was stopped (SIGTERM)")
    finally:
        _rendering = False
