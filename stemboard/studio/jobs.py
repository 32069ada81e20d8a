"""The studio's background jobs: separations and exports, one at a time, with progress.

The model uses every core it is given, so jobs run one after another on a single worker
thread, in the order they were asked for. A job reports its progress through the callback the
render code already takes; the same callback is where a job stops when the studio closes (it
raises :class:`Cancelled` inside the render, whose files are then removed as on Ctrl-C).

Example::

    runner = JobRunner()
    job = runner.submit("separate", lambda progress: separate(progress))
    runner.get(job.id).state        # "queued", "running", "done" or "failed"
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from stemboard.errors import StemboardError

log = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"

Work = Callable[[Callable[[float], None]], list[tuple[str, Path]]]
"""A job's work: called with a progress callback, returns the files it made (name, path)."""


class Cancelled(Exception):
    """Raised inside a job's work when the studio closes."""


@dataclass
class Job:
    """One background job and what became of it."""

    id: str
    kind: str
    state: str = QUEUED
    progress: float = 0.0
    error: str | None = None
    files: list[tuple[str, Path]] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "progress": round(self.progress, 4),
            "error": self.error,
            "files": [
                {"name": name, "path": str(path), "url": f"api/exports/{self.id}/{index}"}
                for index, (name, path) in enumerate(self.files)
            ],
        }


def finished(kind: str) -> Job:
    """A job that had nothing to do (its result was already there)."""
    return Job(secrets.token_hex(8), kind, state=DONE, progress=1.0)


class JobRunner:
    """A queue of jobs and the one thread that runs them."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self._work: dict[str, Work] = {}
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stemboard-studio-jobs", daemon=True)
        self._thread.start()

    def submit(self, kind: str, work: Work) -> Job:
        """Queue ``work``; the job is returned at once."""
        if self._closing.is_set():
            raise StemboardError("the studio is closing")
        job = Job(secrets.token_hex(8), kind)
        self.jobs[job.id] = job
        self._work[job.id] = work
        self._queue.put(job.id)
        return job

    def add(self, job: Job) -> Job:
        """Keep a job made elsewhere (see :func:`finished`) so it can be looked up."""
        self.jobs[job.id] = job
        return job

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def close(self, timeout: float = 60.0) -> None:
        """Stop: queued jobs fail, the running one is cancelled; waits up to ``timeout``."""
        self._closing.set()
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while (job_id := self._queue.get()) is not None:
            job, work = self.jobs[job_id], self._work.pop(job_id)
            if self._closing.is_set():
                job.state, job.error = FAILED, "cancelled: the studio closed"
                continue
            job.state = RUNNING

            def progress(fraction: float, job: Job = job) -> None:
                if self._closing.is_set():
                    raise Cancelled
                job.progress = max(job.progress, min(1.0, fraction))

            try:
                job.files = work(progress)
            except Cancelled:
                job.state, job.error = FAILED, "cancelled: the studio closed"
            except StemboardError as error:
                job.state, job.error = FAILED, str(error)
            except Exception as error:  # a bug: the page says so, the log has the traceback
                log.exception("studio job %s (%s) failed", job.id, job.kind)
                job.state, job.error = FAILED, f"{type(error).__name__}: {error}"
            else:
                job.state, job.progress = DONE, 1.0
        while not self._queue.empty():
            job_id = self._queue.get()
            if job_id is not None and (job := self.jobs.get(job_id)) is not None:
                job.state, job.error = FAILED, "cancelled: the studio closed"
