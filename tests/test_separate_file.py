"""File separation in blocks and the `stemboard separate` command."""

import subprocess
import sys

import numpy as np
import pytest
from audio_files import read_audio, write_audio

from stemboard import cli
from stemboard.errors import StemboardError
from stemboard.node import SeparatorNode
from stemboard.render import separate_file
from stemboard.signals import music_like


@pytest.fixture
def song(tmp_path):
    return write_audio(tmp_path / "song.wav", music_like(3.0, seed=4))


def test_file_separation_matches_in_memory_separation(tiny_export, tmp_path):
    audio = music_like(12.0, seed=6)
    path = write_audio(tmp_path / "track.wav", audio)
    node = SeparatorNode(tiny_export.path, device="cpu")
    written = separate_file(node, path, tmp_path / "out", block_frames=50_000, bit_depth=32)
    expected = node.separate(audio, 44100)
    assert list(written) == list(node.sources)
    for name, file in written.items():
        assert file == tmp_path / "out" / "track" / f"{name}.wav"
        got, rate = read_audio(file)
        assert rate == 44100 and got.shape == audio.shape
        np.testing.assert_allclose(got, expected[name], rtol=0, atol=1e-5)


def test_mono_and_other_rates_keep_channels_rate_and_length(identity_model, tmp_path):
    # band-limited below 22.05 kHz, so the trip through the model's 44.1 kHz loses nothing
    t = np.arange(48000) / 48000
    tone = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 5000 * t))[None]
    mono = write_audio(tmp_path / "mono.wav", tone.astype(np.float32), rate=48000)
    node = SeparatorNode(identity_model, device="cpu")
    written = separate_file(node, mono, tmp_path / "out", stems=["vocals"], block_frames=7000)
    got, rate = read_audio(written["vocals"])
    original, _ = read_audio(mono)
    assert rate == 48000 and got.shape == original.shape == (1, 48000)
    middle = slice(4000, 44000)
    assert np.max(np.abs(got[:, middle] - original[:, middle])) < 1e-3


def test_existing_output_is_not_overwritten_without_permission(identity_model, song, tmp_path):
    node = SeparatorNode(identity_model, device="cpu")
    first = separate_file(node, song, tmp_path / "out")
    before = first["drums"].read_bytes()
    with pytest.raises(StemboardError, match="already exists"):
        separate_file(node, song, tmp_path / "out")
    separate_file(node, song, tmp_path / "out", overwrite=True)
    assert first["drums"].read_bytes() == before  # same input, same output


def test_an_error_midway_leaves_no_file_behind(identity_model, song, tmp_path, monkeypatch):
    node = SeparatorNode(identity_model, device="cpu")
    calls = []

    def failing(batch):
        calls.append(1)
        if len(calls) > 3:
            raise RuntimeError("boom")
        return np.stack([batch] * 4, axis=1)

    monkeypatch.setattr(node.session, "run", failing)
    with pytest.raises(RuntimeError, match="boom"):
        separate_file(node, song, tmp_path / "out", block_frames=4096)
    leftovers = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert leftovers == []


def test_cli_separates_several_files_and_reports_a_bad_one(identity_model, song, tmp_path, capsys):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF nonsense")
    other = write_audio(tmp_path / "other.wav", music_like(1.0, seed=8))
    out = tmp_path / "out"
    argv = [
        "separate",
        str(song),
        str(broken),
        str(other),
        "-o",
        str(out),
        "--model",
        str(identity_model),
    ]
    status = cli.main([*argv, "--device", "cpu", "--stems", "vocals,bass", "--format", "flac"])
    captured = capsys.readouterr()
    assert status == 1
    errors = [line for line in captured.err.splitlines() if "error" in line]
    assert len(errors) == 1 and "broken.wav" in errors[0]
    assert sorted(p.name for p in (out / "song").iterdir()) == ["bass.flac", "vocals.flac"]
    assert sorted(p.name for p in (out / "other").iterdir()) == ["bass.flac", "vocals.flac"]
    assert not (out / "broken").exists() or not any((out / "broken").iterdir())


def test_cli_refuses_to_overwrite(identity_model, song, tmp_path, capsys):
    argv = [
        "separate",
        str(song),
        "-o",
        str(tmp_path),
        "--model",
        str(identity_model),
        "--device",
        "cpu",
    ]
    assert cli.main(argv) == 0
    assert cli.main(argv) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert cli.main([*argv, "--overwrite"]) == 0


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--stems", "guitar"], "unknown stem 'guitar'"),
        (["--format", "aiff"], "aiff"),
        (["--model", "nope.onnx"], "does not exist"),
    ],
)
def test_cli_bad_options_are_one_line(identity_model, song, tmp_path, extra, message):
    argv = [
        "separate",
        str(song),
        "-o",
        str(tmp_path / "o"),
        "--model",
        str(identity_model),
        *extra,
    ]
    done = subprocess.run(
        [sys.executable, "-m", "stemboard.cli", *argv, "--device", "cpu"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert message in done.stderr
    assert not (tmp_path / "o").exists()
