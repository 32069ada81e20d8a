"""What the batch tests share: a catalogue of short songs, the command run as a real process,
the ledger's rows, and the processes of a batch."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from audio_files import write_audio

from stemboard.synth import generate_song

TRACKS = ["a/01.wav", "b/01.wav", "a/02 Intro.wav", "b/deep/03.wav", "04.flac"]


def make_catalogue(root: Path, seconds: float = 3.0, names=TRACKS) -> list[Path]:
    paths = []
    for index, name in enumerate(names):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        song = generate_song(2_000_000 + index, seconds)
        write_audio(path, song.mix)
        paths.append(path)
    return paths


def stemboard(*args, timeout=300, **options) -> subprocess.CompletedProcess:
    """``stemboard ARGS`` run to its end."""
    return subprocess.run(
        [sys.executable, "-m", "stemboard.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        **options,
    )


def start(*args, wrap=lambda command: command, **options) -> subprocess.Popen:
    """``stemboard ARGS`` started in the background (``wrap`` may prefix the command)."""
    return subprocess.Popen(
        wrap([sys.executable, "-m", "stemboard.cli", *map(str, args)]),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **options,
    )


def ledger_rows(out: Path) -> dict[str, tuple]:
    with sqlite3.connect(out / ".stemboard" / "ledger.sqlite") as db:
        rows = db.execute("SELECT input, status, attempts, error FROM tracks").fetchall()
    return {Path(row[0]).name: row[1:] for row in rows}


def partial_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".partial" in p.name]


def _stat(pid: int) -> list[str] | None:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        fields = _stat(int(entry.name)) if entry.name.isdigit() else None
        if fields is not None and int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def descendants(pid: int) -> list[int]:
    found, waiting = [], [pid]
    while waiting:
        for child in children(waiting.pop()):
            found.append(child)
            waiting.append(child)
    return found


def alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped."""
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def writes_a_partial_file(pid: int) -> bool:
    try:
        links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
    except OSError:
        return False
    return any(".partial" in link for link in links)


def wait_for_partial(out: Path, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not partial_files(out):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no track started writing"
        time.sleep(0.02)


def survivors(pids: list[int], seconds: float = 5.0) -> list[int]:
    """Those of ``pids`` still alive after waiting up to ``seconds`` for them to end."""
    deadline = time.monotonic() + seconds
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [pid for pid in pids if alive(pid)]


def command_line(pid: int) -> bytes:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes()
    except OSError:
        return b""


def loaded_libraries(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "maps").read_text()
    except OSError:
        return ""
