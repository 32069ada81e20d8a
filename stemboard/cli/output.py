"""What the command line prints: results on stdout, messages on stderr, one line each, and the
progress line of a track or a download on a terminal.

Every message goes through :func:`say` (or :func:`error` / :func:`warn`), so a file name that is
not UTF-8 never breaks a line. The bar is silent when stderr is not a terminal or with ``-q``.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable
from typing import TextIO

from stemboard.console import printable
from stemboard.errors import StemboardError


class UsageError(StemboardError):
    """A command that cannot start as given (a bad preset, a second batch on one folder):
    one line and exit status 2, as for a bad option."""


def say(message: object, stream: TextIO | None = None) -> None:
    print(printable(message), file=stream or sys.stdout)


def error(message: object) -> None:
    say(f"stemboard: error: {message}", sys.stderr)


def warn(message: object) -> None:
    say(f"stemboard: warning: {message}", sys.stderr)


def clock(seconds: float) -> str:
    """``h:mm:ss`` (``m:ss`` under an hour)."""
    seconds = max(0, int(seconds))
    hours, minutes = seconds // 3600, seconds // 60 % 60
    return f"{hours}:{minutes:02d}:{seconds % 60:02d}" if hours else f"{minutes}:{seconds % 60:02d}"


class ProgressLine:
    """One line on a terminal, rewritten in place; silent when not a terminal or ``quiet``."""

    def __init__(self, quiet: bool = False, stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self.enabled = not quiet and self.stream.isatty()
        self.shown = False

    def show(self, text: str) -> None:
        if self.enabled:
            self.stream.write(f"\r{printable(text)}\x1b[K")
            self.stream.flush()
            self.shown = True

    def close(self) -> None:
        if self.enabled and self.shown:
            self.stream.write("\n")
            self.stream.flush()
            self.shown = False


class TrackProgress:
    """The progress bar of one track: percent, audio seconds done, speed against real time and
    ETA, at most ten times a second. Called with the fraction done (``RenderJob.run``'s
    ``progress``)."""

    def __init__(self, label: str, duration: float, line: ProgressLine):
        self.label = label
        self.duration = duration
        self.line = line
        self.started: float | None = None
        self.last = 0.0

    def __call__(self, fraction: float) -> None:
        if not self.line.enabled:
            return
        now = time.monotonic()
        if self.started is None:
            self.started = now
        if fraction < 1.0 and now - self.last < 0.1:
            return
        self.last = now
        elapsed = now - self.started
        done = fraction * self.duration
        speed = f"{done / elapsed:.1f}x realtime" if elapsed > 0 and done > 0 else "starting"
        eta = clock(elapsed / fraction * (1 - fraction)) if fraction > 0 else "?"
        bar = "#" * int(20 * fraction)
        self.line.show(
            f"{self.label} [{bar:<20}] {100 * fraction:3.0f}% "
            f"{done:.0f}/{self.duration:.0f} s, {speed}, ETA {eta}"
        )

    def close(self) -> None:
        self.line.close()


class DownloadProgress:
    """The progress line of a download: ``downloading NAME  120.5/334.7 MB  24.1 MB/s  ETA 9 s``,
    the rate over the last few seconds, at most ten times a second, and a newline after the last
    byte. Called with ``(done_bytes, total_bytes)`` (``fetch_file``'s ``progress``); bytes a
    resumed download had before its first call count as done, not towards the rate.

    >>> progress = DownloadProgress("hdemucs_high_musdb_plus", ProgressLine(quiet))
    >>> try:
    ...     path = find_or_fetch(bundle, progress=progress)
    ... finally:
    ...     progress.close()
    """

    WINDOW_S = 5.0

    def __init__(self, name: str, line: ProgressLine, timer: Callable[[], float] = time.monotonic):
        self.name = name
        self.line = line
        self.timer = timer
        self.samples: deque[tuple[float, int]] = deque()

    def __call__(self, done: int, total: int) -> None:
        if not self.line.enabled:
            return
        now = self.timer()
        finished = done >= total
        if self.samples and done < self.samples[-1][1]:  # started again from the beginning
            self.samples.clear()
        if self.samples and not finished and now - self.samples[-1][0] < 0.1:
            return
        self.samples.append((now, done))
        while len(self.samples) > 1 and self.samples[1][0] <= now - self.WINDOW_S:
            self.samples.popleft()
        text = f"downloading {self.name}  {done / 1e6:.1f}/{total / 1e6:.1f} MB"
        since, then = self.samples[0]
        if now > since and done > then:
            rate = (done - then) / (now - since)
            left = (total - done) / rate
            eta = f"{left:.0f} s" if left < 59.5 else clock(left)
            text += f"  {rate / 1e6:.1f} MB/s  ETA {eta}"
        self.line.show(text)
        if finished:
            self.line.close()

    def close(self) -> None:
        """End the line (after a download that failed or was interrupted)."""
        self.line.close()
