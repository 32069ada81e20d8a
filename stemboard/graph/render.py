"""Rendering a graph over audio files: read in blocks, stream, write each output atomically."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from stemboard import io
from stemboard.errors import StemboardError
from stemboard.graph.graph import StemGraph
from stemboard.graph.preset_schema import DEFAULT_TEMPLATE, output_path


def render_to_files(
    graph: StemGraph,
    path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    mix: bool = True,
    stems: Iterable[str] = (),
    buses: Iterable[str] = (),
    format: str = "wav",
    bit_depth: int = 24,
    template: str = DEFAULT_TEMPLATE,
    preset: str = "",
    overwrite: bool = False,
    block_frames: int = 1 << 16,
    progress: Callable[[float], None] | None = None,
) -> dict[str, Path]:
    """Render ``path`` through ``graph`` into files under ``out_dir``; returns name -> path.

    ``mix`` writes the master output as ``name="mix"``; ``stems`` and ``buses`` name the
    processed stems and buses to write as well. File names come from ``template`` (fields
    ``{track}``, ``{name}``, ``{ext}``, ``{preset}``) and can never leave ``out_dir``. The file is
    read and written in blocks with the graph's state carried across them, so memory stays
    bounded and the result equals rendering the whole array at once. Every file is written
    under a temporary name and renamed only when the whole render succeeded.
    """
    path = Path(path)
    names = (["mix"] if mix else []) + list(stems) + list(buses)
    if not names:
        raise StemboardError("nothing to render: no mix, stems or buses selected")
    known = {*graph.sources, *graph.buses}
    unknown = [n for n in names if n != "mix" and n not in known]
    if unknown:
        raise StemboardError(
            f"unknown output {unknown[0]!r}; stems: {', '.join(graph.sources)}; "
            f"buses: {', '.join(graph.buses) or 'none'}"
        )
    io.check_output_format(format, bit_depth)
    info = io.audio_info(path)
    targets = {
        name: output_path(
            Path(out_dir), template, track=path.stem, name=name, ext=format, preset=preset
        )
        for name in names
    }
    if len(set(targets.values())) != len(targets):
        raise StemboardError(f"template {template!r} gives several outputs the same file name")
    existing = [str(p) for p in targets.values() if p.exists()]
    if existing and not overwrite:
        raise StemboardError(f"{existing[0]} already exists (use --overwrite to replace it)")
    if info.channels > 2:
        raise StemboardError(f"{path} has {info.channels} channels; stemboard takes mono or stereo")
    expected = info.frames + round(graph.tail_seconds * info.sample_rate)
    done = 0
    graph.reset()
    with contextlib.ExitStack() as stack:
        writers = {}
        for name, target in targets.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            writers[name] = stack.enter_context(
                io.AtomicAudioWriter(target, info.sample_rate, info.channels, format, bit_depth)
            )
        for block in io.read_blocks(path, block_frames):
            _write(writers, graph.stream_planar(block, info.sample_rate))
            done += block.shape[-1]
            if progress is not None:
                progress(min(1.0, done / max(expected, 1)))
        _write(writers, graph.flush_all())
    if progress is not None:
        progress(1.0)
    return targets


def _write(writers: dict, signals: dict) -> None:
    for name, writer in writers.items():
        block = signals[name]
        writer.write(block if block.ndim == 2 else block[None])
