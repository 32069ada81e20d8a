"""What a batch worker does with one track: the very render ``stemboard separate`` or
``stemboard render`` does, through :mod:`stemboard.render`.

A :class:`Work` says how every track of a batch is rendered (model, device, stems or preset,
format); it is plain data, so it travels to worker processes and Ray actors. A worker builds
the node once, each preset's graph once, and then renders track after track into the files the
driver planned. The driver plans with the same job classes (:func:`job_for`), so the files a
batch writes are, by construction, the files the single-track commands write.

Example::

    work = Work(model="/models/demo.onnx", stems=None)
    renderer = Renderer(work)
    result = renderer.render(Task(input="song.wav", folder="out/a", preset=None))
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stemboard.audio.reading import audio_info
from stemboard.choices import DEFAULT_CLIP_MODE
from stemboard.digest import sha256_file
from stemboard.graph.preset_model import ModelSettings
from stemboard.graph.preset_parse import load_preset_file
from stemboard.graph.presets import build_graph, find_preset
from stemboard.render import GraphRender, OutputFormat, RenderJob, Separation, Track

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Work:
    """How every track of a batch is rendered.

    ``model``: the ONNX file (the driver has made it exist). ``preset``: render through this
    preset (a file or a shipped name), or separate when None (``stems``: which, None for all).
    ``format`` / ``bit_depth`` / ``clip_mode``: override the preset's outputs, or choose the
    separated stems' (default wav, 16-bit, rescale). ``precision`` / ``shifts`` / ``seed``:
    the node's, overriding a preset's (None: the preset's, or the node's defaults when
    separating). ``threads``: CPU threads per worker (None: every core the worker may use).
    """

    model: str
    device: str = "auto"
    precision: str | None = None
    shifts: int | None = None
    seed: int | None = None
    preset: str | None = None
    stems: tuple[str, ...] | None = None
    format: str | None = None
    bit_depth: int | None = None
    clip_mode: str | None = None
    threads: int | None = None
    allow_external_plugins: bool = False

    def node_settings(self, preset: ModelSettings | None = None) -> ModelSettings:
        """The node's settings: a preset's ``model:`` (None when separating: the defaults)
        with this batch's precision, shifts and seed where it gives them. Their name and
        device are not used: every track runs on the batch's model and device."""
        base = preset if preset is not None else ModelSettings()
        return base.overridden(precision=self.precision, shifts=self.shifts, seed=self.seed)


@dataclass(frozen=True)
class Task:
    """One track for a worker: its input, the folder its files go in, its preset (a manifest's,
    or None for the batch's)."""

    input: str
    folder: str
    preset: str | None = None


class Models:
    """A worker's node and graphs, built on first use and kept for the next tracks."""

    def __init__(self, work: Work):
        self.work = work
        self._nodes: dict[tuple, Any] = {}
        self._graphs: dict[str, Any] = {}

    def node(self, settings: ModelSettings | None = None) -> Any:
        """The node for these settings (:meth:`Work.node_settings`; None: separating)."""
        settings = settings or self.work.node_settings()
        key = (
            settings.overlap,
            settings.batch_size,
            settings.precision,
            settings.shifts,
            settings.seed,
        )
        if key not in self._nodes:
            from stemboard.node import SeparatorNode

            node = self._nodes[key] = SeparatorNode(
                self.work.model,
                device=self.work.device,
                overlap=settings.overlap,
                batch_size=settings.batch_size,
                threads=self.work.threads,
                precision=settings.precision,
                shifts=settings.shifts,
                seed=settings.seed,
            )
            log.info("%s", node.describe())
        return self._nodes[key]

    def graph(self, preset: str) -> Any:
        """The preset's graph on the batch's model, as ``stemboard render --model`` builds it;
        its ``graph.preset`` holds the precision, shifts and seed that run."""
        if preset not in self._graphs:
            settings = load_preset_file(
                find_preset(preset),
                allow_external=self.work.allow_external_plugins,
                check_stems=False,
            )
            settings.model = self.work.node_settings(settings.model)
            self._graphs[preset] = build_graph(
                settings,
                separator=self.node(settings.model),
                allow_external_plugins=self.work.allow_external_plugins,
            )
        return self._graphs[preset]


def job_for(work: Work, preset: str | None, models: Models) -> RenderJob:
    """The render job of a track: a :class:`~stemboard.render.GraphRender` of its preset, or a
    :class:`~stemboard.render.Separation`."""
    preset = preset or work.preset
    if preset is None:
        format = OutputFormat(
            work.format or "wav",
            work.bit_depth or 16,
            clip_mode=work.clip_mode or DEFAULT_CLIP_MODE,
        )
        return Separation(models.node(), work.stems, format)
    graph = models.graph(preset)
    outputs = graph.preset.outputs
    if work.format is not None or work.bit_depth is not None:
        outputs = dataclasses.replace(
            outputs,
            format=work.format or outputs.format,
            bit_depth=work.bit_depth or outputs.bit_depth,
        )
    return GraphRender(graph, outputs, clip_mode=work.clip_mode)


class Renderer:
    """Renders tasks in this process (a local worker, a Ray actor, or the driver itself)."""

    def __init__(self, work: Work):
        self.work = work
        self.models = Models(work)

    def render(self, task: Task) -> dict:
        """Render ``task``; ``{"outputs": [paths], "wall_seconds", "audio_seconds", "pid"}``.

        A user error (a broken file, say) is raised as the ``StemboardError`` it is; the driver
        records its one-line message.
        """
        started = time.perf_counter()
        job = job_for(self.work, task.preset, self.models)
        path = Path(task.input)
        track = Track(path, job.targets(path, Path(task.folder)))
        info = audio_info(path)
        digest = sha256_file(path)  # before rendering: what the files are made from
        written = job.run(track)
        return {
            "input_sha256": digest,
            "outputs": [str(p) for p in written.values()],
            "wall_seconds": time.perf_counter() - started,
            "audio_seconds": info.frames / info.sample_rate if info.sample_rate else 0.0,
            "pid": os.getpid(),
        }
