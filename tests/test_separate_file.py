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


# -- the node's options on the command line (the packaged demo model: small and shipped) ------


def separate_demo(song, out, *options):
    return cli.main(
        ["separate", str(song), "-o", str(out), "--model", "demo", "--device", "cpu", *options]
    )


@pytest.mark.parametrize("precision", [[], ["--precision", "auto"], ["--precision", "fp32"]])
def test_cli_separates_at_each_offered_precision(song, tmp_path, precision):
    assert separate_demo(song, tmp_path, *precision) == 0
    written = sorted(p.name for p in (tmp_path / "song").iterdir())
    assert written == ["bass.wav", "drums.wav", "other.wav", "vocals.wav"]


def test_cli_fp16_is_the_deprecated_spelling_of_precision_fp16(song, tmp_path, capsys):
    assert separate_demo(song, tmp_path / "a", "--fp16") == 1
    alias = capsys.readouterr().err.splitlines()
    assert separate_demo(song, tmp_path / "b", "--precision", "fp16") == 1
    (spelled,) = capsys.readouterr().err.splitlines()
    assert spelled == (
        "stemboard: error: the packaged model 'demo' has no fp16 variant; "
        "use precision fp32 or auto"
    )
    assert alias == [
        "stemboard: warning: --fp16 is deprecated (removed in the next release); use --precision "
        "fp16",
        spelled,
    ]
    parsed = cli.build_parser().parse_args(
        ["separate", "x", "-o", "y", "--fp16", "--precision", "fp16"]
    )
    assert parsed.precision == "fp16"


@pytest.mark.parametrize(
    "options",
    [
        ["--fp16", "--precision", "bf16"],
        ["--precision", "bf16", "--fp16"],
        ["--precision", "auto", "--fp16"],
    ],
)
def test_cli_fp16_with_another_precision_is_a_usage_error(song, tmp_path, capsys, options):
    with pytest.raises(SystemExit) as exited:
        separate_demo(song, tmp_path / "o", *options)
    assert exited.value.code == 2
    error = capsys.readouterr().err.splitlines()[-1]
    assert error.startswith("stemboard separate: error: --fp16 (deprecated: --precision fp16)")
    assert "contradicts --precision" in error
    assert not (tmp_path / "o").exists()


def test_cli_int8_is_refused_as_a_usage_error_that_says_why(song, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        separate_demo(song, tmp_path / "o", "--precision", "int8")
    assert exited.value.code == 2
    line = capsys.readouterr().err.splitlines()[-1]
    assert line.startswith("stemboard separate: error: argument --precision: int8 is not offered: ")
    assert "dB" in line
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "options, expected",
    [
        (["--shifts", "17"], "argument --shifts: expected an integer from 0 to 16, got 17"),
        (["--seed", "-1"], "argument --seed: expected an integer >= 0, got -1"),
        (["--shifts", "x"], "argument --shifts: expected an integer from 0 to 16, got 'x'"),
    ],
)
def test_cli_out_of_range_shifts_and_seeds_are_usage_errors(
    song, tmp_path, capsys, options, expected
):
    with pytest.raises(SystemExit) as exited:
        separate_demo(song, tmp_path / "o", *options)
    assert exited.value.code == 2
    assert expected in capsys.readouterr().err


def test_cli_shifts_change_the_stems_and_a_seed_repeats_them(song, tmp_path):
    def stems(name, *options):
        assert separate_demo(song, tmp_path / name, "--bit-depth", "32", *options) == 0
        return np.stack(
            [read_audio(tmp_path / name / "song" / f"{s}.wav")[0] for s in ("drums", "vocals")]
        )

    plain = stems("plain", "--shifts", "0")
    shifted = stems("shifted", "--shifts", "1", "--seed", "3")
    again = stems("again", "--shifts", "1", "--seed", "3")
    other = stems("other", "--shifts", "1", "--seed", "4")
    assert np.max(np.abs(shifted - plain)) > 1e-3
    np.testing.assert_array_equal(again, shifted)
    assert np.max(np.abs(other - shifted)) > 1e-3


@pytest.mark.parametrize("where", ["before", "after"])
def test_cli_verbose_says_what_runs_the_model(song, tmp_path, capsys, where):
    argv = ["separate", str(song), "-o", str(tmp_path), "--model", "demo", "--device", "cpu"]
    argv += ["--precision", "fp32", "--shifts", "2"]
    assert cli.main(["-v", *argv] if where == "before" else [*argv, "-v"]) == 0
    described = [line for line in capsys.readouterr().err.splitlines() if "on the CPU" in line]
    assert len(described) == 1
    assert described[0].startswith("stemboard: demo.onnx: ")
    assert " fp32 on the CPU, " in described[0] and "2 shifts" in described[0]


def test_cli_without_verbose_says_nothing_but_warnings_one_line_each(
    make_identity_model, song, tmp_path, capsys
):
    model = make_identity_model(tmp_path / "ident.onnx")
    make_identity_model(tmp_path / "ident.fp16.onnx")  # stands in for the float16 variant
    argv = ["separate", str(song), "-o", str(tmp_path / "o"), "--model", str(model)]
    assert cli.main([*argv, "--device", "cpu", "--precision", "fp16"]) == 0
    assert capsys.readouterr().err.splitlines() == [
        "stemboard: warning: ident.fp16.onnx: fp16 is the GPU variant; on the CPU its fp16 "
        "weights run in fp32"
    ]
