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
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from stemboard.errors import StemboardError
from stemboard.evaluation import EvaluationResult, evaluate_folders, plot_spectrograms
from stemboard.graph.presets import render_file
from stemboard.node import SeparatorNode
from stemboard.synth import generate_song, split_of, split_seeds, write_song

DEMO_MODEL = "demo"
DEFAULT_PRESET = "karaoke"
DEFAULT_SECONDS = 30.0
DEFAULT_SEED = split_seeds("test", 1)[0]


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

    An existing ``out_dir`` with demo files in it is refused unless ``overwrite``.
    """
    if split_of(seed) != "test":
        raise StemboardError(f"seed {seed} is in the {split_of(seed)} split; the demo uses test")
    if seconds <= 0:
        raise StemboardError(f"seconds must be positive, got {seconds}")
    out = Path(out_dir)
    song_path = out / "song.wav"
    reference_dir = out / "reference"
    if not overwrite and (song_path.exists() or reference_dir.exists()):
        raise StemboardError(f"{out} already holds a demo (use --overwrite to replace it)")
    timings: dict[str, float] = {}

    started = time.perf_counter()
    song = generate_song(seed, seconds)
    out.mkdir(parents=True, exist_ok=True)
    # Written under temporary names and moved into place, so a failure leaves no partial files.
    with tempfile.TemporaryDirectory(dir=out, prefix=".stemboard-") as temporary:
        written = write_song(song, Path(temporary) / "reference")
        shutil.copyfile(written / "mixture.wav", Path(temporary) / song_path.name)
        if reference_dir.exists():
            shutil.rmtree(reference_dir)
        os.replace(written, reference_dir)
        os.replace(Path(temporary) / song_path.name, song_path)
    timings["generate"] = time.perf_counter() - started
    described = ", ".join(f"{k} {v}" for k, v in song.description.items() if _short(v))
    log(f"generated song {seed} ({seconds:g} s): {described}")

    started = time.perf_counter()
    node = SeparatorNode(DEMO_MODEL, device=device)
    stems = node.separate_file(song_path, out, format="wav", bit_depth=32, overwrite=True)
    timings["separate"] = time.perf_counter() - started
    log(f"separated with the demo model in {timings['separate']:.1f} s")

    started = time.perf_counter()
    rendered = render_file(preset, song_path, out, overwrite=True, model=DEMO_MODEL, device=device)
    timings["render"] = time.perf_counter() - started
    log(f"rendered preset {preset!r} in {timings['render']:.1f} s")

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
