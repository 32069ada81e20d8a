"""Where a batch's tracks run: worker processes on this machine (:class:`LocalEngine`), or Ray
actors on a cluster (:class:`~stemboard.batch.ray_engine.RayEngine`).

Both engines know nothing of audio: they hand a :class:`~stemboard.batch.work.Task` to a worker
that holds a :class:`~stemboard.batch.work.Renderer`, and report what came back. Each worker
renders one track at a time and keeps its model loaded between tracks. Both have the face
the driver needs, :class:`Engine`.

:class:`LocalEngine` is the standard library's ``ProcessPoolExecutor``, one single-process pool
per worker, so that a worker that dies (killed, out of memory) costs only its own track: its
pool breaks, its task comes back :class:`~stemboard.batch.work.Lost`, and a fresh pool takes its
place. Its workers die with the driver (:mod:`stemboard.batch.worker_process`). ``stop()``
sends the busy workers SIGTERM (their renders remove their temporary files) and kills them
after a grace period; the driver then removes any temporary file left behind.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import queue
import signal
import time
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor
from concurrent.futures import wait as wait_for
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Protocol

from stemboard.audio.reading import one_line
from stemboard.batch import worker_process
from stemboard.batch.work import Failed, Lost, Outcome, Task, Work
from stemboard.console import stderr_level

STOP_GRACE_SECONDS = 3.0


@dataclass(frozen=True)
class Finished:
    """A task that came back, and what it came to."""

    task_id: int
    outcome: Outcome


class Engine(Protocol):
    """What the driver needs of an engine."""

    def free(self) -> int:
        """How many workers are idle."""
        ...

    def submit(self, task_id: int, task: Task) -> None:
        """Hand ``task`` to an idle worker."""
        ...

    def wait(self, timeout: float) -> list[Finished]:
        """The tasks that finish within ``timeout`` seconds (maybe none)."""
        ...

    def stop(self) -> list[int]:
        """Abandon the running tasks (returned) and end every worker."""
        ...

    def close(self) -> None:
        """End every worker once the work is done."""
        ...


@dataclass
class _Slot:
    executor: ProcessPoolExecutor
    token: int  # which pool: a worker reports its pid with it
    future: Future | None = None
    task_id: int | None = None
    pid: int | None = None


class LocalEngine:
    """``workers`` worker processes on this machine (the standard library's process pool)."""

    name = "local"

    def __init__(self, work: Work, workers: int):
        self.work = work
        self.workers = workers
        self._context = multiprocessing.get_context("spawn")
        self._pids = self._context.Queue()
        self._log_level = stderr_level()
        self._tokens = itertools.count()
        self._slots = [self._fresh() for _ in range(workers)]

    def _fresh(self) -> _Slot:
        token = next(self._tokens)
        executor = ProcessPoolExecutor(
            max_workers=1,
            mp_context=self._context,
            initializer=worker_process.start_worker,
            initargs=(self.work, self._pids, token, self._log_level, os.getpid()),
        )
        return _Slot(executor, token)

    def free(self) -> int:
        """How many workers are idle."""
        return sum(slot.future is None for slot in self._slots)

    def submit(self, task_id: int, task: Task) -> None:
        index = next(i for i, slot in enumerate(self._slots) if slot.future is None)
        with worker_process.signals_held():  # a worker process may be started here
            try:
                future = self._slots[index].executor.submit(worker_process.render, task)
            except BrokenProcessPool:  # its idle worker died (a stray SIGTERM, the OOM killer)
                self._replace(index)
                future = self._slots[index].executor.submit(worker_process.render, task)
        self._slots[index].task_id, self._slots[index].future = task_id, future

    def _read_pids(self, timeout: float = 0.0) -> None:
        """The pids the workers reported (waiting up to ``timeout`` for a first one)."""
        slots = {slot.token: slot for slot in self._slots}
        with contextlib.suppress(queue.Empty):
            while True:
                token, pid = self._pids.get(timeout=timeout) if timeout else self._pids.get_nowait()
                timeout = 0.0
                if token in slots:  # not a pool replaced since
                    slots[token].pid = pid

    def wait(self, timeout: float) -> list[Finished]:
        """The tasks that finish within ``timeout`` seconds (maybe none)."""
        running = [slot.future for slot in self._slots if slot.future is not None]
        if not running:
            return []
        done, _ = wait_for(running, timeout=timeout, return_when=FIRST_COMPLETED)
        finished = []
        for index, slot in enumerate(self._slots):
            if slot.future is None or slot.future not in done:
                continue
            finished.append(Finished(slot.task_id, _outcome(slot.future)))
            if isinstance(finished[-1].outcome, Lost):
                self._replace(index)
            else:
                slot.future, slot.task_id = None, None
        return finished

    def _replace(self, index: int) -> None:
        self._slots[index].executor.shutdown(wait=False, cancel_futures=True)
        self._slots[index] = self._fresh()

    def stop(self) -> list[int]:
        """Abandon the running tasks (returned) and end every worker.

        A worker still starting is waited for (within the grace period) until it has set its
        signal handlers, so that it stops quietly rather than fail to start once the driver
        has gone (with a traceback from multiprocessing).
        """
        abandoned = [slot.task_id for slot in self._slots if slot.future is not None]
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        busy = [slot for slot in self._slots if slot.future is not None]
        self._read_pids()
        while time.monotonic() < deadline and any(
            slot.pid is None and not slot.future.done() for slot in busy
        ):
            self._read_pids(timeout=0.05)
        busy = [slot for slot in busy if slot.pid]
        _signal_all([slot.pid for slot in busy], signal.SIGTERM)
        futures = [slot.future for slot in busy]
        if futures:
            wait_for(futures, timeout=max(0.0, deadline - time.monotonic()))
        _signal_all([slot.pid for slot in busy if not slot.future.done()], signal.SIGKILL)
        self.close()
        return abandoned

    def close(self) -> None:
        """End every worker once the work is done."""
        for slot in self._slots:
            slot.executor.shutdown(wait=False, cancel_futures=True)
        self._pids.close()


def _outcome(future: Future) -> Outcome:
    """What a finished future came to: the worker's outcome, or what its end says."""
    try:
        return future.result()
    except BrokenProcessPool:
        return Lost("its worker process died")
    except worker_process.WorkerStopped:  # SIGTERM just outside the render's own handling
        return Lost("its worker process was stopped (SIGTERM)")
    except Exception as error:  # a bug, or out of memory: the same again would fail too
        return Failed(f"{type(error).__name__}: {one_line(error)}")


def _signal_all(pids: Iterable[int], number: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, number)
