"""What a new user meets first on the command line: a progress bar on a terminal, presets found
by name (not hidden by a folder, a typo answered with the closest name), a FIFO refused, the same
exit status for the same preset error in render and batch, and messages that name commands that
exist."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from audio_files import write_audio

from stemboard import cli
from stemboard.errors import PresetError, PresetNotFoundError
from stemboard.graph.presets import PRESETS_DIR, find_preset, read_preset
from stemboard.signals import music_like


@pytest.fixture
def song(tmp_path):
    return write_audio(tmp_path / "song.wav", music_like(6.0, seed=3))


def run_on_a_terminal(args: list[str], cwd: Path, timeout: float = 120) -> tuple[int, str]:
    """``python -m stemboard.cli ARGS`` with stderr on a pseudo-terminal: (status, what the
    terminal showed). stdout is a pipe, as when the output is captured."""
    main, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "stemboard.cli", *args],
        stdout=subprocess.DEVNULL,
        stderr=terminal,
        cwd=cwd,
    )
    os.close(terminal)
    shown = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the terminal closed: the process is gone
                break
            if not chunk:
                break
            shown += chunk
        elif process.poll() is not None:
            break
    os.close(main)
    status = process.wait(timeout=max(1.0, deadline - time.monotonic()))
    return status, shown.decode(errors="replace")


def test_separate_shows_a_progress_bar_on_a_terminal_only(song, tmp_path):
    args = ["separate", str(song), "-o", "out", "--model", "demo", "--device", "cpu"]
    status, shown = run_on_a_terminal(args, tmp_path)
    assert status == 0, shown
    assert "[1/1] " in shown and "x realtime" in shown and "ETA" in shown and "100%" in shown
    assert "6/6 s" in shown  # the track's seconds of audio, done of all
    status, shown = run_on_a_terminal([*args[:3], "out-quiet", *args[4:], "-q"], tmp_path)
    assert status == 0 and "ETA" not in shown
    piped = subprocess.run(
        [sys.executable, "-m", "stemboard.cli", *args[:3], "out-piped", *args[4:]],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert piped.returncode == 0 and piped.stderr == ""


def test_render_shows_a_progress_bar_on_a_terminal(song, tmp_path):
    args = ["render", "karaoke", str(song), "-o", "out", "--model", "demo", "--device", "cpu"]
    status, shown = run_on_a_terminal(args, tmp_path)
    assert status == 0, shown
    assert "x realtime" in shown and "ETA" in shown


def test_a_folder_named_like_a_shipped_preset_does_not_hide_it(tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "karaoke").mkdir()  # an earlier output folder, say
    with caplog.at_level("INFO", logger="stemboard"):
        assert find_preset("karaoke") == PRESETS_DIR / "karaoke.yaml"
    assert "a folder of that name is here; using the shipped preset" in caplog.text
    assert read_preset("karaoke").name == "karaoke"
    (tmp_path / "mine").mkdir()  # a folder that is no shipped preset is still refused
    with pytest.raises(PresetError, match="is a folder, not a preset file"):
        read_preset("mine")


def test_render_with_a_folder_named_like_the_preset_renders_and_says_so_with_v(song, tmp_path):
    (tmp_path / "karaoke").mkdir()
    argv = ["-v", "render", "karaoke", str(song), "-o", "out", "--model", "demo"]
    done = subprocess.run(
        [sys.executable, "-m", "stemboard.cli", *argv, "--device", "cpu"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "using the shipped preset" in done.stderr
    assert (tmp_path / "out" / "song" / "karaoke.wav").is_file()


def test_a_mistyped_preset_name_says_the_closest_one(capsys, song, tmp_path):
    with pytest.raises(PresetNotFoundError, match=r"did you mean karaoke\? shipped: "):
        find_preset("karoke")
    assert cli.main(["render", "karoke", str(song), "-o", str(tmp_path / "o")]) == 2
    assert "did you mean karaoke?" in capsys.readouterr().err


@pytest.mark.parametrize(
    "body",
    [
        "stemboard_preset: 1\nstems: {vocal: {mute: true}}\n",  # a stem the model lacks
        "stemboard_preset: 1\nmodel: {overlap: 2}\n",  # a setting out of range
        None,  # no such preset
    ],
)
def test_render_and_batch_give_the_same_status_for_the_same_preset_error(
    body, song, tmp_path, capsys
):
    preset = tmp_path / "p.yaml"
    if body is not None:
        preset.write_text(body)
    common = ["--model", "demo", "--device", "cpu"]
    rendered = cli.main(["render", str(preset), str(song), "-o", str(tmp_path / "r"), *common])
    render_error = capsys.readouterr().err
    batched = cli.main(
        ["batch", str(song), "-o", str(tmp_path / "b"), "--preset", str(preset), *common]
    )
    batch_error = capsys.readouterr().err
    assert rendered == batched == 2
    assert render_error.strip().splitlines()[-1] == batch_error.strip().splitlines()[-1]
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("command", [["presets", "validate"], ["presets", "show"], ["render"]])
def test_a_fifo_as_the_preset_is_refused_without_hanging(command, song, tmp_path):
    fifo = tmp_path / "preset.yaml"
    os.mkfifo(fifo)
    argv = [*command, str(fifo)]
    if command == ["render"]:
        argv += [str(song), "-o", str(tmp_path / "out"), "--model", "demo"]
    done = subprocess.run(
        [sys.executable, "-m", "stemboard.cli", *argv],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode in (1, 2)
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .endswith("preset.yaml: is a named pipe (FIFO), not a preset file")
    )
    assert "Traceback" not in done.stderr


def test_the_offline_message_for_the_default_model_names_commands_that_exist(tmp_path, monkeypatch):
    import dataclasses
    import socket

    from stemboard.errors import CheckpointError
    from stemboard.pretrained.download import find_or_fetch
    from stemboard.registry import bundle

    monkeypatch.setenv("STEMBOARD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    offline = dataclasses.replace(
        bundle("hdemucs_high_musdb_plus").files[0],
        url=f"http://127.0.0.1:{port}/hdemucs_high_trained.pt",
    )
    with pytest.raises(CheckpointError) as raised:
        find_or_fetch(offline, log=lambda _: None)
    told = str(raised.value)
    assert "\n" not in told
    assert str(tmp_path / "cache" / "checkpoints" / "hdemucs_high_trained.pt") in told
    command = told[told.index("stemboard models import") :].rstrip("`").split()
    parsed = cli.build_parser().parse_args([*command[1:-1], str(tmp_path / "x.pt")])
    assert parsed.command == "models" and parsed.action == "import"
