"""Hostile and odd inputs through every entry point: one line, the right exit status, and
nothing half-written. One test per class of failure, each through the API and the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from audio_files import read_audio, write_audio
from pedalboard.io import AudioFile

from stemboard.errors import (
    AudioFileError,
    DestinationError,
    OutputExistsError,
    PresetError,
    StemboardError,
)
from stemboard.graph import StemGraph, load_preset
from stemboard.node import SeparatorNode
from stemboard.render import render_file, separate_file
from stemboard.signals import music_like


def cli(*args: str | os.PathLike | bytes, cwd: Path | None = None, timeout: float = 120):
    """``python -m stemboard.cli ARGS``: (exit status, stdout, stderr)."""
    done = subprocess.run(
        [sys.executable, "-m", "stemboard.cli", *map(os.fsencode, args)],
        capture_output=True,
        timeout=timeout,
        cwd=cwd,
    )
    return (
        done.returncode,
        done.stdout.decode(errors="replace"),
        done.stderr.decode(errors="replace"),
    )


def one_error_line(stderr: str, *fragments: str) -> str:
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("stemboard: error:")]
    assert errors, stderr
    assert all(fragment in errors[0] for fragment in fragments), errors[0]
    return errors[0]


def files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def node(identity_model):
    return SeparatorNode(identity_model, device="cpu")


@pytest.fixture
def song(tmp_path):
    return write_audio(tmp_path / "song.wav", music_like(2.0, seed=12))


# --- every length, from 0 frames up ---------------------------------------------------------


@pytest.mark.parametrize("frames", [0, 1, 2, 3, 4097])
def test_every_length_works_through_every_entry_point(identity_model, node, tmp_path, frames):
    audio = np.random.default_rng(frames).uniform(-0.5, 0.5, (2, frames)).astype(np.float32)
    path = write_audio(tmp_path / "short.wav", audio)
    stems = separate_file(node, path, tmp_path / "api-sep", bit_depth=32)
    for file in stems.values():
        got, _ = read_audio(file)
        np.testing.assert_allclose(got, audio, atol=1e-5)
    graph = load_preset("karaoke", model=identity_model, device="cpu")
    (mix,) = render_file(graph, path, tmp_path / "api-render").values()
    assert read_audio(mix)[0].shape == (2, frames)
    status, _, err = cli("separate", path, "-o", tmp_path / "cli-sep", "--model", identity_model)
    assert status == 0, err
    status, _, err = cli(
        "render", "karaoke", path, "-o", tmp_path / "cli-render", "--model", identity_model
    )
    assert status == 0, err
    assert read_audio(tmp_path / "cli-render" / "short" / "karaoke.wav")[0].shape == (2, frames)


# --- outputs that would collide --------------------------------------------------------------


@pytest.mark.parametrize("command", ["separate", "render"])
def test_inputs_whose_outputs_collide_are_refused_before_anything_is_written(
    identity_model, tmp_path, command
):
    first = write_audio((tmp_path / "a").mkdir() or tmp_path / "a" / "01.wav", music_like(1.0))
    second = write_audio((tmp_path / "b").mkdir() or tmp_path / "b" / "01.wav", music_like(1.0))
    out = tmp_path / "out"
    head = ["render", "karaoke"] if command == "render" else ["separate"]
    status, _, err = cli(*head, first, second, "-o", out, "--model", identity_model)
    assert status == 1
    one_error_line(err, str(first), str(second), "would both write")
    assert not out.exists()


def test_the_same_input_twice_is_refused(node, song, tmp_path):
    status, _, err = cli("separate", song, song, "-o", tmp_path / "o", "--model", node.model_path)
    assert status == 1
    one_error_line(err, "is given twice")


def test_an_existing_output_refuses_the_whole_set_before_any_work(node, song, tmp_path):
    other = write_audio(tmp_path / "other.wav", music_like(1.0, seed=3))
    out = tmp_path / "out"
    separate_file(node, other, out)
    before = {name: (out / name).read_bytes() for name in files_in(out)}
    with pytest.raises(OutputExistsError, match="already exists"):
        separate_file(node, other, out)
    status, _, err = cli("separate", song, other, "-o", out, "--model", node.model_path)
    assert status == 1
    one_error_line(err, "already exists", "--overwrite")
    assert not (out / "song").exists()
    assert {name: (out / name).read_bytes() for name in files_in(out)} == before


# --- errors follow Python's conventions --------------------------------------------------------


def test_missing_files_are_file_not_found_errors_and_bad_values_value_errors(node, tmp_path):
    with pytest.raises(FileNotFoundError):
        separate_file(node, tmp_path / "missing.wav", tmp_path / "out")
    with pytest.raises(FileNotFoundError):
        SeparatorNode(tmp_path / "missing.onnx", device="cpu")
    with pytest.raises(FileNotFoundError):
        load_preset(tmp_path / "missing.yaml")
    with pytest.raises(ValueError):
        SeparatorNode(node.model_path, device="cpu", overlap=1.5)
    with pytest.raises(ValueError):
        separate_file(node, tmp_path / "x.wav", tmp_path / "out", format="aiff")


# --- non-finite audio in files -----------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("command", ["separate", "render"])
def test_a_wav_with_nan_or_inf_is_one_line_naming_file_and_sample(
    identity_model, tmp_path, bad, command
):
    audio = music_like(1.0, seed=5)
    audio[0, 20_000] = bad
    path = write_audio(tmp_path / "broken.wav", audio)
    out = tmp_path / "out"
    head = ["render", "karaoke"] if command == "render" else ["separate"]
    status, _, err = cli(*head, path, "-o", out, "--model", identity_model)
    assert status == 1
    one_error_line(err, "broken.wav", "NaN or infinite", "frame 20000")
    assert not out.exists() or files_in(out) == []


# --- non-finite output and extreme settings ---------------------------------------------------


def test_an_extreme_master_gain_is_refused_when_the_preset_loads(identity_model, song, tmp_path):
    preset = tmp_path / "loud.yaml"
    preset.write_text("stemboard_preset: 1\nmaster: [{plugin: Gain, gain_db: 1000000}]\n")
    with pytest.raises(PresetError, match=r"loud\.yaml: master\[0\]: Gain\.gain_db=1000000"):
        load_preset(preset, model=identity_model, device="cpu")
    status, _, err = cli("render", preset, song, "-o", tmp_path / "out", "--model", identity_model)
    assert status == 2  # a preset error: nothing can run
    one_error_line(err, "Gain.gain_db")
    assert not (tmp_path / "out").exists()


def test_a_runaway_resample_rate_is_refused(identity_model, tmp_path):
    preset = tmp_path / "resample.yaml"
    preset.write_text(
        "stemboard_preset: 1\nmaster: [{plugin: Resample, target_sample_rate: 1000000000}]\n"
    )
    with pytest.raises(PresetError, match=r"Resample\.target_sample_rate=1000000000"):
        load_preset(preset, model=identity_model, device="cpu")


class Exploding:
    """A chain that turns its input into infinity, as a broken plugin might."""

    def process(self, audio, sample_rate, reset=True):
        return np.full_like(audio, np.inf)

    def reset(self):
        pass


def test_no_file_holding_nan_or_infinity_is_ever_renamed_into_place(node, song, tmp_path):
    graph = StemGraph(node, stems={"vocals": Exploding()})
    with pytest.raises(ValueError, match="NaN or infinite samples"):
        render_file(graph, song, tmp_path / "out")
    assert not (tmp_path / "out").exists() or files_in(tmp_path / "out") == []


# --- clipping ----------------------------------------------------------------------------------


def test_a_loud_input_is_rescaled_by_default_and_warned_about(identity_model, tmp_path):
    audio = music_like(1.0, seed=8)
    loud = write_audio(tmp_path / "loud.wav", audio / np.abs(audio).max() * 100)
    status, _, err = cli("separate", loud, "-o", tmp_path / "out", "--model", identity_model)
    assert status == 0
    assert "stemboard: warning:" in err and "beyond full scale" in err and "scaled" in err
    got, _ = read_audio(tmp_path / "out" / "loud" / "vocals.wav")
    assert 0.9 < np.abs(got).max() <= 1.0
    status, _, err = cli(
        "separate",
        loud,
        "-o",
        tmp_path / "clamped",
        "--model",
        identity_model,
        "--clip-mode",
        "clamp",
    )
    assert status == 0 and "clamped" in err


# --- destinations ------------------------------------------------------------------------------


def test_an_output_folder_that_is_a_file_is_refused_before_work(node, song, tmp_path):
    blocker = tmp_path / "out"
    blocker.write_text("a file")
    with pytest.raises(DestinationError, match="is a file"):
        separate_file(node, song, blocker)
    with pytest.raises(DestinationError, match="is a file"):
        separate_file(node, song, blocker / "deeper")
    for head in (["separate"], ["render", "karaoke"]):
        status, _, err = cli(*head, song, "-o", blocker, "--model", node.model_path)
        assert status == 1
        one_error_line(err, "is a file")


def test_an_unwritable_output_folder_is_refused_before_work(node, song):
    unwritable = Path("/sys/stemboard-test-out")  # /sys refuses new files, even to root
    with pytest.raises(DestinationError, match="cannot write"):
        separate_file(node, song, unwritable)
    status, _, err = cli("separate", song, "-o", unwritable, "--model", node.model_path)
    assert status == 1
    one_error_line(err, "cannot write")


@pytest.fixture
def read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro", "tmpfs", str(folder)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a read-only file system here (needs root)")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


def test_a_read_only_file_system_is_refused_before_work(node, song, read_only_folder):
    with pytest.raises(DestinationError, match="Read-only file system"):
        separate_file(node, song, read_only_folder / "out")
    status, _, err = cli(
        "render", "karaoke", song, "-o", read_only_folder, "--model", node.model_path
    )
    assert status == 1
    one_error_line(err, "Read-only file system")


def test_outputs_never_follow_a_symlink_out_of_the_output_folder(node, song, tmp_path):
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "song").symlink_to(elsewhere)
    with pytest.raises(DestinationError, match="outside the output directory"):
        separate_file(node, song, out)
    status, _, err = cli("separate", song, "-o", out, "--model", node.model_path)
    assert status == 1
    one_error_line(err, "outside the output directory")
    assert list(elsewhere.iterdir()) == []


# --- tracebacks from the CLI -------------------------------------------------------------------


def test_a_model_whose_metadata_has_the_wrong_type_is_one_line(make_identity_model, song, tmp_path):
    bad = make_identity_model(tmp_path / "bad.onnx", **{"stemboard.audio_channels": "two"})
    status, _, err = cli("separate", song, "-o", tmp_path / "out", "--model", bad)
    assert status == 1
    one_error_line(err, "bad.onnx", "not an integer")


@pytest.mark.parametrize("content", [None, b"\x00\xff\xfe binary \x00"])
def test_presets_show_of_a_missing_or_binary_file_is_one_line(tmp_path, content):
    path = tmp_path / "p.yaml"
    if content is not None:
        path.write_bytes(content)
    status, _, err = cli("presets", "show", path)
    assert status == 1
    one_error_line(err, "p.yaml")


def test_an_input_name_that_is_not_utf8_is_handled(identity_model, tmp_path):
    name = b"caf\xe9-\xff.wav"
    path = os.path.join(os.fsencode(tmp_path), name)
    with open(path, "wb") as raw, AudioFile(raw, "w", 44100, 2, bit_depth=32, format="wav") as f:
        f.write(music_like(0.5))
    status, out, err = cli("separate", path, "-o", tmp_path / "out", "--model", identity_model)
    assert status == 0, err
    assert "Traceback" not in err and "\\xe9" in out
    missing = os.path.join(os.fsencode(tmp_path), b"gone-\xff.wav")
    status, _, err = cli("separate", missing, "-o", tmp_path / "out2", "--model", identity_model)
    assert status == 1
    one_error_line(err, "no such file")


# --- signals -----------------------------------------------------------------------------------


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_mid_render_stops_cleanly_and_leaves_no_partial_file(
    identity_model, tmp_path, signum, status
):
    long = write_audio(tmp_path / "long.wav", np.zeros((2, 44100 * 600), np.float32))
    out = tmp_path / "out"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stemboard.cli",
            "separate",
            str(long),
            "-o",
            str(out),
            "--model",
            str(identity_model),
            "--overlap",  # ten times the segments: the render lasts seconds, not a blink
            "0.9",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # a pytest started in the background of a shell has SIGINT ignored, and so would its
        # children: the CLI must see it as a terminal user's Ctrl-C
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 60
        while not list(out.rglob("*.partial*")) and time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()
            time.sleep(0.05)
        assert list(out.rglob("*.partial*")), "the render never started writing"
        process.send_signal(signum)
        _, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == status, err
    assert b"Traceback" not in err
    assert files_in(out) == [] if out.exists() else True


# --- strictness --------------------------------------------------------------------------------


def test_a_preset_with_a_duplicate_key_is_refused_naming_key_and_lines(tmp_path):
    preset = tmp_path / "dup.yaml"
    preset.write_text(
        "stemboard_preset: 1\nstems:\n  vocals: {mute: true}\nmaster: []\n"
        "stems:\n  drums: {mute: true}\n"
    )
    with pytest.raises(
        PresetError,
        match=r"dup\.yaml: line 5.*duplicate key 'stems' "
        r"\(on lines 2 and 5\)",
    ):
        load_preset(preset)
    status, _, err = cli("presets", "validate", preset)
    assert status == 1
    one_error_line(err, "duplicate key 'stems'")


def test_a_wav_whose_bytes_are_not_a_wav_is_refused(node, tmp_path):
    mp3 = tmp_path / "real.mp3"
    with AudioFile(str(mp3), "w", 44100, 2) as f:
        f.write(music_like(1.0))
    fake = tmp_path / "fake.wav"
    fake.write_bytes(mp3.read_bytes())
    with pytest.raises(AudioFileError, match=r"fake\.wav: the file's content is not a WAV"):
        separate_file(node, fake, tmp_path / "out")
    status, _, err = cli("separate", fake, "-o", tmp_path / "out", "--model", node.model_path)
    assert status == 1
    one_error_line(err, "fake.wav", "not a WAV")


def test_seven_channels_are_refused_in_one_line(node, tmp_path):
    path = write_audio(tmp_path / "surround.wav", np.zeros((7, 1000), np.float32))
    with pytest.raises(AudioFileError, match="7 channels; stemboard takes mono or stereo"):
        separate_file(node, path, tmp_path / "out")
    status, _, err = cli(
        "render", "karaoke", path, "-o", tmp_path / "o", "--model", node.model_path
    )
    assert status == 1
    one_error_line(err, "7 channels")


def test_a_non_plugin_as_a_chain_is_refused_at_construction(node):
    with pytest.raises(StemboardError, match=r"stems\.vocals\.chain: expected a pedalboard plugin"):
        StemGraph(node, stems={"vocals": "reverb"})


@pytest.mark.parametrize("command", ["separate", "render"])
@pytest.mark.parametrize("clip_mode", ["rescale", "none"])  # numpy's spool, pedalboard's encoder
def test_a_full_disk_is_said_in_words_and_leaves_nothing(
    identity_model, tmp_path, small_disk, command, clip_mode
):
    song = write_audio(tmp_path / "song.wav", music_like(8.0, seed=2))  # 2 MB of output or more
    out = small_disk / "out"
    what = ["separate"] if command == "separate" else ["render", "karaoke"]
    status, _, err = cli(
        *what, song, "-o", out, "--model", identity_model, "--clip-mode", clip_mode
    )
    assert status == 1
    line = one_error_line(err, "no space left on the device")
    assert f"{out}/song: no space left on the device (writing " in line
    assert list(small_disk.rglob("*.*")) == []
