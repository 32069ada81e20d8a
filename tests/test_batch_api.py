"""`stemboard.batch` from Python as a newcomer uses it: the README's script run with `python`,
a batch that did nothing never looking like success, a summary without an empty table, and
ledgers of earlier releases still matching."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from audio_files import write_audio
from batch_helpers import make_catalogue

from stemboard.batch import BatchFailedError, BatchReport, plan_batch, run_batch
from stemboard.batch.report import TrackReport

README = Path(__file__).resolve().parents[1] / "README.md"
GUARD = 'if __name__ == "__main__":'


def readme_batch_script() -> str:
    """The README's Python snippet that runs a batch."""
    blocks = re.findall(r"^```python\n(.*?)^```$", README.read_text(), re.S | re.M)
    (script,) = [block for block in blocks if "run_batch(" in block]
    return script


def without_guard(script: str) -> str:
    """The script as a newcomer first writes it: the batch at its top level."""
    lines = script.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(GUARD))
    body = [line.removeprefix("    ") for line in lines[at + 1 :]]
    return "\n".join([*lines[:at], *body]) + "\n"


def run_script(folder: Path, text: str) -> subprocess.CompletedProcess:
    (folder / "batch_script.py").write_text(text)
    make_catalogue(folder / "catalogue", seconds=2.0, names=["albumA/01 Intro.wav"])
    return subprocess.run(
        [sys.executable, "batch_script.py"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_readmes_batch_script_runs_with_python(tmp_path):
    script = readme_batch_script()
    assert GUARD in script
    done = run_script(tmp_path, script)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert (tmp_path / "batch-python" / "albumA" / "01 Intro" / "vocals.wav").is_file()


def test_a_script_without_the_main_guard_is_told_what_to_write(tmp_path):
    done = run_script(tmp_path, without_guard(readme_batch_script()))
    assert done.returncode == 1
    assert GUARD in done.stderr and "batch_script.py" in done.stderr
    assert done.stderr.count("Traceback") == 1 and "bootstrapping" not in done.stderr
    assert not (tmp_path / "batch-python").exists()


def test_a_batch_that_rendered_nothing_raises_and_one_that_rendered_some_says_so(
    tmp_path, identity_model
):
    source = tmp_path / "music"
    source.mkdir()
    for name in ("bad1.wav", "bad2.wav"):
        (source / name).write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 10)
    options = {"stems": ["vocals"], "model": identity_model, "workers": 1}
    with pytest.raises(BatchFailedError, match=r"every track failed \(2\); the first, ") as raised:
        run_batch([source], tmp_path / "out", log=print, **options)
    assert raised.value.report.count("failed") == 2
    write_audio(source / "good.wav", np.zeros((2, 4410), np.float32))
    said: list[str] = []
    report = run_batch([source], tmp_path / "out", log=said.append, **options)
    assert not report.ok and report.count("done") == 1
    assert said == ["stemboard: 2 of 3 tracks failed (report.table() says why)"]


def test_the_summary_has_a_table_only_when_a_track_failed_or_stopped():
    done = TrackReport("/music/a.wav", "done", 1, None, 1.0, 30.0, ["/out/a/vocals.wav"])
    report = BatchReport("/out", "local", 2, 2.0, [done])
    assert report.table().splitlines()[0].startswith("1 tracks: 1 done")
    report.tracks.append(TrackReport("/music/b.wav", "failed", 1, "broken"))
    header, row, totals = report.table().splitlines()
    assert header.split() == ["track", "status", "reason"]
    assert row.split()[1:] == ["failed", "broken"] and totals.startswith("2 tracks")


LEDGER_HASHES = {
    "separate_all": "e56194dc1073e909efcbffdcaa5b3967257933ae8470f3c5d98062408879848d",
    "separate_some": "c6d2b4d9250f6e60c085110ea5570e0d24627c412fd5e438a213783d1aafca9c",
    "render_file": "2cebf0e4b4e88eb7d9e1719699a3c684245c3fbe59ca40cafb676146fd88ac77",
    "render_file_overridden": "7056e291820d5f78ddf23474ecc14db7686b7a20d7cf300cb03da424d6bdb97a",
}
"""The options hashes the 2026-12 release (commit 79c9234) wrote into its ledgers."""


def test_the_options_hash_is_the_one_ledgers_of_the_last_release_hold(tmp_path):
    source = tmp_path / "music"
    source.mkdir()
    write_audio(source / "x.wav", np.zeros((2, 4410), np.float32))
    preset = tmp_path / "p.yaml"
    preset.write_text(
        "stemboard_preset: 1\nname: mine\nmodel: {shifts: 2, overlap: 0.5}\n"
        "stems: {vocals: {mute: true, gain_db: -3}, drums: {chain: [{plugin: Gain, gain_db: 2}]}}\n"
        "buses: {band: {inputs: [drums, bass]}}\n"
        "outputs: {mix: true, stems: [vocals], buses: [band], format: flac, bit_depth: 24}\n"
    )
    cases = {
        "separate_all": {"stems": "all"},
        "separate_some": {
            "stems": ["vocals", "drums"],
            **{"precision": "fp32", "shifts": 1, "seed": 2},
            **{"format": "flac", "bit_depth": 24, "clip_mode": "clamp"},
        },
        "render_file": {"preset": str(preset)},
        "render_file_overridden": {
            "preset": str(preset),
            **{"precision": "fp32", "seed": 5},
            **{"format": "wav", "bit_depth": 16, "clip_mode": "clamp"},
        },
    }
    hashes = {
        name: plan_batch([source], tmp_path / "out", model="demo", device="cpu", **options)
        .tracks[0]
        .options_sha256
        for name, options in cases.items()
    }
    assert hashes == LEDGER_HASHES
