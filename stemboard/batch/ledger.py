"""The batch ledger: one SQLite row per track, so that nothing is lost and nothing done twice.

It lives in the output folder (``OUT/.stemboard/ledger.sqlite``, WAL mode) and only the driver
writes it; workers never touch it. A row records what the track was rendered from — the input's
path, size and content sha256, the model's sha256, a hash of the effective preset or options —
its status (``pending``, ``running``, ``done``, ``failed``), the attempts, the last error line,
the wall time, the audio seconds and the output files.

A track is *done* for a new run when its row is ``done`` with the same three hashes and every
file the run plans for it exists; one whose files are not all there makes only the missing
ones (:class:`~stemboard.batch.run_state.RunState`); anything else renders it again (a row
whose list of files is not readable included). Opening the ledger takes the output folder's lock
(:mod:`stemboard.batch.folder_lock`), held until it is closed, so one run at a time writes
there. A file that is not a stemboard ledger, a ledger that cannot be written, or an SQLite
error on the way is a :class:`LedgerError` in one line.

Example::

    with Ledger.open(out_dir) as ledger:
        row = ledger.get("/music/a/01.mp3")          # None, or the last run's Row
        ledger.pending(key, mtime_ns)
        ledger.start(key.input)                      # running
        ledger.finish(key.input, outputs, wall, audio, input_sha256)   # done
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from stemboard.audio.reading import display
from stemboard.batch.folder_lock import FolderLock
from stemboard.errors import DestinationError

LEDGER_FOLDER = ".stemboard"
LEDGER_NAME = "ledger.sqlite"
LOCK_NAME = "lock"

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
_COLUMNS = tuple(line.split()[0] for line in _SCHEMA.strip().splitlines()[1:-1])
"""The columns of the tracks table, in order, as the schema names them."""


class LedgerError(DestinationError):
    """A ledger that cannot be used: not stemboard's, not writable, damaged."""


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


class Ledger:
    """The ledger of one output folder. Use :meth:`open`, as a context manager."""

    def __init__(self, connection: sqlite3.Connection, path: Path, lock: FolderLock | None = None):
        self.connection = connection
        self.path = path
        self._lock = lock

    @classmethod
    def open(cls, out_dir: str | os.PathLike[str]) -> Ledger:
        """The ledger of ``out_dir``, created with its folder if missing, with the folder's
        lock held (:class:`~stemboard.batch.folder_lock.FolderBusyError` when another run
        has it)."""
        folder = Path(out_dir) / LEDGER_FOLDER
        path = folder / LEDGER_NAME
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise LedgerError(f"{display(folder)}: cannot be made: {error.strerror}") from None
        lock = FolderLock.acquire(folder / LOCK_NAME)
        try:
            return cls(_connect(path), path, lock)
        except BaseException:
            lock.release()
            raise

    @classmethod
    def check(cls, out_dir: str | os.PathLike[str]) -> None:
        """Refuse, before any work, a folder another run holds or whose ledger cannot be used;
        a folder without a ledger yet is left as it is."""
        if (Path(out_dir) / LEDGER_FOLDER).is_dir():
            cls.open(out_dir).close()

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
        if self._lock is not None:
            self._lock.release()

    def get(self, input: str) -> Row | None:
        """The row of the track read from ``input`` (an absolute path), if any."""
        found = self._read(
            "SELECT input, size, input_sha256, model_sha256, options_sha256, mtime_ns, status, "
            "attempts, error, wall_seconds, audio_seconds, outputs FROM tracks WHERE input = ?",
            (input,),
        )
        if not found:
            return None
        row = found[0]
        return Row(Key(*row[:5]), *row[5:11], _outputs(row[11]))

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
        try:
            with self.connection:
                self.connection.execute(statement, values)
        except sqlite3.Error as error:  # a full disk, a file made read-only during the run
            raise LedgerError(f"{display(self.path)}: cannot write the ledger: {error}") from None

    def _read(self, statement: str, values: tuple) -> list[tuple]:
        try:
            return self.connection.execute(statement, values).fetchall()
        except sqlite3.Error as error:
            raise LedgerError(f"{display(self.path)}: cannot read the ledger: {error}") from None


def _connect(path: Path) -> sqlite3.Connection:
    """The ledger at ``path``, made if missing, checked to be stemboard's and writable."""
    try:
        connection = sqlite3.connect(path, timeout=30)
    except sqlite3.Error as error:
        raise LedgerError(f"{display(path)}: cannot open the ledger: {error}") from None
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master")}
        if tables and "tracks" not in tables:
            raise LedgerError(_not_ours(path, f"it holds {', '.join(sorted(tables))}"))
        connection.execute(_SCHEMA)
        columns = tuple(row[1] for row in connection.execute("PRAGMA table_info(tracks)"))
        if columns != _COLUMNS:
            raise LedgerError(_not_ours(path, f"its tracks have columns {', '.join(columns)}"))
        connection.commit()
        _check_writable(connection)
    except sqlite3.Error as error:  # not SQLite at all, damaged, read-only
        connection.close()
        raise LedgerError(f"{display(path)}: cannot use the ledger: {error}") from None
    except BaseException:
        connection.close()
        raise
    return connection


def _check_writable(connection: sqlite3.Connection) -> None:
    """A write that changes nothing, rolled back: refused by a read-only or immutable file
    (SQLite then opens it for reading only, and says so only at the first write)."""
    (version,) = connection.execute("PRAGMA user_version").fetchone()
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.execute(f"PRAGMA user_version = {int(version)}")
    finally:
        connection.rollback()


def _not_ours(path: Path, what: str) -> str:
    return (
        f"{display(path)}: not a stemboard ledger ({what}); move it away, or give the batch "
        "another output folder"
    )


def _outputs(text: object) -> tuple[str, ...]:
    """A row's files; none when the list is not readable (the track is then rendered again)."""
    try:
        outputs = json.loads(text) if isinstance(text, str) else None
    except (ValueError, RecursionError):
        return ()
    if not isinstance(outputs, list) or not all(isinstance(o, str) for o in outputs):
        return ()
    return tuple(outputs)
