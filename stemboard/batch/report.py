"""What a batch did: per track status, error, timings and files; totals; JSON and a table."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from stemboard.atomic import atomic_path
from stemboard.errors import DestinationError

OUTCOMES = ("done", "skipped", "failed", "stopped")
"""``done``: rendered by this run; ``skipped``: done by an earlier run with the same input, model
and options; ``failed``: gave up, with the reason; ``stopped``: the run was interrupted first."""


@dataclass
class TrackReport:
    """One track of a batch."""

    input: str
    status: str
    attempts: int = 0
    error: str | None = None
    wall_seconds: float | None = None
    audio_seconds: float | None = None
    outputs: list[str] = field(default_factory=list)


@dataclass
class BatchReport:
    """A whole batch: every track, and the totals of this run."""

    out_dir: str
    engine: str
    workers: int
    wall_seconds: float
    tracks: list[TrackReport]
    interrupted: str | None = None  # "SIGINT" or "SIGTERM" when the run was stopped

    def count(self, status: str) -> int:
        return sum(track.status == status for track in self.tracks)

    @property
    def audio_seconds(self) -> float:
        """Audio rendered by this run (not counting tracks skipped as done)."""
        return sum(t.audio_seconds or 0.0 for t in self.tracks if t.status == "done")

    @property
    def ok(self) -> bool:
        """Every track is done (now or before) and the run was not interrupted."""
        return self.interrupted is None and all(
            t.status in ("done", "skipped") for t in self.tracks
        )

    def totals(self) -> dict:
        seconds = self.audio_seconds
        return {
            **{status: self.count(status) for status in OUTCOMES},
            "tracks": len(self.tracks),
            "audio_seconds": round(seconds, 3),
            "wall_seconds": round(self.wall_seconds, 3),
            "realtime_factor": round(seconds / self.wall_seconds, 3) if self.wall_seconds else 0,
        }

    def to_dict(self) -> dict:
        return {
            "out_dir": self.out_dir,
            "engine": self.engine,
            "workers": self.workers,
            "interrupted": self.interrupted,
            "totals": self.totals(),
            "tracks": [asdict(track) for track in self.tracks],
        }

    def write_json(self, path: str | os.PathLike[str]) -> Path:
        """The report as JSON at ``path``, written atomically."""
        path = Path(path)
        try:
            with atomic_path(path) as temporary:
                temporary.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        except OSError as error:
            raise DestinationError(f"{path}: cannot write: {error.strerror or error}") from None
        return path

    def table(self) -> str:
        """A summary: one line per failed or stopped track with its reason (under a header,
        when there is one), then the totals."""
        lines = []
        for track in self.tracks:
            if track.status in ("failed", "stopped"):
                name = track.input if len(track.input) <= 48 else "…" + track.input[-47:]
                lines.append(f"{name:<48} {track.status:<8} {track.error or ''}")
        if lines:
            lines.insert(0, f"{'track':<48} {'status':<8} reason")
        totals = self.totals()
        hours = totals["audio_seconds"] / 3600
        lines.append(
            f"{totals['tracks']} tracks: {totals['done']} done, {totals['skipped']} skipped "
            f"(done before), {totals['failed']} failed, {totals['stopped']} stopped; "
            f"{hours:.2f} h of audio in {totals['wall_seconds']:.1f} s "
            f"({totals['realtime_factor']:.1f}x realtime), {self.engine} engine, "
            f"{self.workers} worker{'s' if self.workers != 1 else ''}"
        )
        return "\n".join(lines)
