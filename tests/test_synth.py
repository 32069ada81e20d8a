"""The synthetic song generator: determinism, splits, stem contract, audibility, files and CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache

import numpy as np
import pytest
from pedalboard.io import AudioFile

from stemboard.registry import MUSDB_SOURCES
from stemboard.synth import SPLITS, Song, generate_song, split_of, split_seeds, write_song
from stemboard.synth.__main__ import main as synth_main


@cache
def song(seed: int, seconds: float = 12.0, sample_rate: int = 44100) -> Song:
    return generate_song(seed, seconds, sample_rate)


def test_same_seed_gives_identical_stems_and_description():
    first, second = generate_song(7, 4.0), generate_song(7, 4.0)
    assert first.description == second.description
    for name in MUSDB_SOURCES:
        np.testing.assert_array_equal(first.stems[name], second.stems[name])


def test_different_seeds_give_different_songs():
    a, b = song(1, 3.0), song(2, 3.0)
    assert a.description != b.description
    for name in MUSDB_SOURCES:
        assert not np.array_equal(a.stems[name], b.stems[name])


@pytest.mark.parametrize(
    ("seconds", "sample_rate"),
    [(1.2345678, 44100), (6.0, 16000), (0.01, 44100), (3.0, 48000), (2.5, 8000)],
)
def test_stems_are_float32_stereo_of_exact_length_in_source_order(seconds, sample_rate):
    result = generate_song(3, seconds, sample_rate)
    assert tuple(result.stems) == MUSDB_SOURCES
    assert result.sample_rate == sample_rate and result.seed == 3
    for audio in [*result.stems.values(), result.mix]:
        assert audio.dtype == np.float32
        assert audio.shape == (2, round(seconds * sample_rate))
        assert np.isfinite(audio).all()


def test_mix_is_exactly_the_sum_of_stems():
    result = song(4)
    total = np.sum([s.astype(np.float64) for s in result.stems.values()], axis=0)
    np.testing.assert_array_equal(result.mix, total.astype(np.float32))


@pytest.mark.parametrize("seed", [0, 5, 11, 1_000_003, 2_000_017])
def test_every_stem_sounds_in_every_six_second_window(seed):
    result = song(seed, 14.0)
    window, hop = 6 * result.sample_rate, result.sample_rate // 4
    for name, audio in result.stems.items():
        for start in range(0, audio.shape[1] - window + 1, hop):
            rms = float(np.sqrt(np.mean(audio[:, start : start + window].astype(np.float64) ** 2)))
            assert rms > 1e-3, f"{name} nearly silent from {start / result.sample_rate:.2f} s"


@pytest.mark.parametrize("seed", [0, 5, 11, 1_000_003, 2_000_017])
def test_stem_and_mix_peaks_stay_within_limits(seed):
    result = song(seed, 14.0)
    for audio in result.stems.values():
        assert np.abs(audio).max() <= 0.9
    assert np.abs(result.mix).max() <= 0.99


def test_tempo_styles_timbres_and_voices_vary_across_seeds():
    descriptions = [song(seed, 0.5).description for seed in range(20)]
    tempos = [d["tempo"] for d in descriptions]
    assert max(tempos) - min(tempos) > 40 and min(tempos) >= 70 and max(tempos) <= 170
    for key, at_least in [
        ("drum_style", 4),
        ("voice_type", 3),
        ("bass_timbre", 3),
        ("key", 5),
        ("scale", 3),
        ("progression", 5),
    ]:
        assert len({d[key] for d in descriptions}) >= at_least, key
    instruments = {i for d in descriptions for i in d["other_instruments"]}
    assert len(instruments) >= 5


def test_stems_differ_in_spectral_character():
    def centroid(audio: np.ndarray, sample_rate: int) -> float:
        power = np.abs(np.fft.rfft(audio.mean(axis=0).astype(np.float64))) ** 2
        freqs = np.fft.rfftfreq(audio.shape[1], 1.0 / sample_rate)
        return float((power * freqs).sum() / power.sum())

    result = song(4)
    centroids = {name: centroid(a, result.sample_rate) for name, a in result.stems.items()}
    assert centroids["bass"] < 500 < centroids["vocals"]
    assert centroids["bass"] < centroids["other"]


def test_splits_are_disjoint_and_split_of_inverts_them():
    ranges = list(SPLITS.values())
    for i, a in enumerate(ranges):
        for b in ranges[i + 1 :]:
            assert a.stop <= b.start or b.stop <= a.start
    for name, seeds in SPLITS.items():
        assert split_of(seeds.start) == name
        assert split_of(seeds.stop - 1) == name


def test_split_seeds_counts_from_the_offset():
    assert split_seeds("test", 3) == [2_000_000, 2_000_001, 2_000_002]
    assert split_seeds("valid", 2, start=10) == [1_000_010, 1_000_011]
    assert split_seeds("train", 0) == []
    assert split_seeds("valid", 1, start=99_999) == [1_099_999]


def test_split_seeds_rejects_unknown_split_naming_the_valid_ones():
    with pytest.raises(ValueError, match="train, valid, test"):
        split_seeds("validation", 3)


def test_split_seeds_rejects_counts_beyond_the_split():
    with pytest.raises(ValueError, match="beyond"):
        split_seeds("test", 2, start=99_999)
    with pytest.raises(ValueError):
        split_seeds("test", -1)


@pytest.mark.parametrize("seed", [-1, 1_100_000, 1_500_000, 2_100_000])
def test_split_of_rejects_seeds_outside_every_split(seed):
    with pytest.raises(ValueError, match="no split"):
        split_of(seed)


def test_write_song_writes_readable_float_wavs_and_json(tmp_path):
    result = song(5, 2.0)
    directory = write_song(result, tmp_path / "nested" / "song_5")
    assert directory == tmp_path / "nested" / "song_5"
    for name, expected in {"mixture": result.mix, **result.stems}.items():
        with AudioFile(str(directory / f"{name}.wav")) as f:
            assert f.samplerate == result.sample_rate and f.num_channels == 2
            np.testing.assert_array_equal(f.read(f.frames), expected)
    info = json.loads((directory / "song.json").read_text())
    assert info["seed"] == 5 and info["seconds"] == 2.0 and info["sample_rate"] == 44100
    assert info["description"] == json.loads(json.dumps(result.description))


def test_module_cli_writes_one_directory_and_line_per_song(tmp_path):
    command = [sys.executable, "-m", "stemboard.synth", str(tmp_path), "--split", "valid"]
    command += ["--count", "2", "--start", "5", "--seconds", "0.5", "--sample-rate", "22050"]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    assert len(done.stdout.strip().splitlines()) == 2
    for seed in (1_000_005, 1_000_006):
        with AudioFile(str(tmp_path / f"song_{seed}" / "mixture.wav")) as f:
            assert f.samplerate == 22050 and f.frames == 11025
        np.testing.assert_array_equal(
            AudioFile(str(tmp_path / f"song_{seed}" / "vocals.wav")).read(11025),
            generate_song(seed, 0.5, 22050).stems["vocals"],
        )


@pytest.mark.parametrize(
    "arguments",
    [
        ["--split", "dev"],
        ["--count", "200000"],
        ["--seconds", "0"],
        ["--sample-rate", "100"],
        ["--count", "many"],
    ],
)
def test_module_cli_rejects_bad_arguments_with_one_line_and_exit_2(tmp_path, capsys, arguments):
    with pytest.raises(SystemExit) as exit_info:
        synth_main([str(tmp_path), *arguments])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "error" in err


def test_importing_synth_does_not_import_torch():
    code = "import sys, stemboard.synth; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
