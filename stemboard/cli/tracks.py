"""Rendering a list of input files with one job, for ``separate`` and ``render``: plan them
all, then each in turn with a progress bar, a failed input one line and the others going on."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from stemboard.audio.reading import audio_info, display
from stemboard.cli.output import ProgressLine, TrackProgress, error, say
from stemboard.errors import StemboardError
from stemboard.render import RenderJob


def render_tracks(
    job: RenderJob, inputs: Sequence[str], out: str, *, overwrite: bool, quiet: bool
) -> int:
    """Plan every input (refusing the whole set before any work), then render each; prints
    each input's files as they are written. Exit status: 0, or 1 when an input failed."""
    tracks = job.plan(inputs, out, overwrite=overwrite)
    failed = 0
    for index, track in enumerate(tracks, 1):
        line = ProgressLine(quiet)
        try:
            duration = audio_info(track.input).duration if line.enabled else 0.0
            progress = TrackProgress(
                f"[{index}/{len(tracks)}] {display(track.input)}", duration, line
            )
            written = job.run(track, progress=progress)
        except StemboardError as problem:
            line.close()
            failed += 1
            error(problem)
            continue
        line.close()
        say(f"{track.input}: " + ", ".join(str(p) for p in written.values()))
    if failed:
        say(f"stemboard: {failed} of {len(tracks)} inputs failed", sys.stderr)
        return 1
    return 0
