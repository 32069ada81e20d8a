"""Ray actors as a batch's workers: one long-lived actor per worker (``num_gpus`` each when
asked), on ``ray.init(address=...)``: ``"auto"`` joins a running cluster, None starts a local
one (bound to 127.0.0.1). An actor that dies reports its task lost and is replaced; ``stop()``
kills the actors. Its face is :class:`~stemboard.batch.engines.LocalEngine`'s.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from typing import Any

from stemboard.audio.reading import one_line
from stemboard.batch.engines import Finished
from stemboard.batch.work import Failed, Lost, Outcome, Renderer, Task, Work
from stemboard.errors import StemboardError

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

    def render(self, task: Task) -> Outcome:
        return self.renderer.attempt(task)


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
                raise StemboardError(f"cannot start or reach {where}: {one_line(error)}") from None
        self._actor_class = ray.remote(num_cpus=cpus, num_gpus=gpus)(_Actor)
        self._actors = [self._actor_class.remote(work) for _ in range(workers)]
        self._running: dict[Any, tuple[int, int]] = {}  # object ref -> (actor index, task id)

    def free(self) -> int:
        return self.workers - len(self._running)

    def submit(self, task_id: int, task: Task) -> None:
        busy = {index for index, _ in self._running.values()}
        index = next(i for i in range(self.workers) if i not in busy)
        self._running[self._actors[index].render.remote(task)] = (index, task_id)

    def wait(self, timeout: float) -> list[Finished]:
        if not self._running:
            return []
        ready, _ = self.ray.wait(list(self._running), num_returns=1, timeout=timeout)
        finished = []
        for ref in ready:
            index, task_id = self._running.pop(ref)
            finished.append(Finished(task_id, self._outcome(ref, index)))
        return finished

    def _outcome(self, ref: Any, index: int) -> Outcome:
        exceptions = self.ray.exceptions
        try:
            return self.ray.get(ref)
        except (exceptions.RayActorError, exceptions.WorkerCrashedError):
            self._actors[index] = self._actor_class.remote(self.work)
            return Lost("its Ray worker died")
        except exceptions.RayError as error:
            return Failed(f"{type(error).__name__}: {one_line(error)}")

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
