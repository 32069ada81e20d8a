"""The backend interface: a loaded model that turns ``[batch, 2, segment]`` into stems.

Every runtime implements :class:`Session` — onnxruntime on the GPU or the CPU
(:mod:`stemboard.node.ort_session`), OpenVINO on the CPU (:mod:`stemboard.node.openvino_session`)
— and :func:`stemboard.node.session.open_session` picks one. The overlap-add, streaming and file
code see only ``Session.run`` and ``Session.info``.

CPU sessions share the cores this process may use (:func:`usable_cores`): each run takes its
threads from one process-wide budget (:data:`CPU_BUDGET`), so two nodes running side by side
wait for each other instead of oversubscribing the machine.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from stemboard.model_format import ModelInfo


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity mask, not the machine's count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


class CpuBudget:
    """The process's CPU threads, shared by every CPU session's runs.

    Example::

        with CPU_BUDGET.share(2):      # blocks while other runs hold the cores
            session.run_now(batch)
    """

    def __init__(self, cores: int):
        self.cores = cores
        self.free = cores
        self.peak = 0  # the most threads ever in use at once (tests read it)
        self._changed = threading.Condition()

    @contextmanager
    def share(self, threads: int) -> Iterator[None]:
        wanted = max(1, min(threads, self.cores))
        with self._changed:
            self._changed.wait_for(lambda: self.free >= wanted)
            self.free -= wanted
            self.peak = max(self.peak, self.cores - self.free)
        try:
            yield
        finally:
            with self._changed:
                self.free += wanted
                self._changed.notify_all()


CPU_BUDGET = CpuBudget(usable_cores())


@dataclass
class Choice:
    """What runs a model: the runtime, where, in which arithmetic, and why."""

    backend: str
    device: str
    precision: str
    threads: int
    notes: list[str] = field(default_factory=list)


class Session:
    """One exported model loaded by one runtime. ``run`` is the only verb.

    Example::

        session = open_session("tiny.onnx", device="cpu")
        stems = session.run(batch)      # [batch, 2, segment] -> [batch, sources, 2, segment]
        print(session.describe())       # e.g. "openvino bf16 on the CPU, 2 threads (auto: ...)"
    """

    backend: ClassVar[str]

    def __init__(self, path: Path, info: ModelInfo, choice: Choice):
        self.path = path
        self.info = info
        self.device = choice.device
        self.precision = choice.precision
        self.threads = choice.threads
        self.notes = tuple(choice.notes)

    def run(self, batch: np.ndarray) -> np.ndarray:
        """``[batch, channels, segment]`` float32 -> ``[batch, sources, channels, segment]``."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if self.device != "cpu":
            return self.run_now(batch)
        with _budget().share(self.threads):
            return self.run_now(batch)

    def run_now(self, batch: np.ndarray) -> np.ndarray:
        """``run`` without waiting for the CPU budget (each runtime implements this)."""
        raise NotImplementedError

    @property
    def parallel_segments(self) -> int:
        """Segments this session runs at once: the batch size that keeps it busy on the CPU."""
        return 1

    def describe(self) -> str:
        """What runs, in one line: runtime, precision, device, threads and why."""
        where = "the GPU (CUDA)" if self.device == "cuda" else f"the CPU, {self.threads} threads"
        if self.parallel_segments > 1:
            where += f" in {self.parallel_segments} streams"
        text = f"{self.path.name}: {self.backend} {self.precision} on {where}"
        return text + "".join(f"; {note}" for note in self.notes)


def available(module: str) -> bool:
    """Whether a runtime's package is installed (without importing it); a module blocked with
    ``sys.modules[name] = None`` counts as absent."""
    try:
        return importlib.util.find_spec(module) is not None
    except ValueError:  # in sys.modules as None, or without a spec
        return False


def _budget() -> CpuBudget:
    return CPU_BUDGET
