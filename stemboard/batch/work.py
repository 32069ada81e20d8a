"""What a batch worker does with one track: the very render ``stemboard separate`` or
``stemboard render`` does, through :mod:`stemboard.render`.

A :class:`Work` says how every track of a batch is rendered (the model file, the node settings
it imposes, stems or preset, the files' format); it is plain data, so it travels to worker
processes and Ray actors. A :class:`Task` is one track: its input and the files the driver
planned for it. A worker builds each node once and each preset's graph once
(:class:`WorkerNodes`), then renders track after track. The driver plans with
:func:`planned_outputs`, the :class:`~stemboard.render.OutputPlan` the worker's job has, so the
files a batch writes are, by construction, the files the single-track commands write.

Example::

    work = Work(model="/models/demo.onnx", stems=None)
    outcome = Renderer(work).attempt(Task("song.wav", (("vocals", "out/song/vocals.wav"),), "out"))
    # Rendered(outputs=(...), input_sha256=..., ...), or Failed(reason) with one line
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stemboard.audio.reading import audio_info, display, one_line
from stemboard.batch.options import FileOverrides, NodeOverrides
from stemboard.digest import sha256_file
from stemboard.errors import StemboardError
from stemboard.graph.graph import StemGraph
from stemboard.graph.preset_model import Preset
from stemboard.graph.presets import build_graph, read_preset
from stemboard.input_files import regular_file
from stemboard.node.contracts import Separator
from stemboard.node.separator import SeparatorNode
from stemboard.node.settings import NodeSettings
from stemboard.render import GraphRender, OutputPlan, RenderJob, Separation, Track
from stemboard.templates import check_inside


@dataclass(frozen=True)
class Work:
    """How every track of a batch is rendered.

    ``model``: the ONNX file (the driver has made it, and its fp16 variant when a track asks
    for it). ``node``: the device and the settings the batch imposes on every track's node.
    ``preset``: render through this preset (a file or a shipped name), or separate when None
    (``stems``: which, None for all). ``files``: the format over a preset's. ``threads``: CPU
    threads per worker (None: every core the worker may use).
    """

    model: str
    node: NodeOverrides = field(default_factory=NodeOverrides)
    files: FileOverrides = field(default_factory=FileOverrides)
    preset: str | None = None
    stems: tuple[str, ...] | None = None
    threads: int | None = None
    allow_external_plugins: bool = False


@dataclass(frozen=True)
class Task:
    """One track for a worker: its input, the files the driver planned for it (output name ->
    path), the batch's output folder (which every file stays inside), and its preset (a
    manifest's, or None for the batch's)."""

    input: str
    targets: tuple[tuple[str, str], ...]
    out_dir: str
    preset: str | None = None


@dataclass(frozen=True)
class Rendered:
    """A track rendered: its files, the sha256 of the input they were made from, the times."""

    outputs: tuple[str, ...]
    input_sha256: str
    wall_seconds: float
    audio_seconds: float


@dataclass(frozen=True)
class Failed:
    """A track that failed for good (the same again would fail too), with the reason."""

    reason: str


@dataclass(frozen=True)
class Lost:
    """An attempt that ended without an answer (its worker died or was stopped)."""

    reason: str


Outcome = Rendered | Failed | Lost
"""What a worker's attempt at a track comes to."""


def planned_outputs(work: Work, preset: Preset | None, sources: Sequence[str]) -> OutputPlan:
    """The files a track renders to, from the model's stem names and the track's preset (None:
    separating) — the :class:`~stemboard.render.OutputPlan` of the job :class:`Renderer`
    runs, computed without a model."""
    if preset is None:
        return OutputPlan.of_stems(sources, work.stems, work.files.separation_format())
    return OutputPlan.of_graph(
        work.files.over(preset.outputs),
        sources,
        preset.buses,
        preset.name,
        clip_mode=work.files.clip_mode,
    )


class WorkerNodes:
    """A worker's nodes and graphs, built on first use and kept for the next tracks."""

    def __init__(self, work: Work):
        self.work = work
        self._nodes: dict[NodeSettings, Separator] = {}
        self._graphs: dict[str, StemGraph] = {}

    def node(self, settings: NodeSettings | None = None) -> Separator:
        """The node for a track's settings (a preset's with the batch's overrides, see
        :meth:`NodeOverrides.applied`; None when separating), on the batch's model and
        device."""
        settings = (settings or self.work.node.applied()).overridden(
            model=self.work.model, device=self.work.node.device
        )
        if settings not in self._nodes:  # the node says what runs it (``-v``)
            self._nodes[settings] = SeparatorNode.from_settings(settings, threads=self.work.threads)
        return self._nodes[settings]

    def graph(self, preset: str) -> StemGraph:
        """The preset's graph on the batch's model, as ``stemboard render --model`` builds it;
        its ``graph.preset`` holds the precision, shifts and seed that run."""
        if preset not in self._graphs:
            read = read_preset(
                preset, check_stems=False, allow_external_plugins=self.work.allow_external_plugins
            )
            settings = self.work.node.applied(read.model)
            self._graphs[preset] = build_graph(
                dataclasses.replace(read, model=settings),
                separator=self.node(settings),
                allow_external_plugins=self.work.allow_external_plugins,
            )
        return self._graphs[preset]


class Renderer:
    """Renders tasks in this process (a local worker, a Ray actor, or the driver itself)."""

    def __init__(self, work: Work):
        self.work = work
        self.nodes = WorkerNodes(work)

    def job(self, preset: str | None) -> RenderJob:
        """The render job of a track with ``preset`` (a manifest's; None: the batch's)."""
        preset = preset or self.work.preset
        if preset is None:
            return Separation(
                self.nodes.node(), self.work.stems, self.work.files.separation_format()
            )
        graph = self.nodes.graph(preset)
        outputs = self.work.files.over(graph.preset.outputs)
        return GraphRender(graph, outputs, clip_mode=self.work.files.clip_mode)

    def attempt(self, task: Task) -> Outcome:
        """:meth:`render`, with a user's error (a broken file, a full disk) as the track's
        :class:`Failed` outcome in one line."""
        try:
            return self.render(task)
        except StemboardError as error:
            return Failed(one_line(error))
        except OSError as error:  # the machine's: a vanished folder, a device error
            where = error.filename if error.filename is not None else task.input
            return Failed(f"{display(where)}: {error.strerror or one_line(error)}")

    def render(self, task: Task) -> Rendered:
        """Render ``task`` into its planned files, which must still lie inside the output
        folder (a symbolic link made since planning is refused); only a regular file is
        opened (a FIFO would block the worker)."""
        started = time.perf_counter()
        path = regular_file(task.input, "audio file")
        targets = {name: check_inside(task.out_dir, Path(file)) for name, file in task.targets}
        job = self.job(task.preset)
        info = audio_info(path)
        digest = sha256_file(path)  # before rendering: what the files are made from
        written = job.run(Track(path, targets))  # a full disk: the writer's DiskFullError
        return Rendered(
            tuple(str(p) for p in written.values()),
            digest,
            time.perf_counter() - started,
            info.frames / info.sample_rate if info.sample_rate else 0.0,
        )
