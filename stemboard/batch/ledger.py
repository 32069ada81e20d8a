"""The batch ledger: one SQLite row per track, so that nothing is lost and nothing done twice.

It lives in the output folder (``OUT/.stemboard/ledger.sqlite``, WAL mode) and only the driver
writes it; workers never touch it. A row records what the track was rendered from — the input's
path, size and content sha256, the model's sha256, a hash of the effective preset or options —
its status (``pending``, ``running``, ``done``, ``failed``), the attempts, the last error line,
the wall time, the audio seconds and the output files.

A track is *done* for a new run when its row is ``done`` with the same three hashes and every
output file still exists; anything else renders it again.

Example::

    with Ledger.open(out_dir) as ledger:
        row = ledger.get("/music/a/01.mp3")
        ledger.start(key, attempt)                 # running
        ledger.finish(key, outputs, wall, audio)   # done
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from stemboard.errors import DestinationError

LEDGER_FOLDER = ".stemboard"
LEDGER_NAME = "ledger.sqlite"
STATUSES = ("pending", "running", "done", "failed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tracks (
    input TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    input_sha256 TEXT NOT NULL,
    model_sha256 TEXT NOT NULL,
    options_sha256 TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    wall_seconds REAL,
    audio_seconds REAL,
    outputs TEXT NOT NULL DEFAULT '[]',
    updated REAL NOT NULL
)
"""


@dataclass(frozen=True)
class Key:
    """What a track is rendered from: the input (path, size, content) and the model and options."""

    input: str
    size: int
    input_sha256: str
    model_sha256: str
    options_sha256: str


@dataclass(frozen=True)
class Row:
    """A track's row in the ledger."""

    key: Key
    mtime_ns: int
    status: str
    attempts: int
    error: str | None
    wall_seconds: float | None
    audio_seconds: float | None
    outputs: tuple[str, ...]

    def done_for(self, key: Key) -> bool:
        """Done with exactly this key, and every output still there."""
        return (
            self.status == "done"
            and self.key == key
            and bool(self.outputs)
            and all(Path(path).is_file() for path in self.outputs)
        )


class Ledger:
    """The ledger of one output folder. Use :meth:`open`, as a context manager."""

    def __init__(self, connection: sqlite3.Connection, path: Path):
        self.connection = connection
        self.path = path

    @classmethod
    def open(cls, out_dir: str | os.PathLike[str]) -> Ledger:
        """The ledger of ``out_dir``, created with its folder if missing."""
        folder = Path(out_dir) / LEDGER_FOLDER
        try:
            folder.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(folder / LEDGER_NAME, timeout=30)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute(_SCHEMA)
            connection.commit()
        except (OSError, sqlite3.Error) as error:
            raise DestinationError(
                f"{folder / LEDGER_NAME}: cannot open the ledger: {error}"
            ) from None
        return cls(connection, folder / LEDGER_NAME)

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.connection.close()

    def get(self, input: str) -> Row | None:
        """The row of the track read from ``input`` (an absolute path), if any."""
        found = self.connection.execute(
            "SELECT input, size, input_sha256, model_sha256, options_sha256, mtime_ns, status, "
            "attempts, error, wall_seconds, audio_seconds, outputs FROM tracks WHERE input = ?",
            (input,),
        ).fetchone()
        if found is None:
            return None
        key = Key(*found[:5])
        return Row(key, *found[5:11], tuple(json.loads(found[11])))

    def rows(self) -> Iterator[Row]:
        """Every row, by input path."""
        for (input,) in self.connection.execute("SELECT input FROM tracks ORDER BY input"):
            row = self.get(input)
            if row is not None:
                yield row

    def pending(self, key: Key, mtime_ns: int) -> None:
        """Record that the track will be rendered (again), keeping no old result.

        ``mtime_ns`` is the input's modification time, so that a later run can reuse the
        sha256 while size and time are unchanged.
        """
        self._write(
            "INSERT INTO tracks (input, size, mtime_ns, input_sha256, model_sha256, "
            "options_sha256, status, attempts, error, wall_seconds, audio_seconds, outputs, "
            "updated) VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, NULL, NULL, NULL, '[]', ?) "
            "ON CONFLICT(input) DO UPDATE SET size = excluded.size, "
            "mtime_ns = excluded.mtime_ns, input_sha256 = excluded.input_sha256, "
            "model_sha256 = excluded.model_sha256, options_sha256 = excluded.options_sha256, "
            "status = 'pending', attempts = 0, error = NULL, wall_seconds = NULL, "
            "audio_seconds = NULL, outputs = '[]', updated = excluded.updated",
            (
                key.input,
                key.size,
                mtime_ns,
                key.input_sha256,
                key.model_sha256,
                key.options_sha256,
                time.time(),
            ),
        )

    def start(self, input: str) -> None:
        """One more attempt at the track is running."""
        self._write(
            "UPDATE tracks SET status = 'running', attempts = attempts + 1, updated = ? "
            "WHERE input = ?",
            (time.time(), input),
        )

    def finish(
        self,
        input: str,
        outputs: Sequence[str],
        wall_seconds: float,
        audio_seconds: float,
        input_sha256: str,
    ) -> None:
        """The track is done: its files are in place, rendered from content ``input_sha256``."""
        self._write(
            "UPDATE tracks SET status = 'done', error = NULL, wall_seconds = ?, "
            "audio_seconds = ?, outputs = ?, input_sha256 = ?, updated = ? WHERE input = ?",
            (
                wall_seconds,
                audio_seconds,
                json.dumps(list(outputs)),
                input_sha256,
                time.time(),
                input,
            ),
        )

    def seen(self, key: Key, mtime_ns: int) -> None:
        """A done track found unchanged: remember its file's time (it may have been touched)."""
        self._write(
            "UPDATE tracks SET mtime_ns = ?, updated = ? WHERE input = ?",
            (mtime_ns, time.time(), key.input),
        )

    def fail(self, input: str, error: str, wall_seconds: float | None = None) -> None:
        """The track failed for good (its reason in one line)."""
        self._write(
            "UPDATE tracks SET status = 'failed', error = ?, wall_seconds = ?, updated = ? "
            "WHERE input = ?",
            (error, wall_seconds, time.time(), input),
        )

    def back_to_pending(self, input: str, error: str | None = None) -> None:
        """An attempt ended without a result (a worker died, the run was stopped)."""
        self._write(
            "UPDATE tracks SET status = 'pending', error = ?, updated = ? WHERE input = ?",
            (error, time.time(), input),
        )

    def _write(self, statement: str, values: tuple) -> None:
        with self.connection:
            self.connection.execute(statement, values)
