"""Audio arrays and files: pedalboard's layout rules, exact resampling, block reading with its
checks, and the atomic, clip-aware writer."""

import itertools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pedalboard
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pedalboard.io import AudioFile

import stemboard.audio.reading
from stemboard.audio.layout import Layout, from_planar, match_channels, to_planar
from stemboard.audio.reading import AudioInfo, audio_info, read_blocks
from stemboard.audio.resampling import StreamingResampler, resample
from stemboard.audio.writing import (
    SUPPORTED_FORMATS,
    AudioWriter,
    ClippingWarning,
    check_output_format,
)
from stemboard.errors import AudioFileError, MissingFileError, StemboardError

RATES = [8000, 16000, 22050, 32000, 44100, 48000, 96000]


def noise(*shape: int, seed: int = 0, dtype=np.float32) -> np.ndarray:
    return (np.random.default_rng(seed).uniform(-0.5, 0.5, shape)).astype(dtype)


def sine(frequency: float, rate: float, samples: int) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * frequency * np.arange(samples) / rate)).astype(np.float32)


def error_db(actual: np.ndarray, expected: np.ndarray) -> float:
    return 10 * np.log10(np.mean((actual - expected) ** 2) / np.mean(expected**2))


# --- layout ------------------------------------------------------------------------------------


def to_model_channels(audio, channels=2, previous=None):
    """What the node does at its edge: planar float32, then the model's channel count."""
    planar, layout = to_planar(audio, previous)
    return match_channels(planar, channels), layout


def pedalboard_reads_channels_last(array: np.ndarray, first: np.ndarray | None = None) -> bool:
    """Whether a pedalboard plugin treats `array` as [samples, channels], found by filtering.

    A high-pass filter runs along the samples of each channel; filtering every row (or every
    column) as 1-D mono tells which way pedalboard read the array. `first` is processed before.
    """
    plugin = pedalboard.HighpassFilter(2000)
    if first is not None:
        plugin.process(first, 44100)
    out = plugin.process(array, 44100)

    def filtered(rows: np.ndarray) -> np.ndarray:
        return np.stack([pedalboard.HighpassFilter(2000).process(r, 44100) for r in rows])

    as_first = np.allclose(out, filtered(array))
    as_last = np.allclose(out, filtered(array.T).T)
    assert as_first or as_last
    return as_last and not as_first


@pytest.mark.parametrize(
    "shape",
    [(2, 10), (10, 2), (1, 10), (10, 1), (3, 10), (10, 3), (2, 1), (1, 2), (2, 3), (3, 2), (1, 1)],
)
def test_layout_is_detected_as_pedalboard_detects_it(shape):
    audio = noise(*shape)
    channels_last = pedalboard_reads_channels_last(audio)
    layout = to_planar(audio)[1]
    assert layout.channels_last == channels_last
    assert layout.channels == (shape[1] if channels_last else shape[0])


def test_mono_1d_input_is_duplicated_and_comes_back_1d():
    audio = noise(100)
    model_input, layout = to_model_channels(audio)
    assert model_input.shape == (2, 100)
    np.testing.assert_array_equal(model_input[0], audio)
    np.testing.assert_array_equal(model_input[1], audio)
    assert layout == Layout(one_dimensional=True, channels_last=False, channels=1)
    out = from_planar(model_input * np.array([[1.0], [0.0]], np.float32), layout)
    assert out.shape == (100,)
    np.testing.assert_allclose(out, audio / 2, rtol=1e-6)


def test_channels_first_stereo_passes_through():
    audio = noise(2, 100)
    model_input, layout = to_model_channels(audio)
    np.testing.assert_array_equal(model_input, audio)
    assert not layout.channels_last
    np.testing.assert_array_equal(from_planar(model_input, layout), audio)


def test_channels_last_input_comes_back_channels_last():
    audio = noise(100, 2)
    model_input, layout = to_model_channels(audio)
    np.testing.assert_array_equal(model_input, audio.T)
    assert layout.channels_last
    out = from_planar(model_input, layout)
    assert out.shape == (100, 2)
    assert out.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(out, audio)


@pytest.mark.parametrize("shape", [(1, 100), (100, 1)])
def test_one_channel_input_is_duplicated_and_averaged_back(shape):
    audio = noise(*shape)
    model_input, layout = to_model_channels(audio)
    assert model_input.shape == (2, 100)
    np.testing.assert_array_equal(model_input[1], audio.ravel())
    stems = np.stack([audio.ravel(), np.zeros(100, np.float32)])
    out = from_planar(stems, layout)
    assert out.shape == shape
    np.testing.assert_allclose(out.ravel(), audio.ravel() / 2, rtol=1e-6)


def test_a_single_sample_is_channels_first():
    model_input, layout = to_model_channels(np.array([[0.25]], np.float32))
    assert model_input.shape == (2, 1)
    assert from_planar(model_input, layout).shape == (1, 1)


@pytest.mark.parametrize("shape", [(2, 2), (3, 3), (0, 0)])
def test_square_arrays_are_ambiguous_as_in_pedalboard(shape):
    with pytest.raises(RuntimeError, match="Unable to determine channel layout"):
        pedalboard.HighpassFilter(2000).process(np.zeros(shape, np.float32), 44100)
    with pytest.raises(ValueError, match="cannot tell channels from samples"):
        to_planar(np.zeros(shape, np.float32))


@pytest.mark.parametrize(
    ("first", "then"), [((10, 2), (2, 2)), ((2, 10), (2, 2)), ((2, 10), (2, 1)), ((10, 1), (2, 1))]
)
def test_previous_layout_decides_like_a_pedalboard_plugin_remembering_it(first, then):
    previous = to_model_channels(noise(*first))[1]
    layout = to_model_channels(noise(*then), previous=previous)[1]
    assert layout.channels_last == pedalboard_reads_channels_last(noise(*then), noise(*first))


def test_float64_input_gives_float32_output():
    audio = noise(2, 50, dtype=np.float64)
    model_input, layout = to_model_channels(audio)
    assert model_input.dtype == np.float32
    assert from_planar(model_input, layout).dtype == np.float32
    np.testing.assert_allclose(model_input, audio, atol=1e-7)


@pytest.mark.parametrize(
    "dtype", [np.int16, np.int32, np.uint8, np.bool_, np.float16, np.complex64]
)
def test_non_float_dtypes_raise_type_error_as_in_pedalboard(dtype):
    audio = np.zeros((2, 10), dtype)
    with pytest.raises(TypeError):
        pedalboard.Gain(0).process(audio, 44100)
    with pytest.raises(TypeError, match=rf"{np.dtype(dtype)}.*float32 or float64"):
        to_model_channels(audio)


def test_a_list_is_not_audio():
    with pytest.raises(TypeError, match="numpy array"):
        to_model_channels([[0.0, 0.1, 0.2], [0.0, 0.1, 0.2]])


def test_more_channels_than_the_model_has_raise_value_error():
    with pytest.raises(ValueError, match="3 channels"):
        to_model_channels(noise(3, 100))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_infinity_raises_value_error_naming_count_and_place(bad):
    audio = noise(100, 2)
    audio[40, 1] = bad
    audio[70, 0] = bad
    with pytest.raises(
        ValueError, match=r"2 NaN or infinite values \(the first at channel 1, sample 40"
    ):
        to_model_channels(audio)
    mono = noise(100)
    mono[5] = bad
    with pytest.raises(ValueError, match=r"1 NaN or infinite values \(the first at sample 5\)"):
        to_model_channels(mono)


def test_float64_beyond_float32_range_counts_as_infinite():
    audio = np.zeros((2, 10))
    audio[0, 3] = 1e300
    with pytest.raises(ValueError, match="infinite"):
        to_model_channels(audio)


@pytest.mark.parametrize("shape", [(0,), (2, 0), (0, 2), (1, 0), (0, 1)])
def test_empty_input_gives_zero_samples_and_comes_back_in_shape(shape):
    model_input, layout = to_model_channels(np.zeros(shape, np.float32))
    assert model_input.shape == (2, 0)
    assert from_planar(model_input, layout).shape == shape


@pytest.mark.parametrize("shape", [(), (2, 3, 4)])
def test_0d_and_3d_arrays_raise_value_error(shape):
    with pytest.raises(ValueError, match="1-D or 2-D"):
        to_model_channels(np.zeros(shape, np.float32))


def test_model_input_is_a_contiguous_copy():
    audio = noise(2, 100)
    model_input, _ = to_model_channels(audio)
    assert model_input.flags["C_CONTIGUOUS"]
    model_input[:] = 0
    assert np.any(audio != 0)


def test_model_output_with_other_channel_counts_is_refused():
    layout = to_model_channels(noise(2, 10))[1]
    with pytest.raises(ValueError, match="3 channels back as 2"):
        from_planar(np.zeros((3, 10), np.float32), layout)


# --- resampling --------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    samples=st.integers(0, 3000),
    source=st.sampled_from(RATES),
    target=st.sampled_from(RATES),
)
def test_resampled_length_is_the_rounded_ratio(samples, source, target):
    out = resample(noise(2, samples), source, target)
    assert out.shape == (2, round(samples * target / source))
    assert out.dtype == np.float32


def test_length_argument_cuts_or_pads_the_end():
    audio = noise(2, 1000)
    natural = resample(audio, 44100, 48000)
    longer = resample(audio, 44100, 48000, length=natural.shape[1] + 5)
    shorter = resample(audio, 44100, 48000, length=100)
    np.testing.assert_array_equal(longer[:, : natural.shape[1]], natural)
    np.testing.assert_array_equal(longer[:, natural.shape[1] :], 0)
    np.testing.assert_array_equal(shorter, natural[:, :100])


def test_same_rate_is_an_unchanged_copy():
    audio = noise(2, 500)
    out = resample(audio, 44100, 44100)
    np.testing.assert_array_equal(out, audio)
    out[:] = 0
    assert np.any(audio != 0)


def test_round_trip_44100_48000_44100_keeps_a_sine():
    audio = np.stack([sine(1000, 44100, 44100), sine(3000, 44100, 44100)])
    back = resample(resample(audio, 44100, 48000), 48000, 44100)
    middle = slice(4410, -4410)
    assert back.shape == audio.shape
    assert error_db(back[:, middle], audio[:, middle]) < -40


@pytest.mark.parametrize(("source", "target"), [(44100, 48000), (48000, 44100), (44100, 32000)])
def test_resampled_sine_is_time_aligned_with_the_input(source, target):
    # Pedalboard alone leaves a fractional-sample offset here (-17 dB at 44.1 -> 48 kHz).
    out = resample(sine(3000, source, source)[np.newaxis], source, target)[0]
    middle = slice(target // 10, -target // 10)
    assert error_db(out[middle], sine(3000, target, len(out))[middle]) < -60


@pytest.mark.parametrize(("source", "target"), [(44100, 48000), (48000, 44100), (8000, 44100)])
def test_impulse_stays_in_place(source, target):
    impulse = np.zeros((1, 4000), np.float32)
    impulse[0, 1234] = 1
    out = resample(impulse, source, target)[0]
    assert abs(int(np.argmax(out)) - 1234 * target / source) <= 2


@settings(max_examples=20, deadline=None)
@given(
    blocks=st.lists(st.integers(0, 700), min_size=1, max_size=12),
    rates=st.sampled_from([(44100, 48000), (48000, 44100), (8000, 44100), (44100, 22050)]),
)
def test_streaming_matches_offline_for_any_block_sizes(blocks, rates):
    audio = noise(2, sum(blocks), seed=len(blocks))
    resampler = StreamingResampler(*rates, channels=2)
    starts = np.cumsum([0, *blocks])
    pieces = [resampler.process(audio[:, a:b]) for a, b in itertools.pairwise(starts)]
    streamed = np.concatenate([*pieces, resampler.flush()], axis=1)
    offline = resample(audio, *rates)
    assert streamed.shape == offline.shape == (2, round(sum(blocks) * rates[1] / rates[0]))
    np.testing.assert_allclose(streamed, offline, atol=1e-5)


def test_flush_starts_a_new_stream():
    audio = noise(2, 1000)
    resampler = StreamingResampler(44100, 48000, channels=2)
    first = np.concatenate([resampler.process(audio), resampler.flush()], axis=1)
    second = np.concatenate([resampler.process(audio), resampler.flush()], axis=1)
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("rate", [0, -44100, float("nan"), float("inf")])
def test_invalid_rates_raise_value_error(rate):
    with pytest.raises(ValueError, match="positive number of Hz"):
        resample(noise(2, 10), rate, 44100)
    with pytest.raises(ValueError, match="positive number of Hz"):
        StreamingResampler(44100, rate, channels=2)


def test_blocks_with_the_wrong_channel_count_are_refused():
    with pytest.raises(ValueError, match=r"\[2, samples\]"):
        StreamingResampler(44100, 48000, channels=2).process(noise(1, 100))
    with pytest.raises(ValueError, match=r"\[channels, samples\]"):
        resample(noise(100), 44100, 48000)


# --- files -------------------------------------------------------------------------------------


def write_file(path, audio: np.ndarray, rate: float = 44100, bit_depth: int = 32) -> str:
    with AudioFile(str(path), "w", rate, len(audio), bit_depth=bit_depth) as f:
        f.write(audio)
    return str(path)


def test_audio_info_reports_the_file(tmp_path):
    path = write_file(tmp_path / "a.wav", noise(2, 22050), rate=22050)
    assert audio_info(path) == AudioInfo(
        sample_rate=22050.0, channels=2, frames=22050, duration=1.0
    )
    assert audio_info(tmp_path / "a.wav").frames == 22050


def test_audio_info_of_a_missing_file_names_it(tmp_path):
    with pytest.raises(StemboardError, match=r"missing\.wav: no such file"):
        audio_info(tmp_path / "missing.wav")


def test_audio_info_of_a_directory_names_it(tmp_path):
    (tmp_path / "folder.wav").mkdir()
    with pytest.raises(StemboardError, match=r"folder\.wav: is a folder"):
        audio_info(tmp_path / "folder.wav")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("garbage.wav", b"not audio at all" * 10, "content is not a WAV file"),
        ("garbage.wav", b"", "the file is empty"),
        ("garbage.audio", b"not audio at all" * 10, "cannot decode"),
    ],
)
def test_audio_info_of_a_garbage_file_is_one_line_naming_it(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(AudioFileError, match=rf"{name}: .*{message}") as caught:
        audio_info(tmp_path / name)
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(("frames", "block"), [(10000, 4096), (8192, 4096), (10, 4096), (7, 1)])
def test_read_blocks_yields_full_blocks_and_a_shorter_last_one(tmp_path, frames, block):
    audio = noise(2, frames)
    blocks = list(read_blocks(write_file(tmp_path / "a.wav", audio), block))
    assert [b.shape[1] for b in blocks[:-1]] == [block] * (len(blocks) - 1)
    assert 0 < blocks[-1].shape[1] <= block
    assert all(b.dtype == np.float32 and b.flags["C_CONTIGUOUS"] for b in blocks)
    np.testing.assert_array_equal(np.concatenate(blocks, axis=1), audio)


@pytest.mark.parametrize("target", [48000, 22050, 32000])
def test_read_blocks_resampled_has_the_exact_length_and_matches_offline(tmp_path, target):
    audio = noise(2, 10007)
    blocks = list(read_blocks(write_file(tmp_path / "a.wav", audio), 1000, sample_rate=target))
    assert [b.shape[1] for b in blocks[:-1]] == [1000] * (len(blocks) - 1)
    whole = np.concatenate(blocks, axis=1)
    assert whole.shape == (2, round(10007 * target / 44100))
    np.testing.assert_allclose(whole, resample(audio, 44100, target), atol=1e-5)


def test_read_blocks_at_the_file_rate_does_not_resample(tmp_path):
    audio = noise(1, 3000)
    blocks = list(read_blocks(write_file(tmp_path / "a.wav", audio), 1024, sample_rate=44100))
    np.testing.assert_array_equal(np.concatenate(blocks, axis=1), audio)


def test_read_blocks_of_an_empty_file_yields_nothing(tmp_path):
    assert list(read_blocks(write_file(tmp_path / "a.wav", np.zeros((2, 0), np.float32)), 10)) == []


def test_read_blocks_checks_the_file_and_arguments_before_iterating(tmp_path):
    with pytest.raises(StemboardError, match="no such file"):
        read_blocks(tmp_path / "missing.wav", 1024)
    path = write_file(tmp_path / "a.wav", noise(2, 10))
    with pytest.raises(ValueError, match="block_frames"):
        read_blocks(path, 0)
    with pytest.raises(ValueError, match="sample_rate"):
        read_blocks(path, 10, sample_rate=0)


def test_a_decoding_error_mid_file_names_the_file(tmp_path, monkeypatch):
    path = write_file(tmp_path / "song.wav", noise(2, 5000))

    class FailsOnSecondRead:
        def __init__(self, name):
            self._file = AudioFile(name)
            self._reads = 0

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._file.close()

        def __getattr__(self, name):
            return getattr(self._file, name)

        def read(self, frames):
            self._reads += 1
            if self._reads > 1:
                raise RuntimeError("corrupt frame\ninternal detail")
            return self._file.read(frames)

    monkeypatch.setattr(stemboard.audio.reading, "AudioFile", FailsOnSecondRead)
    blocks = read_blocks(path, 1000)
    next(blocks)
    with pytest.raises(StemboardError, match=r"song\.wav: decoding failed at frame 1000") as caught:
        next(blocks)
    assert "\n" not in str(caught.value)


# --- writing -----------------------------------------------------------------------------------


def test_supported_formats_are_the_four_pedalboard_writes_here():
    assert SUPPORTED_FORMATS == ("wav", "flac", "ogg", "mp3")


@pytest.mark.parametrize(
    ("name", "bit_depth", "file_dtype", "tolerance"),
    [
        ("a.wav", 16, "int16", 1e-4),
        ("a.wav", 24, "int24", 1e-6),
        ("a.wav", 32, "float32", 0),
        ("a.flac", 16, "int16", 1e-4),
        ("a.flac", 24, "int24", 1e-6),
        ("a.flac", 32, "int24", 1e-6),
    ],
)
def test_lossless_files_are_written_at_the_bit_depth(
    tmp_path, name, bit_depth, file_dtype, tolerance
):
    audio = noise(2, 3000)
    with AudioWriter(tmp_path / name, 44100, channels=2, bit_depth=bit_depth) as out:
        out.write(audio[:, :1000])
        out.write(audio[:, 1000:])
    with AudioFile(str(tmp_path / name)) as f:
        assert f.file_dtype == file_dtype
        np.testing.assert_allclose(f.read(f.frames), audio, atol=tolerance)
    assert os.listdir(tmp_path) == [name]


@pytest.mark.parametrize("name", ["a.ogg", "a.mp3"])
def test_lossy_files_are_written(tmp_path, name):
    with AudioWriter(tmp_path / name, 44100, channels=2) as out:
        out.write(np.stack([sine(440, 44100, 44100)] * 2))
    info = audio_info(tmp_path / name)
    assert (info.sample_rate, info.channels) == (44100, 2)
    assert info.frames >= 44100  # MP3 adds encoder padding
    assert os.listdir(tmp_path) == [name]


def test_temporary_file_is_hidden_next_to_the_target_with_its_extension(tmp_path):
    with AudioWriter(tmp_path / "out.flac", 44100, channels=2) as out:
        out.write(noise(2, 100))
        temporary = sorted(os.listdir(tmp_path))  # the file, and the samples kept for rescaling
        assert all(name.startswith(".out.flac.") and ".partial" in name for name in temporary)
        assert sorted(name.rsplit(".", 1)[1] for name in temporary) == ["f32", "flac"]
    assert os.listdir(tmp_path) == ["out.flac"]


def test_a_failure_in_the_middle_leaves_no_file_and_no_temporary_file(tmp_path):
    with pytest.raises(KeyError), AudioWriter(tmp_path / "out.wav", 44100, 2) as out:
        out.write(noise(2, 100))
        raise KeyError("render failed")
    assert os.listdir(tmp_path) == []


def test_a_failure_keeps_an_existing_file_as_it_was(tmp_path):
    path = write_file(tmp_path / "out.wav", noise(2, 100, seed=1))
    before = Path(path).read_bytes()
    with pytest.raises(ValueError), AudioWriter(path, 44100, 2) as out:
        out.write(noise(2, 1000))
        out.write(noise(3, 1000))  # wrong channel count
    assert Path(path).read_bytes() == before
    assert os.listdir(tmp_path) == ["out.wav"]


def test_success_replaces_an_existing_file(tmp_path):
    path = write_file(tmp_path / "out.wav", noise(2, 100, seed=1))
    with AudioWriter(path, 44100, 2) as out:
        out.write(noise(2, 500))
    assert audio_info(path).frames == 500


def test_abort_discards_the_output(tmp_path):
    with AudioWriter(tmp_path / "out.wav", 44100, 2) as out:
        out.write(noise(2, 100))
        out.abort()
        with pytest.raises(RuntimeError, match="after abort"):
            out.write(noise(2, 100))
    assert os.listdir(tmp_path) == []


def test_square_and_single_sample_blocks_are_channels_first(tmp_path):
    audio = noise(2, 5)
    with AudioWriter(tmp_path / "out.wav", 44100, 2, bit_depth=32) as out:
        out.write(audio[:, :2])
        out.write(audio[:, 2:3])
        out.write(audio[:, 3:])
    np.testing.assert_array_equal(next(read_blocks(tmp_path / "out.wav", 10)), audio)


def test_format_argument_overrides_the_suffix(tmp_path):
    with AudioWriter(tmp_path / "out.audio", 44100, 1, format="WAV") as out:
        out.write(noise(1, 100))
    with AudioFile(str(tmp_path / "out.audio")) as f:
        assert f.frames == 100


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"format": "aac"}, "unknown output format 'aac'; supported formats: wav, flac, ogg, mp3"),
        ({"bit_depth": 8}, "unsupported bit depth 8; supported bit depths: 16, 24, 32"),
        ({"bit_depth": 64}, "unsupported bit depth 64; supported bit depths: 16, 24, 32"),
    ],
)
def test_bad_format_or_bit_depth_is_refused_before_writing(tmp_path, kwargs, message):
    with pytest.raises(StemboardError, match=message):
        check_output_format(kwargs.get("format", "wav"), kwargs.get("bit_depth", 16))
    with pytest.raises(StemboardError, match=message):
        AudioWriter(tmp_path / "out.wav", 44100, 2, **kwargs)
    assert os.listdir(tmp_path) == []


def test_check_output_format_accepts_names_and_suffixes_in_any_case():
    for format in ["wav", ".FLAC", "Ogg", "mp3"]:
        check_output_format(format, 24)


def test_a_path_without_suffix_needs_a_format(tmp_path):
    with pytest.raises(StemboardError, match="without a suffix"):
        AudioWriter(tmp_path / "out", 44100, 2)


def test_writing_into_a_missing_directory_names_the_path(tmp_path):
    writer = AudioWriter(tmp_path / "missing" / "out.wav", 44100, 2)
    with pytest.raises(StemboardError, match=r"out\.wav: cannot write"), writer:
        pass


def test_an_unknown_lossy_quality_is_a_stemboard_error(tmp_path):
    with pytest.raises(StemboardError, match="quality"):
        AudioWriter(tmp_path / "out.ogg", 44100, 2, quality="V0").__enter__()
    assert os.listdir(tmp_path) == []


def test_the_module_does_not_import_torch():
    code = "import sys, stemboard.audio.writing; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- what reading refuses ---------------------------------------------------------------------


def test_a_missing_file_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError) as caught:
        audio_info(tmp_path / "missing.wav")
    assert isinstance(caught.value, MissingFileError)


def encoded(tmp_path, suffix: str) -> bytes:
    path = tmp_path / f"source{suffix}"
    with AudioFile(str(path), "w", 44100, 2) as f:
        f.write(noise(2, 44100))
    return path.read_bytes()


@pytest.mark.parametrize(
    ("content_of", "name"),
    [(".mp3", "song.wav"), (".flac", "song.ogg"), (".wav", "song.mp3"), (".ogg", "song.flac")],
)
def test_content_that_contradicts_the_file_name_is_refused(tmp_path, content_of, name):
    (tmp_path / name).write_bytes(encoded(tmp_path, content_of))
    with pytest.raises(AudioFileError, match=rf"{name}: the file's content is not"):
        audio_info(tmp_path / name)
    with pytest.raises(AudioFileError):
        list(read_blocks(tmp_path / name))


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".ogg", ".mp3"])
def test_files_whose_content_matches_their_name_are_read(tmp_path, suffix):
    (tmp_path / f"song{suffix}").write_bytes(encoded(tmp_path, suffix))
    assert audio_info(tmp_path / f"song{suffix}").channels == 2


def test_random_bytes_named_mp3_are_refused(tmp_path):
    (tmp_path / "noise.mp3").write_bytes(np.random.default_rng(0).bytes(200_000))
    with pytest.raises(AudioFileError, match=r"noise\.mp3"):
        audio_info(tmp_path / "noise.mp3")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_samples_in_a_float_wav_name_the_file_and_frame(tmp_path, bad):
    audio = noise(2, 10_000)
    audio[1, 7_777] = bad
    path = write_file(tmp_path / "nan.wav", audio)
    blocks = read_blocks(path, 4096)
    with pytest.raises(
        AudioFileError,
        match=r"nan\.wav: holds NaN or infinite samples, the "
        r"first at frame 7777 \(channel 1\)",
    ):
        list(blocks)


def test_read_span_gives_the_samples_of_read_blocks(tmp_path):
    audio = noise(2, 200_000)
    path = write_file(tmp_path / "a.wav", audio)
    np.testing.assert_array_equal(
        stemboard.audio.reading.read_span(path, 70_000, 140_001), audio[:, 70_000:140_001]
    )
    assert stemboard.audio.reading.read_span(path, 199_990, 300_000).shape == (2, 10)


# --- what writing refuses and how it handles clipping ---------------------------------------------


def test_a_non_finite_output_sample_is_refused_and_nothing_is_written(tmp_path):
    audio = noise(2, 1000)
    audio[0, 500] = np.inf
    with (
        pytest.raises(
            ValueError,
            match=r"out\.wav: the output holds NaN or infinite samples "
            r"from frame 1500",
        ),
        AudioWriter(tmp_path / "out.wav", 44100, 2) as out,
    ):
        out.write(noise(2, 1000))
        out.write(audio)
    assert os.listdir(tmp_path) == []


def loud() -> np.ndarray:
    audio = noise(2, 20_000, seed=3) * 4  # peaks near 2 (+6 dBFS)
    audio[0, 1234] = 2.5
    return audio


def test_rescale_scales_the_whole_file_below_full_scale_and_warns(tmp_path):
    audio = loud()
    warning = r"out\.wav: \d+ samples beyond full scale .*scaled"
    with (
        pytest.warns(ClippingWarning, match=warning),
        AudioWriter(tmp_path / "out.wav", 44100, 2, bit_depth=24) as out,
    ):
        out.write(audio[:, :5000])
        out.write(audio[:, 5000:])
    got = next(read_blocks(tmp_path / "out.wav", 100_000))
    np.testing.assert_allclose(got, audio / (1.01 * 2.5), atol=1e-6)
    assert os.listdir(tmp_path) == ["out.wav"]


def test_clamp_clips_only_the_samples_beyond_full_scale(tmp_path):
    audio = loud()
    with (
        pytest.warns(ClippingWarning, match="clamped"),
        AudioWriter(tmp_path / "out.flac", 44100, 2, bit_depth=24, clip_mode="clamp") as out,
    ):
        out.write(audio)
    got = next(read_blocks(tmp_path / "out.flac", 100_000))
    np.testing.assert_allclose(got, np.clip(audio, -1, 1), atol=1e-6)


def test_float_wav_holds_samples_beyond_full_scale_untouched(tmp_path, recwarn):
    audio = loud()
    with AudioWriter(tmp_path / "out.wav", 44100, 2, bit_depth=32) as out:
        out.write(audio)
    np.testing.assert_array_equal(next(read_blocks(tmp_path / "out.wav", 100_000)), audio)
    assert not [w for w in recwarn if issubclass(w.category, ClippingWarning)]


def test_quiet_output_is_written_unchanged_without_a_warning(tmp_path, recwarn):
    audio = noise(2, 5000)
    with AudioWriter(tmp_path / "out.wav", 44100, 2, bit_depth=24) as out:
        out.write(audio)
    np.testing.assert_allclose(next(read_blocks(tmp_path / "out.wav", 10_000)), audio, atol=1e-6)
    assert not recwarn.list


def test_an_unknown_clip_mode_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown clip mode 'soft'"):
        AudioWriter(tmp_path / "out.wav", 44100, 2, clip_mode="soft")


@pytest.mark.parametrize("name", ["a.wav", "a.flac", "a.ogg"])
def test_an_empty_output_is_a_valid_file_of_zero_frames(tmp_path, name):
    with AudioWriter(tmp_path / name, 44100, 2) as out:
        out.write(np.zeros((2, 0), np.float32))
    assert audio_info(tmp_path / name).frames == 0


# --- MP3: gapless lengths and pedalboard's short reads ---------------------------------------

_L3_KBPS = {
    True: [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
    False: [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
}
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def first_frame_length(data: bytes) -> int:
    """Bytes of the MPEG layer III frame at the start of ``data``."""
    version = (data[1] >> 3) & 3
    mpeg1 = version == 3
    kbps = _L3_KBPS[mpeg1][data[2] >> 4]
    rate = _RATES[version][(data[2] >> 2) & 3]
    return (144 if mpeg1 else 72) * kbps * 1000 // rate + ((data[2] >> 1) & 1)


def clicks(rate: int, frames: int) -> np.ndarray:
    audio = 0.05 * np.random.default_rng(frames).standard_normal((2, frames)).astype(np.float32)
    audio[0, frames // 2] = 0.9
    audio[1, frames // 3] = -0.9
    return audio


@pytest.mark.parametrize(("rate", "frames"), [(44100, 44100), (22050, 30_001), (16000, 5000)])
def test_an_mp3_reads_back_with_the_length_and_alignment_it_was_written_with(
    tmp_path, rate, frames
):
    audio = clicks(rate, frames)
    with AudioWriter(tmp_path / "a.mp3", rate, 2, clip_mode="none") as out:
        out.write(audio)
    assert audio_info(tmp_path / "a.mp3").frames == frames
    got = np.concatenate(list(read_blocks(tmp_path / "a.mp3", 4096)), axis=1)
    assert got.shape == (2, frames)
    assert int(np.argmax(np.abs(got[0]))) == frames // 2
    assert int(np.argmax(np.abs(got[1]))) == frames // 3


@pytest.mark.parametrize("rate", [22050, 44100])
def test_an_mp3_with_an_overestimated_length_reads_right_to_its_last_sample(tmp_path, rate):
    # No Xing/Info frame and a trailing ID3v1 tag: pedalboard over-estimates the length and
    # shifts the second channel of the read that reaches the end (real files look like this).
    tagged = tmp_path / "tagged.mp3"
    with AudioFile(str(tagged), "w", rate, 2) as f:
        f.write(clicks(rate, rate * 8) * 4)
    data = tagged.read_bytes()
    untagged = tmp_path / "untagged.mp3"
    untagged.write_bytes(data[first_frame_length(data) :] + bytes(4096) + b"TAG" + bytes(125))
    with AudioFile(str(tagged)) as f:  # the length is exact here, so one read is right
        expected = f.read(f.frames)
    got = np.concatenate(list(read_blocks(untagged, 65536)), axis=1)
    np.testing.assert_array_equal(got, expected)
    with AudioFile(str(untagged)) as f:
        naive = f.read(f.frames)
    assert not np.array_equal(naive, expected), (
        "pedalboard now reads such files right in one call: the re-read in "
        "stemboard.audio.reading._decoded_chunks can go"
    )
