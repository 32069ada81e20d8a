"""``stemboard demo``: generate a song, separate it with the packaged demo model, render a preset
and measure the stems against the song's own, offline and in one call.

Example::

    from stemboard.demo import run_demo
    result = run_demo("demo-out")        # writes the folder, returns what it wrote and the SDRs

The song comes from the test split of :mod:`stemboard.synth`, so the demo model never saw it.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from stemboard.atomic import AtomicFiles
from stemboard.errors import InvalidValueError, OutputExistsError
from stemboard.evaluation import EvaluationResult, evaluate_folders, plot_spectrograms
from stemboard.graph.presets import build_graph, read_preset
from stemboard.models import open_node
from stemboard.node.settings import NodeSettings
from stemboard.registry import known_sources
from stemboard.render import (
    GraphRender,
    OutputFormat,
    Separation,
    SeparationAndRender,
    check_destination,
)
from stemboard.synth import generate_song, split_of, split_seeds, write_song

DEMO_MODEL = "demo"
DEFAULT_PRESET = "karaoke"
DEFAULT_SECONDS = 30.0
DEFAULT_SEED = split_seeds("test", 1)[0]
MAX_SECONDS = 600.0
"""The longest demo song, in seconds: ten minutes (the song is generated in memory)."""


@dataclass
class DemoResult:
    """What a demo run wrote and measured."""

    out_dir: Path
    song: Path  # the generated mixture, the input of the separation
    reference_dir: Path  # the generated stems (the truth)
    stems: dict[str, Path]  # the separated stems
    rendered: dict[str, Path]  # what the preset wrote
    plots: dict[str, Path]  # stem or 'mixture' -> PNG
    report: Path  # the SDR table as JSON
    evaluation: EvaluationResult
    seconds: dict[str, float] = field(default_factory=dict)  # wall time per step


def run_demo(
    out_dir: str | os.PathLike,
    *,
    seed: int = DEFAULT_SEED,
    seconds: float = DEFAULT_SECONDS,
    preset: str = DEFAULT_PRESET,
    device: str = "auto",
    precision: str = "auto",
    shifts: int = 0,
    overwrite: bool = False,
    log: Callable[[str], None] = print,
) -> DemoResult:
    """Generate song ``seed``, separate it, render ``preset`` on it and evaluate the stems.

    Writes into ``out_dir``::

        song.wav                  the generated mix
        reference/                its true stems (and mixture.wav, song.json)
        song/<stem>.wav           the stems the demo model separated
        song/<preset>.wav         the preset's render (file names as the preset says)
        plots/<stem>.png          spectrograms, reference above estimate
        sdr.json                  the evaluation

    ``device`` / ``precision`` / ``shifts`` are the node's (see ``SeparatorNode``; the
    shifts' offsets are drawn with its default seed). An existing ``out_dir`` with demo files
    in it is refused unless ``overwrite``.
    """
    if split_of(seed) != "test":
        raise InvalidValueError(f"seed {seed} is in the {split_of(seed)} split; the demo uses test")
    if not (isinstance(seconds, int | float) and 0 < seconds <= MAX_SECONDS):
        raise InvalidValueError(
            f"seconds must be a number in (0, {MAX_SECONDS:g}], got {seconds!r}"
        )
    out = Path(out_dir)
    song_path = out / "song.wav"
    reference_dir = out / "reference"
    # Every argument is checked before a song is generated, so a mistake leaves nothing.
    check_destination(out)
    if not overwrite and (song_path.exists() or reference_dir.exists()):
        raise OutputExistsError(f"{out} already holds a demo (use --overwrite to replace it)")
    settings = read_preset(preset, sources=known_sources(DEMO_MODEL))
    node = open_node(
        NodeSettings(DEMO_MODEL, device=device, precision=precision, shifts=shifts), log=log
    )
    graph = build_graph(settings, separator=node)
    job = SeparationAndRender(
        Separation(node, format=OutputFormat("wav", 32, clip_mode="none")),
        GraphRender(graph),
    )
    timings: dict[str, float] = {}

    started = time.perf_counter()
    song = generate_song(seed, seconds)
    out.mkdir(parents=True, exist_ok=True)
    # Written under temporary names and moved into place together: all or nothing.
    with AtomicFiles() as files:
        written = write_song(song, files.reserve(reference_dir))
        shutil.copyfile(written / "mixture.wav", files.reserve(song_path))
    timings["generate"] = time.perf_counter() - started
    described = ", ".join(f"{k} {v}" for k, v in song.description.items() if _short(v))
    log(f"generated song {seed} ({seconds:g} s): {described}")

    started = time.perf_counter()
    (track,) = job.plan([song_path], out, overwrite=True)
    written_files = job.run(track)
    stems = {key[1]: path for key, path in written_files.items() if key[0] == "stems"}
    rendered = {key[1]: path for key, path in written_files.items() if key[0] == "graph"}
    timings["separate and render"] = time.perf_counter() - started
    log(
        f"separated with the demo model and rendered preset {settings.name!r} "
        f"in {timings['separate and render']:.1f} s"
    )

    started = time.perf_counter()
    evaluation = evaluate_folders(reference_dir, out / song_path.stem)
    report = out / "sdr.json"
    evaluation.write_json(report)
    plots = plot_spectrograms(evaluation, out / "plots")
    timings["evaluate"] = time.perf_counter() - started
    log(evaluation.table())
    return DemoResult(
        out, song_path, reference_dir, stems, rendered, plots, report, evaluation, timings
    )


def _short(value: object) -> bool:
    return isinstance(value, (str, int, float)) and len(str(value)) <= 24
