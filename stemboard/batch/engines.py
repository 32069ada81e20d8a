"""Where a batch's tracks run: worker processes on this machine, or Ray actors on a cluster.

Both engines know nothing of audio: they hand a :class:`~stemboard.batch.work.Task` to a worker
that holds a :class:`~stemboard.batch.work.Renderer`, and report what came back. Each worker
renders one track at a time and keeps its model loaded between tracks.

- :class:`LocalEngine`: the standard library's ``ProcessPoolExecutor``, one single-process pool
  per worker, so that a worker that dies (killed, out of memory) costs only its own track: its
  pool breaks, its task comes back as *lost*, and a fresh pool takes its place.
- :class:`RayEngine`: one long-lived Ray actor per worker (``num_gpus`` each when asked), on
  ``ray.init(address=...)``: ``"auto"`` joins a running cluster, None starts a local one (bound to
  127.0.0.1). An actor that dies reports its task lost and is replaced.

Every finished task is a :class:`Finished`: a result, a user error (the track fails, no retry:
the file would fail again) or *lost* (the worker vanished: the driver may retry). ``stop()``
abandons the running tasks: local workers get SIGTERM (their renders remove their temporary
files) and are killed after a grace period; Ray actors are killed. The driver then removes any
temporary file left behind.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
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
from typing import Any

from stemboard.batch.work import Renderer, Task, Work
from stemboard.console import install, stderr_level
from stemboard.errors import StemboardError

STOP_GRACE_SECONDS = 3.0


@dataclass(frozen=True)
class Finished:
    """A task that came back: exactly one of ``result``, ``error`` and ``lost`` is set."""

    task_id: int
    result: dict | None = None
    error: str | None = None
    lost: str | None = None


class WorkerStopped(BaseException):
    """SIGTERM in a worker: raised in its main thread so every ``with`` block cleans up."""


# -- what runs inside a worker --------------------------------------------------------------------

_renderer: Renderer | None = None


def _start_worker(work: Work, pids: Any, slot: int, log_level: int | None) -> None:
    """A worker process starts: Ctrl-C is the driver's to handle, SIGTERM stops the render;
    with ``log_level`` its log lines go to stderr as the driver's do (see
    :mod:`stemboard.console`)."""
    global _renderer
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if log_level is not None:
        install(log_level)

    def stop(number: int, frame: object) -> None:
        raise WorkerStopped()

    signal.signal(signal.SIGTERM, stop)
    _renderer = Renderer(work)
    pids.put((slot, os.getpid()))


def _render(task: Task) -> dict:
    """One track in a worker; a user error comes back as ``{"error": one line}``."""
    try:
        return _renderer.render(task)
    except StemboardError as error:
        return {"error": str(error).splitlines()[0], "pid": os.getpid()}


# -- the local engine ---------------------------------------------------------------------------


@dataclass
class _Slot:
    executor: ProcessPoolExecutor
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
        self._slots = [self._fresh(index) for index in range(workers)]

    def _fresh(self, index: int) -> _Slot:
        executor = ProcessPoolExecutor(
            max_workers=1,
            mp_context=self._context,
            initializer=_start_worker,
            initargs=(self.work, self._pids, index, self._log_level),
        )
        return _Slot(executor)

    def free(self) -> int:
        """How many workers are idle."""
        return sum(slot.future is None for slot in self._slots)

    def submit(self, task_id: int, task: Task) -> None:
        slot = next(slot for slot in self._slots if slot.future is None)
        slot.task_id = task_id
        slot.future = slot.executor.submit(_render, task)

    def worker_pids(self) -> dict[int, int]:
        """Running task id -> the pid of the worker rendering it (as far as known)."""
        self._read_pids()
        return {
            slot.task_id: slot.pid
            for slot in self._slots
            if slot.future is not None and slot.pid is not None
        }

    def _read_pids(self) -> None:
        with contextlib.suppress(queue.Empty):
            while True:
                index, pid = self._pids.get_nowait()
                self._slots[index].pid = pid

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
            finished.append(self._collect(slot))
            if finished[-1].lost is not None:
                slot.executor.shutdown(wait=False, cancel_futures=True)
                self._slots[index] = self._fresh(index)
            else:
                slot.future, slot.task_id = None, None
        return finished

    def _collect(self, slot: _Slot) -> Finished:
        try:
            result = slot.future.result()
        except BrokenProcessPool:
            return Finished(slot.task_id, lost="its worker process died")
        except Exception as error:  # a bug, or out of memory: the same again would fail too
            return Finished(slot.task_id, error=f"{type(error).__name__}: {error}".splitlines()[0])
        if "error" in result:
            return Finished(slot.task_id, error=result["error"])
        return Finished(slot.task_id, result=result)

    def stop(self) -> list[int]:
        """Abandon the running tasks (returned) and end every worker."""
        self._read_pids()
        abandoned = [slot.task_id for slot in self._slots if slot.future is not None]
        busy = [slot for slot in self._slots if slot.future is not None and slot.pid]
        _signal_all([slot.pid for slot in busy], signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
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


def _signal_all(pids: Iterable[int], number: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, number)


# -- the Ray engine -----------------------------------------------------------------------------

RAY_INSTALL = "the ray engine needs Ray: pip install 'stemboard[ray]'"


def import_ray() -> Any:
    """Ray, or a one-line error saying how to install it."""
    try:
        import ray
    except ModuleNotFoundError as error:
        if error.name != "ray":
            raise
        raise StemboardError(RAY_INSTALL) from None
    return ray


class _Actor:
    """The body of a Ray worker: a renderer kept alive between tracks, with as many
    onnxruntime threads as the CPUs Ray gave it (not every core of its node)."""

    def __init__(self, work: Work):
        import ray

        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
        if work.threads is None and cpus:
            work = dataclasses.replace(work, threads=max(1, int(cpus)))
        self.renderer = Renderer(work)

    def pid(self) -> int:
        return os.getpid()

    def render(self, task: Task) -> dict:
        try:
            return self.renderer.render(task)
        except StemboardError as error:
            return {"error": str(error).splitlines()[0], "pid": os.getpid()}


class RayEngine:
    """``workers`` Ray actors, each with ``cpus`` CPUs and ``gpus`` GPUs (fractions allowed)."""

    name = "ray"

    def __init__(
        self,
        work: Work,
        workers: int,
        *,
        address: str | None = None,
        cpus: float = 1.0,
        gpus: float = 0.0,
    ):
        self.ray = ray = import_ray()
        self.work = work
        self.workers = workers
        self._started_ray = not ray.is_initialized()
        if self._started_ray:
            options: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,
                "logging_level": logging.ERROR,
            }
            if address is None:  # a local cluster of this machine, reachable from it only
                options["_node_ip_address"] = "127.0.0.1"
            try:
                ray.init(address=address, **options)
            except Exception as error:  # Ray raises ConnectionError, RuntimeError, ValueError...
                where = f"the Ray cluster at {address}" if address else "a local Ray cluster"
                raise StemboardError(
                    f"cannot start or reach {where}: {str(error).strip().splitlines()[0]}"
                ) from None
        self._actor_class = ray.remote(num_cpus=cpus, num_gpus=gpus)(_Actor)
        self._actors = [self._actor_class.remote(work) for _ in range(workers)]
        self._running: dict[Any, tuple[int, int]] = {}  # object ref -> (actor index, task id)

    def free(self) -> int:
        return self.workers - len(self._running)

    def submit(self, task_id: int, task: Task) -> None:
        busy = {index for index, _ in self._running.values()}
        index = next(i for i in range(self.workers) if i not in busy)
        self._running[self._actors[index].render.remote(task)] = (index, task_id)

    def worker_pids(self) -> dict[int, int]:
        pids = {}
        for index, task_id in self._running.values():
            with contextlib.suppress(Exception):
                pids[task_id] = self.ray.get(self._actors[index].pid.remote(), timeout=10)
        return pids

    def wait(self, timeout: float) -> list[Finished]:
        if not self._running:
            return []
        ready, _ = self.ray.wait(list(self._running), num_returns=1, timeout=timeout)
        finished = []
        for ref in ready:
            index, task_id = self._running.pop(ref)
            try:
                result = self.ray.get(ref)
            except (self.ray.exceptions.RayActorError, self.ray.exceptions.WorkerCrashedError):
                finished.append(Finished(task_id, lost="its Ray worker died"))
                self._actors[index] = self._actor_class.remote(self.work)
                continue
            except self.ray.exceptions.RayError as error:
                message = f"{type(error).__name__}: {error}".splitlines()[0]
                finished.append(Finished(task_id, error=message))
                continue
            if "error" in result:
                finished.append(Finished(task_id, error=result["error"]))
            else:
                finished.append(Finished(task_id, result=result))
        return finished

    def stop(self) -> list[int]:
        abandoned = [task_id for _, task_id in self._running.values()]
        self._running.clear()
        self.close()
        return abandoned

    def close(self) -> None:
        for actor in self._actors:
            with contextlib.suppress(Exception):
                self.ray.kill(actor, no_restart=True)
        self._actors = []
        if self._started_ray:
            self.ray.shutdown()
