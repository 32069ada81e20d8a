"""`stemboard batch` under faults and hostile set-ups: two runs on one folder, a killed driver,
SIGTERM to every process of the batch, links out of the output folder, ledgers that are not
ours, damaged or read-only, link loops and FIFOs among the inputs, a full disk."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from batch_helpers import (
    command_line,
    descendants,
    ledger_rows,
    loaded_libraries,
    make_catalogue,
    partial_files,
    start,
    stemboard,
    survivors,
    wait_for_partial,
    writes_a_partial_file,
)

from stemboard.batch import plan_batch, run_batch
from stemboard.batch.folder_lock import FolderBusyError
from stemboard.batch.ledger import Ledger, LedgerError
from stemboard.batch.work import Failed, Renderer
from stemboard.errors import DestinationError


def one_line(done: subprocess.CompletedProcess, *fragments: str) -> str:
    """The one line a refused command printed, holding every fragment."""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stemboard: error:"), done.stderr
    assert all(fragment in lines[0] for fragment in fragments), lines[0]
    return lines[0]


def files_under(folder: Path) -> dict[str, int]:
    return {str(p): p.stat().st_size for p in folder.rglob("*") if p.is_file()}


def separate(source: Path, out: Path, model) -> list[str]:
    return ["batch", source, "-o", out, "--stems", "all", "--model", model, "--device", "cpu"]


# -- one run per output folder -------------------------------------------------------------------


def test_the_lock_is_one_ledgers_and_goes_with_its_process(tmp_path):
    with Ledger.open(tmp_path), pytest.raises(FolderBusyError, match=f"pid {os.getpid()}"):
        Ledger.open(tmp_path)
    Ledger.open(tmp_path).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom stemboard.batch.ledger import Ledger\n"
            "ledger = Ledger.open(sys.argv[1])\nprint('held', flush=True)\ntime.sleep(60)\n",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(FolderBusyError, match="another stemboard batch"):
            Ledger.check(tmp_path)
    finally:
        holder.kill()
        holder.wait()
    Ledger.open(tmp_path).close()  # a killed run's lock is simply taken


def test_a_second_run_on_the_same_folder_is_refused_and_the_first_finishes(tmp_path):
    source, out = tmp_path / "music", tmp_path / "out"
    make_catalogue(source, seconds=20.0, names=["1.wav", "2.wav"])
    args = [*separate(source, out, "demo"), "--workers", "1"]
    first = start(*args, "--report", tmp_path / "first.json")
    try:
        wait_for_partial(out, first)
        second = stemboard(*args, timeout=120)
        running = first.poll() is None
        _, err = first.communicate(timeout=300)
    finally:
        first.kill()
    assert second.returncode == 2
    one_line(second, "another stemboard batch", f"pid {first.pid}", str(out))
    assert running and first.returncode == 0, err
    assert json.loads((tmp_path / "first.json").read_text())["totals"]["done"] == 2
    assert partial_files(out) == []
    assert {row[0] for row in ledger_rows(out).values()} == {"done"}


# -- the driver's end is its workers' end --------------------------------------------------------


def _batch_started(tmp_path: Path, moment: str = "writing") -> tuple[subprocess.Popen, Path]:
    """A batch of two 30 s tracks on two workers, in a process group of its own, at the
    ``moment`` its workers are ``starting``, ``importing`` or ``writing``."""
    source, out = tmp_path / "music", tmp_path / "out"
    make_catalogue(source, seconds=30.0, names=["1.wav", "2.wav"])
    driver = start(*separate(source, out, "demo"), "--workers", "2", start_new_session=True)
    if moment == "writing":
        wait_for_partial(out, driver)
        return driver, out
    deadline = time.monotonic() + 60
    while not any(_is_starting(pid, moment) for pid in descendants(driver.pid)):
        assert driver.poll() is None and time.monotonic() < deadline, "no worker started"
        time.sleep(0.01)
    return driver, out


def _is_starting(pid: int, moment: str) -> bool:
    """A worker process just started, or (``importing``) one loading numpy by now."""
    if b"spawn_main" not in command_line(pid):
        return False
    return moment == "starting" or "numpy" in loaded_libraries(pid)


def test_a_killed_driver_takes_its_workers_with_it(tmp_path):
    driver, out = _batch_started(tmp_path)
    try:
        batch = descendants(driver.pid)  # the workers and multiprocessing's resource tracker
        assert any(writes_a_partial_file(pid) for pid in batch)
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=10)
        left = survivors(batch, seconds=5)
        files = files_under(out)
        time.sleep(2)
        assert left == []
        assert files_under(out) == files  # nothing is written after the driver
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(driver.pid, signal.SIGKILL)
        driver.communicate()


@pytest.mark.parametrize(
    "signum, moment, status",
    [
        (signal.SIGTERM, "writing", 143),  # as systemd, timeout(1) and Slurm do
        (signal.SIGTERM, "starting", 143),
        (signal.SIGINT, "importing", 130),  # Ctrl-C at the terminal, as workers import
    ],
)
def test_a_signal_to_every_process_of_the_batch_is_a_clean_stop(tmp_path, signum, moment, status):
    driver, out = _batch_started(tmp_path, moment)
    try:
        batch = descendants(driver.pid)
        os.killpg(driver.pid, signum)
        stdout, stderr = driver.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(driver.pid, signal.SIGKILL)
    assert driver.returncode == status, stderr
    assert "Traceback" not in stderr and "WorkerStopped" not in stderr, stderr
    assert "2 stopped" in stdout.splitlines()[-1]
    assert partial_files(out) == []
    assert "running" not in {row[0] for row in ledger_rows(out).values()}
    assert survivors(batch, seconds=5) == []


# -- everything stays inside the output folder ---------------------------------------------------


def test_a_link_inside_the_output_folder_is_refused_as_render_refuses_it(tmp_path, identity_model):
    source, out, outside = tmp_path / "catalogue", tmp_path / "out", tmp_path / "outside"
    make_catalogue(source, seconds=1.0, names=["albumA/01.wav"])
    outside.mkdir()
    out.mkdir()
    (out / "albumA").symlink_to("../outside")
    with pytest.raises(DestinationError, match="outside the output directory"):
        plan_batch([source], out, stems="all", model=identity_model)
    manifest = tmp_path / "list.jsonl"
    manifest.write_text('{"path": "catalogue/albumA/01.wav", "output": "albumA/deeper"}\n')
    with pytest.raises(DestinationError, match="outside the output directory"):
        plan_batch([manifest], out, stems="all", model=identity_model)
    done = stemboard(*separate(source, out, identity_model))
    assert done.returncode == 2
    one_line(done, "outside the output directory", str(outside))
    # a link made once the batch is planned is refused by the worker, before it writes
    later = tmp_path / "later"
    later.mkdir()
    plan = plan_batch([source], later, stems=["vocals"], model=identity_model, workers=1)
    (later / "albumA").symlink_to(outside)
    outcome = Renderer(plan.work).attempt(plan.tracks[0].task)
    assert isinstance(outcome, Failed) and "outside the output directory" in outcome.reason
    assert list(outside.iterdir()) == []


# -- the ledger ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "schema",
    ["CREATE TABLE tracks (id INTEGER PRIMARY KEY, title TEXT)", "CREATE TABLE songs (id)"],
)
def test_a_ledger_that_is_not_ours_is_refused_in_one_line(tmp_path, identity_model, schema):
    source, out = tmp_path / "music", tmp_path / "out"
    make_catalogue(source, seconds=1.0, names=["x.wav"])
    (out / ".stemboard").mkdir(parents=True)
    with sqlite3.connect(out / ".stemboard" / "ledger.sqlite") as db:
        db.execute(schema)
    with pytest.raises(LedgerError, match="not a stemboard ledger"):
        plan_batch([source], out, stems="all", model=identity_model)
    done = stemboard(*separate(source, out, identity_model))
    assert done.returncode == 2
    one_line(done, "ledger.sqlite: not a stemboard ledger")


def test_a_read_only_ledger_is_one_line(tmp_path, identity_model):
    source, out = tmp_path / "music", tmp_path / "out"
    make_catalogue(source, seconds=1.0, names=["x.wav"])
    Ledger.open(out).close()
    ledger = out / ".stemboard" / "ledger.sqlite"
    if subprocess.run(["chattr", "+i", ledger], capture_output=True).returncode != 0:
        pytest.skip("needs chattr +i (root, a file system with attributes)")
    try:
        done = stemboard(*separate(source, out, identity_model))
    finally:
        subprocess.run(["chattr", "-i", ledger], check=True)
    assert done.returncode == 2
    one_line(done, "ledger.sqlite: cannot use the ledger", "readonly")


def test_a_ledger_row_whose_files_are_unreadable_is_rendered_again(tmp_path, identity_model):
    source, out = tmp_path / "music", tmp_path / "out"
    make_catalogue(source, seconds=1.0, names=["x.wav", "y.wav"])
    options = {"stems": ["vocals"], "model": identity_model, "workers": 1, "log": print}
    assert run_batch([source], out, **options).count("done") == 2
    with sqlite3.connect(out / ".stemboard" / "ledger.sqlite") as db:
        db.execute("UPDATE tracks SET outputs = '[\"broken' WHERE input LIKE '%x.wav'")
    again = run_batch([source], out, **options)
    assert {Path(t.input).name: t.status for t in again.tracks} == {
        "x.wav": "done",
        "y.wav": "skipped",
    }


# -- inputs that are not audio files -------------------------------------------------------------


def test_a_link_loop_and_a_fifo_fail_alone_and_the_rest_renders(tmp_path, identity_model):
    source, out, report = tmp_path / "music", tmp_path / "out", tmp_path / "r.json"
    make_catalogue(source, seconds=1.0, names=["good.wav"])
    (source / "loop.wav").symlink_to("loop.wav")
    (source / "again").symlink_to(".")  # a folder loop: links to folders are not followed
    os.mkfifo(source / "pipe.wav")
    done = stemboard(
        *separate(source, out, identity_model), "--workers", "1", "--report", report, timeout=120
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    tracks = {Path(t["input"]).name: t for t in json.loads(report.read_text())["tracks"]}
    assert tracks["good.wav"]["status"] == "done"
    assert tracks["loop.wav"]["status"] == "failed"
    assert "symbolic link loop" in tracks["loop.wav"]["error"]
    assert tracks["pipe.wav"]["status"] == "failed"
    assert "named pipe (FIFO)" in tracks["pipe.wav"]["error"]
    assert "loop.wav" in done.stdout and "pipe.wav" in done.stdout
    assert (out / "good" / "vocals.wav").is_file()


# -- a full disk ---------------------------------------------------------------------------------


@pytest.mark.parametrize("clip_mode", ["rescale", "none"])  # numpy's spool, pedalboard's encoder
def test_a_full_disk_is_said_in_words_with_the_folder(
    tmp_path, identity_model, small_disk, clip_mode
):
    source, out, report = tmp_path / "music", small_disk / "out", tmp_path / "r.json"
    make_catalogue(source, seconds=3.0, names=["x.wav"])
    done = stemboard(
        *separate(source, out, identity_model),
        "--clip-mode",
        clip_mode,
        "--workers",
        "1",
        "--report",
        report,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    (track,) = json.loads(report.read_text())["tracks"]
    assert track["status"] == "failed"
    assert track["error"].startswith(f"{out}/x: no space left on the device (writing ")
    assert partial_files(out) == []
