"""The batch driver: plan a catalogue, skip what is done, hand the rest to an engine, keep the
ledger, stop cleanly, report.

Example::

    from stemboard.batch import run_batch
    report = run_batch(["music/"], "out/", preset="karaoke", model="demo")
    print(report.table())

Two steps, so that a command line can tell a usage error (exit 2) from failed tracks (exit 1):
:func:`plan_batch` checks everything that can be checked before any track runs — the output
folder, the inputs, the model (exported on first use), the presets, where every file goes and
that no two tracks write the same file — and hashes what each track depends on; :func:`execute`
runs the plan. :func:`run_batch` does both.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stemboard.atomic import remove_leftovers
from stemboard.audio.reading import display
from stemboard.batch.engines import LocalEngine, RayEngine, import_ray
from stemboard.batch.inputs import Item, find_tracks
from stemboard.batch.ledger import Key, Ledger
from stemboard.batch.report import BatchReport, TrackReport
from stemboard.batch.work import Models, Task, Work, job_for
from stemboard.choices import DEVICES, PRECISIONS
from stemboard.digest import sha256_file
from stemboard.errors import InvalidValueError
from stemboard.graph.preset_model import LATER_MODEL_KEYS, ModelSettings, preset_to_dict
from stemboard.model_format import ModelInfo, read_file_metadata
from stemboard.models import ensure_model
from stemboard.node.session import INT8_REFUSAL
from stemboard.node.stream import MAX_SHIFTS
from stemboard.render import Separation, check_destination

ENGINES = ("local", "ray")
DEFAULT_MODEL = "hdemucs_high_musdb_plus"
DEFAULT_RETRIES = 2


@dataclass(frozen=True)
class PlannedTrack:
    """A track of the plan: its item, what its files depend on, the files, and its task."""

    item: Item
    input: str  # the absolute path: the ledger's key
    model_sha256: str
    options_sha256: str
    targets: tuple[Path, ...]
    task: Task


@dataclass
class BatchPlan:
    """Everything :func:`execute` needs; made by :func:`plan_batch`."""

    out_dir: Path
    work: Work
    tracks: list[PlannedTrack]
    engine: str
    workers: int
    threads: int | None
    address: str | None
    gpus_per_worker: float
    retries: int
    overwrite: bool


@dataclass(frozen=True)
class Progress:
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


class _Sources:
    """What planning needs of a separator: its stem names (the model is not loaded)."""

    def __init__(self, sources: tuple[str, ...]):
        self.sources = sources


class _PlanningModels(Models):
    """:class:`~stemboard.batch.work.Models` with the model's stem names instead of the model;
    ``precisions`` collects the precisions the tracks ask for."""

    def __init__(self, work: Work, sources: tuple[str, ...]):
        super().__init__(work)
        self._sources = _Sources(sources)
        self.precisions: set[str] = set()

    def node(self, settings: ModelSettings | None = None) -> Any:
        self.precisions.add((settings or self.work.node_settings()).precision)
        return self._sources


def usable_cores() -> int:
    """The cores this process may run on (its affinity), not every core of the machine."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def gpu_count() -> int:
    """NVIDIA GPUs visible here (``CUDA_VISIBLE_DEVICES`` respected); 0 without a driver."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([part for part in visible.split(",") if part.strip() not in ("", "-1")])
    if shutil.which("nvidia-smi") is None:
        return 0
    try:
        listed = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(line.startswith("GPU ") for line in listed.stdout.splitlines())


WORKER_MEMORY_BYTES = 2 * 2**30
"""Memory to allow per CPU worker: one ``high`` worker peaked at 1.85 GB separating 30 s
(the demo model at 0.86 GB); docs/benchmarks.md."""


def available_memory() -> int | None:
    """Bytes of memory available for new work (Linux's MemAvailable), if known."""
    try:
        with open("/proc/meminfo") as file:
            for line in file:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def default_workers(device: str) -> int:
    """One worker per GPU on the GPU. On the CPU one single-threaded worker per usable core,
    which measured fastest (1.30x one worker with both cores on the demo model, 1.05x on
    ``high``: docs/benchmarks.md, ``benchmarks/batch_throughput.py``), as many as the
    available memory holds at :data:`WORKER_MEMORY_BYTES` each."""
    gpus = gpu_count() if device in ("cuda", "auto") else 0
    if gpus:
        return gpus
    memory = available_memory()
    fits = usable_cores() if memory is None else max(1, memory // WORKER_MEMORY_BYTES)
    return max(1, min(usable_cores(), fits))


def _options_hash(job: Any, work: Work) -> str:
    """What a track's files depend on besides the input and the model, as a sha256.

    A render's preset holds the precision, shifts and seed that run (see ``Models.graph``);
    a separation's are added where they are not the defaults, so ledgers written before they
    existed still match.
    """
    if isinstance(job, Separation):
        settings, defaults = work.node_settings(), ModelSettings()
        described: dict = {"separate": list(job.names), "overlap": settings.overlap}
        for key in LATER_MODEL_KEYS:
            if getattr(settings, key) != getattr(defaults, key):
                described[key] = getattr(settings, key)
    else:
        described = {
            "render": preset_to_dict(job.graph.preset),
            "files": list(job.names),
            "overlap": job.graph.preset.model.overlap,
        }
    described.update(format=dataclasses.asdict(job.format))
    text = json.dumps(described, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _check_node_options(precision: str | None, shifts: int | None, seed: int | None) -> None:
    """Refuse before any track runs what every worker's node would refuse."""
    if precision is not None and precision not in PRECISIONS:
        known = ", ".join(PRECISIONS)
        raise InvalidValueError(f"precision must be one of {known}, got {precision!r}")
    if precision == "int8":
        raise InvalidValueError(INT8_REFUSAL)
    for name, value, low, high in (("shifts", shifts, 0, MAX_SHIFTS), ("seed", seed, 0, None)):
        if value is not None and (
            isinstance(value, bool)
            or not isinstance(value, int)
            or value < low
            or (high is not None and value > high)
        ):
            expected = f"from {low} to {high}" if high is not None else f">= {low}"
            raise InvalidValueError(f"{name} must be an integer {expected}, got {value!r}")


def plan_batch(
    inputs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    preset: str | None = None,
    stems: Sequence[str] | str | None = None,
    model: str | os.PathLike[str] | None = None,
    device: str = "auto",
    precision: str | None = None,
    shifts: int | None = None,
    seed: int | None = None,
    engine: str = "local",
    address: str | None = None,
    workers: int | None = None,
    gpus_per_worker: float | None = None,
    retries: int = DEFAULT_RETRIES,
    format: str | None = None,
    bit_depth: int | None = None,
    clip_mode: str | None = None,
    overwrite: bool = False,
    allow_external_plugins: bool = False,
    log: Callable[[str], None] = print,
) -> BatchPlan:
    """Check everything and plan the batch (see the module); raises ``StemboardError``.

    Exactly one of ``preset`` (render through it) and ``stems`` (separate: ``"all"`` or names)
    is given. ``model`` defaults to the preset's (or ``hdemucs_high_musdb_plus``, exported on
    first use); every track, manifest presets included, runs on that one model.
    ``precision`` / ``shifts`` / ``seed`` are the node's (see ``SeparatorNode``); None leaves
    them to each track's preset, or to the node's defaults (auto, 0, 0) when separating.
    """
    if (preset is None) == (stems is None):
        raise InvalidValueError("give either a preset (--preset) or the stems to write (--stems)")
    if engine not in ENGINES:
        raise InvalidValueError(f"unknown engine {engine!r}; choose one of: {', '.join(ENGINES)}")
    if device not in DEVICES:
        raise InvalidValueError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    _check_node_options(precision, shifts, seed)
    if workers is not None and (isinstance(workers, bool) or workers < 1):
        raise InvalidValueError(f"workers must be at least 1, got {workers}")
    if isinstance(retries, bool) or retries < 0:
        raise InvalidValueError(f"retries must be 0 or more, got {retries}")
    if engine == "ray":
        import_ray()  # a missing Ray is said now, in one line
    out_dir = Path(out_dir)
    check_destination(out_dir)
    preset_settings = None
    if preset is not None:
        from stemboard.graph.preset_parse import load_preset_file
        from stemboard.graph.presets import find_preset

        preset_settings = load_preset_file(
            find_preset(preset), allow_external=allow_external_plugins, check_stems=model is None
        )
    items = find_tracks(inputs)
    if not items:
        raise InvalidValueError("no tracks to render: the inputs name no audio file")
    name = model or (preset_settings.model.name if preset_settings else DEFAULT_MODEL)
    model_file = ensure_model(name, log=log)
    info = ModelInfo.from_metadata(read_file_metadata(model_file), str(model_file))
    workers = workers or default_workers(device)
    threads = max(1, usable_cores() // workers) if engine == "local" else None
    wanted = None if stems in (None, "all") else tuple(stems)
    work = Work(
        model=str(model_file),
        device=device,
        precision=precision,
        shifts=shifts,
        seed=seed,
        preset=preset,
        stems=wanted,
        format=format,
        bit_depth=bit_depth,
        clip_mode=clip_mode,
        threads=threads,
        allow_external_plugins=allow_external_plugins,
    )
    planning = _PlanningModels(work, info.sources)
    model_sha256 = sha256_file(model_file)
    tracks: list[PlannedTrack] = []
    owners: dict[Path, Path] = {}
    for item in items:
        job = job_for(work, item.preset, planning)
        folder = out_dir / item.folder
        targets = job.targets(item.input, folder)
        for target in targets.values():
            resolved = target.resolve()
            if resolved in owners:
                raise InvalidValueError(
                    f"{display(owners[resolved])} and {display(item.input)} would both write "
                    f"{display(target)}; give one an 'output' folder in a manifest"
                )
            owners[resolved] = item.input
        task = Task(str(item.input), str(folder), item.preset)
        tracks.append(
            PlannedTrack(
                item,
                str(item.input.resolve()),
                model_sha256,
                _options_hash(job, work),
                tuple(targets.values()),
                task,
            )
        )
    if "fp16" in planning.precisions:  # the variant beside the model, exported with it
        ensure_model(name, fp16=True, log=log)
    gpus = gpus_per_worker if gpus_per_worker is not None else float(device == "cuda")
    return BatchPlan(
        out_dir, work, tracks, engine, workers, threads, address, gpus, retries, overwrite
    )


def _already_done(track: PlannedTrack, ledger: Ledger) -> tuple[bool, Key | None, int]:
    """Whether the ledger has the track done from this very input, model and options; with
    the key and modification time when it can be told without rendering.

    The input's sha256 is read from the ledger while the file's size and modification time are
    unchanged (a million files are not read again to be skipped); a file whose time changed is
    hashed here, and skipped if its content did not change. A track to render gets its hash
    from the worker, which reads the file anyway.
    """
    try:
        stat = os.stat(track.input)
    except OSError:
        return False, None, 0
    row = ledger.get(track.input)
    if row is None or row.status != "done" or row.key.size != stat.st_size:
        return False, None, stat.st_mtime_ns
    digest = row.key.input_sha256
    if row.mtime_ns != stat.st_mtime_ns:
        try:
            digest = sha256_file(Path(track.input))
        except OSError:
            return False, None, stat.st_mtime_ns
    key = Key(track.input, stat.st_size, digest, track.model_sha256, track.options_sha256)
    return row.done_for(key), key, stat.st_mtime_ns


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[dict]:
    """SIGINT and SIGTERM set ``stopped["signal"]`` instead of raising, so the driver stops
    between two ledger writes; outside the main thread the signals are left alone."""
    stopped: dict = {"signal": None}
    if threading.current_thread() is not threading.main_thread():
        yield stopped
        return

    def stop(number: int, frame: object) -> None:
        stopped["signal"] = signal.Signals(number).name

    previous = {number: signal.signal(number, stop) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stopped
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def execute(
    plan: BatchPlan,
    ledger: Ledger,
    *,
    progress: Callable[[Progress], None] | None = None,
) -> BatchReport:
    """Run the plan: skip what is done, render the rest, retry what a dead worker lost."""
    started = time.perf_counter()
    reports = {index: TrackReport(t.input, "stopped") for index, t in enumerate(plan.tracks)}
    todo: deque[int] = deque()
    for index, track in enumerate(plan.tracks):
        done, key, mtime_ns = _already_done(track, ledger)
        if done and not plan.overwrite:
            row = ledger.get(track.input)
            ledger.seen(key, mtime_ns)
            reports[index] = TrackReport(
                track.input,
                "skipped",
                row.attempts,
                None,
                row.wall_seconds,
                row.audio_seconds,
                list(row.outputs),
            )
            continue
        size = os.stat(track.input).st_size if os.path.exists(track.input) else -1
        ledger.pending(
            Key(track.input, size, "", track.model_sha256, track.options_sha256), mtime_ns
        )
        todo.append(index)
    counts = {"done": 0, "failed": sum(r.status == "failed" for r in reports.values())}
    audio = 0.0

    def report_progress() -> None:
        if progress is None:
            return
        elapsed = time.perf_counter() - started
        processed = counts["done"] + counts["failed"]
        remaining = len(todo) + len(running)
        eta = elapsed / processed * remaining if processed else None
        skipped = sum(r.status == "skipped" for r in reports.values())
        progress(
            Progress(
                counts["done"], skipped, counts["failed"], len(plan.tracks), audio, elapsed, eta
            )
        )

    running: set[int] = set()  # the tracks at a worker (a task's id is its track's index)
    engine = None
    interrupted = None
    with _stop_on_signals() as stopped:
        try:
            if todo:
                engine = _engine(plan)
            report_progress()
            while (todo or running) and stopped["signal"] is None:
                while todo and engine.free() and stopped["signal"] is None:
                    index = todo.popleft()
                    for target in plan.tracks[index].targets:
                        remove_leftovers(target)
                    ledger.start(plan.tracks[index].input)
                    reports[index].attempts += 1
                    running.add(index)
                    engine.submit(index, plan.tracks[index].task)
                for finished in engine.wait(timeout=0.2):
                    index = finished.task_id
                    running.discard(index)
                    track, entry = plan.tracks[index], reports[index]
                    if finished.result is not None:
                        result = finished.result
                        ledger.finish(
                            track.input,
                            result["outputs"],
                            result["wall_seconds"],
                            result["audio_seconds"],
                            result["input_sha256"],
                        )
                        entry.status, entry.error = "done", None
                        entry.wall_seconds = result["wall_seconds"]
                        entry.audio_seconds = result["audio_seconds"]
                        entry.outputs = result["outputs"]
                        counts["done"] += 1
                        audio += result["audio_seconds"]
                    elif finished.error is not None:
                        ledger.fail(track.input, finished.error)
                        entry.status, entry.error = "failed", finished.error
                        counts["failed"] += 1
                    else:
                        for target in track.targets:
                            remove_leftovers(target)
                        if entry.attempts <= plan.retries:
                            ledger.back_to_pending(track.input, finished.lost)
                            todo.appendleft(index)
                        else:
                            reason = f"{finished.lost} on each of {entry.attempts} attempts"
                            ledger.fail(track.input, reason)
                            entry.status, entry.error = "failed", reason
                            counts["failed"] += 1
                    report_progress()
        finally:
            interrupted = stopped["signal"]
            if engine is not None:
                abandoned = engine.stop() if running else []
                if not running:
                    engine.close()
                for index in {*abandoned, *running}:
                    ledger.back_to_pending(plan.tracks[index].input, "stopped")
                    for target in plan.tracks[index].targets:
                        remove_leftovers(target)
    return BatchReport(
        str(plan.out_dir),
        plan.engine,
        plan.workers,
        time.perf_counter() - started,
        [reports[index] for index in range(len(plan.tracks))],
        interrupted,
    )


def _engine(plan: BatchPlan) -> Any:
    if plan.engine == "local":
        return LocalEngine(plan.work, plan.workers)
    cpus = max(1.0, usable_cores() / plan.workers) if plan.gpus_per_worker == 0 else 1.0
    return RayEngine(
        plan.work, plan.workers, address=plan.address, cpus=cpus, gpus=plan.gpus_per_worker
    )


def run_batch(
    inputs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    report: str | os.PathLike[str] | None = None,
    progress: Callable[[Progress], None] | None = None,
    log: Callable[[str], None] = print,
    **options: Any,
) -> BatchReport:
    """Plan and run a batch; the :class:`~stemboard.batch.report.BatchReport` (also written as
    JSON to ``report``). ``options`` are :func:`plan_batch`'s."""
    plan = plan_batch(inputs, out_dir, log=log, **options)
    with Ledger.open(out_dir) as ledger:
        result = execute(plan, ledger, progress=progress)
    if report is not None:
        result.write_json(report)
    return result
