"""A batch being executed: where every track stands, and how the driver stops.

:class:`RunState` holds the plan, the ledger and each track's entry of the report, and has the
driver's steps: sort the tracks out (refused, done before, to do), dispatch them to idle
workers, record what comes back, abandon what still runs when the batch stops.
:func:`stop_on_signals` turns SIGINT and SIGTERM into a flag the driver reads between steps.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from stemboard.atomic import remove_leftovers
from stemboard.batch.engines import Engine, Finished
from stemboard.batch.ledger import Key, Ledger, LedgerError
from stemboard.batch.planning import BatchPlan, PlannedTrack
from stemboard.batch.report import BatchReport, TrackReport
from stemboard.batch.work import Failed, Rendered, Task
from stemboard.digest import sha256_file
from stemboard.render import SESSION_KEY
from stemboard.sessions.writing import companion_folders


@dataclass(frozen=True)
class BatchProgress:
    """Where a running batch stands, for a progress line."""

    done: int
    skipped: int
    failed: int
    total: int
    audio_seconds: float
    elapsed: float
    eta: float | None

    def line(self) -> str:
        rate = self.audio_seconds / self.elapsed if self.elapsed else 0.0
        eta = "?" if self.eta is None else _clock(self.eta)
        return (
            f"{self.done + self.skipped + self.failed}/{self.total} tracks "
            f"({self.done} done, {self.skipped} skipped, {self.failed} failed), "
            f"{self.audio_seconds / 3600:.2f} h of audio, {rate:.1f}x realtime, ETA {eta}"
        )


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


@dataclass
class Stop:
    signal: str | None = None  # "SIGINT" or "SIGTERM" once one came


@contextlib.contextmanager
def stop_on_signals() -> Iterator[Stop]:
    """SIGINT and SIGTERM set ``stop.signal`` instead of raising, so the driver stops between
    two ledger writes; outside the main thread the signals are left alone."""
    stop = Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def stopping(number: int, frame: object) -> None:
        stop.signal = signal.Signals(number).name

    previous = {n: signal.signal(n, stopping) for n in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


class RunState:
    """A batch being executed: the plan, the ledger, each track's entry of the report, the
    tracks waiting (``todo``) and those at a worker (``running``; a task's id is its track's
    index)."""

    def __init__(
        self, plan: BatchPlan, ledger: Ledger, progress: Callable[[BatchProgress], None] | None
    ):
        self.plan, self.ledger, self.progress = plan, ledger, progress
        self.entries = [TrackReport(track.input, "stopped") for track in plan.tracks]
        self.todo: deque[int] = deque()
        self.partial: dict[int, Task] = {}  # tracks to do in part: the task of their missing files
        self.running: set[int] = set()
        self.started = time.perf_counter()

    @property
    def unfinished(self) -> bool:
        return bool(self.todo or self.running)

    def sort_out(self) -> None:
        """Each track is refused (not a regular file), skipped (done before), to do only in
        part (done before, but some of its files are missing) or to do."""
        for index, track in enumerate(self.plan.tracks):
            if track.item.problem is not None:
                self.ledger.pending(self._key(track, -1), 0)
                self._fail(index, track.item.problem)
                continue
            missing = None if self.plan.options.overwrite else self._missing(index, track)
            if missing == ():
                continue
            if missing is not None:
                self.partial[index] = dataclasses.replace(track.task, targets=missing)
            size, mtime_ns = _size_and_time(track.input)
            self.ledger.pending(self._key(track, size), mtime_ns)
            self.todo.append(index)

    def _missing(self, index: int, track: PlannedTrack) -> tuple[tuple[str, str], ...] | None:
        """The files left to make of a track the ledger has done from this very input, model
        and options: none (then it is skipped), or those missing — a file deleted since, or a
        DAW session asked for since (its kind is no option of the hash). None when the track
        is to be rendered whole.

        The input's sha256 is read from the ledger while the file's size and modification
        time are unchanged (a million files are not read again to be skipped); a file whose
        time changed is hashed here, and skipped if its content did not change. A track to
        render gets its hash from the worker, which reads the file anyway.
        """
        row = self.ledger.get(track.input)
        size, mtime_ns = _size_and_time(track.input)
        if row is None or row.status != "done" or not row.outputs or row.key.size != size:
            return None
        digest = row.key.input_sha256
        if row.mtime_ns != mtime_ns:
            try:
                digest = sha256_file(track.item.input)
            except OSError:
                return None
        key = self._key(track, size, digest)
        if row.key != key:
            return None
        missing = tuple(
            (name, path) for name, path in track.task.targets if not _present(name, Path(path))
        )
        if missing:
            return missing
        self.ledger.seen(key, mtime_ns)
        self.entries[index] = TrackReport(
            track.input,
            "skipped",
            row.attempts,
            None,
            row.wall_seconds,
            row.audio_seconds,
            list(row.outputs),
        )
        return ()

    def _key(self, track: PlannedTrack, size: int, input_sha256: str = "") -> Key:
        return Key(track.input, size, input_sha256, track.model_sha256, track.options_sha256)

    def dispatch(self, engine: Engine, stop: Stop) -> None:
        """Hand waiting tracks to idle workers, from a clean slate (no temporary file)."""
        while self.todo and engine.free() and stop.signal is None:
            index = self.todo.popleft()
            track = self.plan.tracks[index]
            _remove_leftovers(track)
            self.ledger.start(track.input)
            self.entries[index].attempts += 1
            self.running.add(index)
            engine.submit(index, self.partial.get(index, track.task))

    def record(self, finished: Finished) -> None:
        """What came back: done, failed for good, or lost (tried again while attempts last)."""
        index, outcome = finished.task_id, finished.outcome
        self.running.discard(index)
        track, entry = self.plan.tracks[index], self.entries[index]
        if isinstance(outcome, Rendered):
            # a track made in part has all its files now, those made before included
            outputs = tuple(path for _, path in track.task.targets)
            self.ledger.finish(
                track.input,
                outputs,
                outcome.wall_seconds,
                outcome.audio_seconds,
                outcome.input_sha256,
            )
            entry.status, entry.error = "done", None
            entry.wall_seconds, entry.audio_seconds = outcome.wall_seconds, outcome.audio_seconds
            entry.outputs = list(outputs)
        elif isinstance(outcome, Failed):
            self._fail(index, outcome.reason)
        else:
            _remove_leftovers(track)
            if entry.attempts <= self.plan.options.retries:
                self.ledger.back_to_pending(track.input, outcome.reason)
                self.todo.appendleft(index)
            else:
                self._fail(index, f"{outcome.reason} on each of {entry.attempts} attempts")
        self.show_progress()

    def _fail(self, index: int, reason: str) -> None:
        self.ledger.fail(self.plan.tracks[index].input, reason)
        self.entries[index].status, self.entries[index].error = "failed", reason

    def abandon(self, engine: Engine | None) -> None:
        """End the engine; what was still at a worker goes back to pending, without a file."""
        if engine is None:
            return
        abandoned = set(engine.stop() if self.running else [])
        if not self.running:
            engine.close()
        with contextlib.suppress(LedgerError):  # a broken ledger: its error is on its way
            for index in sorted(abandoned | self.running):
                _remove_leftovers(self.plan.tracks[index])
                self.ledger.back_to_pending(self.plan.tracks[index].input, "stopped")

    def show_progress(self) -> None:
        if self.progress is None:
            return
        elapsed = time.perf_counter() - self.started
        count = {status: 0 for status in ("done", "skipped", "failed", "stopped")}
        for entry in self.entries:
            count[entry.status] += 1
        processed = count["done"] + count["failed"]
        remaining = len(self.todo) + len(self.running)
        eta = elapsed / processed * remaining if processed else None
        audio = sum(e.audio_seconds or 0.0 for e in self.entries if e.status == "done")
        self.progress(
            BatchProgress(
                count["done"],
                count["skipped"],
                count["failed"],
                len(self.entries),
                audio,
                elapsed,
                eta,
            )
        )

    def report(self, interrupted: str | None) -> BatchReport:
        return BatchReport(
            str(self.plan.out_dir),
            self.plan.engine,
            self.plan.workers,
            time.perf_counter() - self.started,
            self.entries,
            interrupted,
        )


def _size_and_time(path: str) -> tuple[int, int]:
    """The file's size and modification time; ``(-1, 0)`` when it cannot be looked at."""
    try:
        stat = os.stat(path)
    except OSError:
        return -1, 0
    return stat.st_size, stat.st_mtime_ns


def _present(name: str, target: Path) -> bool:
    """Whether output ``name``'s file is there (with the folder a REAPER session comes with)."""
    return target.is_file() and all(folder.is_dir() for folder in _companions(name, target))


def _companions(name: str, target: Path) -> tuple[Path, ...]:
    if not name.startswith(SESSION_KEY):
        return ()
    return companion_folders(name.removeprefix(SESSION_KEY), target)


def _remove_leftovers(track: PlannedTrack) -> None:
    for name, path in track.task.targets:
        for target in (Path(path), *_companions(name, Path(path))):
            remove_leftovers(target)
