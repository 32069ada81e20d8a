"""Quality evaluation: BSS Eval as mir_eval, MDX SDR, SI-SDR, folders, plots and the CLI."""

import json
import math
import warnings

import numpy as np
import pytest
from audio_files import write_audio
from pedalboard.io import AudioFile

from stemboard.cli import main
from stemboard.errors import StemboardError
from stemboard.evaluation import (
    bss_eval_sources,
    evaluate_folders,
    mdx_sdr,
    plot_spectrograms,
    score_stem,
    si_sdr,
    spectrogram_hop,
    tutorial_sdr,
)
from stemboard.evaluation.spectrogram_plots import spectrogram_figure
from stemboard.signals import music_like

RATE = 44100
STEMS = ("drums", "bass", "other", "vocals")


def noisy(reference, snr_db, seed=0):
    """``reference`` plus white noise scaled to exactly ``snr_db`` per channel."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(reference.shape)
    noise -= noise.mean(axis=1, keepdims=True)
    scale = np.sqrt(np.sum(reference**2, axis=1) / np.sum(noise**2, axis=1) / 10 ** (snr_db / 10))
    return reference + scale[:, np.newaxis] * noise


def mir_eval_sources(reference, estimate, compute_permutation=True):
    separation = pytest.importorskip("mir_eval.separation")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mir_eval 0.8 marks bss_eval_sources deprecated
        return separation.bss_eval_sources(reference, estimate, compute_permutation)


def write_flac(path, audio, rate=RATE):
    with AudioFile(str(path), "w", rate, audio.shape[0], bit_depth=24) as f:
        f.write(audio.astype(np.float32))


def write_track(folder, seconds=1.0, stems=STEMS, snr_db=12.0, format="wav", rate=RATE):
    """Reference stems (music_like) or estimates of them at ``snr_db``; returns the arrays."""
    folder.mkdir(parents=True, exist_ok=True)
    audio = {}
    for index, name in enumerate(stems):
        reference = music_like(seconds, rate, seed=index).astype(np.float64)
        audio[name] = reference if snr_db is None else noisy(reference, snr_db, seed=10 + index)
        path = folder / f"{name}.{format}"
        if format == "wav":
            write_audio(path, audio[name].astype(np.float32), rate)
        else:
            write_flac(path, audio[name], rate)
    return audio


@pytest.fixture
def track(tmp_path):
    """(reference folder, estimate folder, reference arrays): 1 s, four stems, 12 dB SNR."""
    references = write_track(tmp_path / "reference", snr_db=None)
    write_track(tmp_path / "estimate")
    return tmp_path / "reference", tmp_path / "estimate", references


# --------------------------------------------------------------------------------------------
# Metrics on arrays
# --------------------------------------------------------------------------------------------


def test_identical_signals_score_very_high_and_finite_where_capped():
    reference = music_like(1.0, seed=3).astype(np.float64)
    scores = score_stem(reference, reference.copy())
    assert scores.sdr > 150
    energy = np.sum(reference**2)
    assert scores.mdx_sdr == pytest.approx(10 * np.log10((energy + 1e-7) / 1e-7))
    assert 100 < scores.si_sdr < math.inf
    assert scores.notes == ()


@pytest.mark.parametrize("snr_db", [10.0, 20.0])
def test_signal_plus_white_noise_scores_its_snr(snr_db):
    reference = music_like(2.0, seed=1).astype(np.float64)
    estimate = noisy(reference, snr_db)
    assert tutorial_sdr(reference, estimate) == pytest.approx(snr_db, abs=0.5)
    assert mdx_sdr(reference, estimate) == pytest.approx(snr_db, abs=0.5)
    assert si_sdr(reference, estimate) == pytest.approx(snr_db, abs=0.5)


def assert_matches_mir_eval(reference, estimate, compute_permutation=True):
    ours = bss_eval_sources(reference, estimate, compute_permutation)
    theirs = mir_eval_sources(reference, estimate, compute_permutation)
    for mine, expected in zip(ours[:3], theirs[:3], strict=True):
        np.testing.assert_allclose(mine, expected, rtol=1e-6, atol=1e-3)
    np.testing.assert_array_equal(ours[3], theirs[3])
    return ours


@pytest.mark.parametrize("compute_permutation", [True, False])
def test_bss_eval_matches_mir_eval_on_random_mixtures(compute_permutation):
    rng = np.random.default_rng(5)
    reference = rng.standard_normal((3, 3000))
    mixing = np.eye(3) + 0.3 * rng.standard_normal((3, 3))
    estimate = (mixing @ reference + 0.2 * rng.standard_normal((3, 3000)))[[2, 0, 1]]
    assert_matches_mir_eval(reference, estimate, compute_permutation)


def test_bss_eval_matches_mir_eval_and_finds_swapped_channels():
    reference = music_like(0.2, seed=2).astype(np.float64)
    rng = np.random.default_rng(6)
    smeared = np.stack([np.convolve(ch, [0.8, 0.3, -0.1])[: ch.size] for ch in reference])
    estimate = smeared[::-1] + 0.05 * rng.standard_normal(reference.shape) + 0.1 * reference
    sdr, _, _, perm = assert_matches_mir_eval(reference, estimate)
    assert list(perm) == [1, 0]
    assert np.all(sdr > 5)
    assert_matches_mir_eval(reference, estimate, compute_permutation=False)


def test_bss_eval_matches_mir_eval_for_one_source():
    rng = np.random.default_rng(7)
    reference = rng.standard_normal(2000)
    assert_matches_mir_eval(reference, reference + 0.5 * rng.standard_normal(2000))


def test_tutorial_sdr_is_the_mean_over_channels_as_sources():
    reference = music_like(0.3, seed=4).astype(np.float64)
    estimate = noisy(reference, 8.0)
    estimate[1] *= 0.5
    expected = float(np.mean(mir_eval_sources(reference, estimate)[0]))
    assert tutorial_sdr(reference, estimate) == pytest.approx(expected, rel=1e-9)
    assert score_stem(reference, estimate).sdr == pytest.approx(expected, rel=1e-9)
    # Channels are "sources": a left/right swap is undone by the permutation.
    assert tutorial_sdr(reference, estimate[::-1]) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("scale", [0.01, 3.0, -2.0])
def test_si_sdr_ignores_the_estimate_scale(scale):
    reference = music_like(1.0, seed=5).astype(np.float64)
    estimate = noisy(reference, 6.0)
    assert si_sdr(reference, scale * estimate) == pytest.approx(si_sdr(reference, estimate))
    assert mdx_sdr(reference, scale * estimate) != pytest.approx(mdx_sdr(reference, estimate))


def test_silent_reference_gives_nan_with_a_note_not_an_error():
    estimate = music_like(0.5, seed=6).astype(np.float64)
    scores = score_stem(np.zeros_like(estimate), estimate, "vocals")
    assert math.isnan(scores.sdr) and math.isnan(scores.si_sdr)
    assert math.isfinite(scores.mdx_sdr)
    assert any("vocals: reference is silent" in note for note in scores.notes)

    half_silent = estimate.copy()
    half_silent[1] = 0
    scores = score_stem(half_silent, estimate, "bass")
    assert math.isnan(scores.sdr)
    assert any("reference channel 1 is silent" in note for note in scores.notes)
    assert math.isfinite(scores.si_sdr)


def test_nan_and_mismatched_input_are_errors():
    reference = music_like(0.2, seed=7).astype(np.float64)
    broken = reference.copy()
    broken[0, 10] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        score_stem(reference, broken)
    with pytest.raises(ValueError, match="NaN"):
        bss_eval_sources(broken, reference)
    with pytest.raises(ValueError, match="shape"):
        score_stem(reference, reference[:, :-1])
    with pytest.raises(ValueError, match="all zeros"):
        bss_eval_sources(reference, np.zeros_like(reference))


# --------------------------------------------------------------------------------------------
# Folders
# --------------------------------------------------------------------------------------------


def test_folder_evaluation_matches_the_array_scores(tmp_path):
    references = write_track(tmp_path / "reference", snr_db=None)
    estimates = write_track(tmp_path / "estimate", format="flac")  # wav against 24-bit flac
    result = evaluate_folders(tmp_path / "reference", tmp_path / "estimate")
    assert list(result.stems) == list(STEMS)
    assert (result.start, result.stop, result.sample_rate) == (0, RATE, RATE)
    for name in STEMS:
        expected = score_stem(references[name], estimates[name])
        assert result.stems[name].sdr == pytest.approx(expected.sdr, abs=0.01)
        assert result.stems[name].mdx_sdr == pytest.approx(12.0, abs=0.05)
        assert result.stems[name].si_sdr == pytest.approx(expected.si_sdr, abs=0.01)
    assert result.mean.mdx_sdr == pytest.approx(np.mean([s.mdx_sdr for s in result.stems.values()]))
    assert result.notes == ()


def test_lengths_within_one_percent_are_compared_over_the_shortest(track):
    reference_dir, estimate_dir, references = track
    write_audio(estimate_dir / "bass.wav", noisy(references["bass"], 12.0)[:, :-400], RATE)
    result = evaluate_folders(reference_dir, estimate_dir)
    assert result.stop == RATE - 400
    assert any("400 samples" in note for note in result.notes)


def test_lengths_beyond_one_percent_are_an_error_naming_the_files(track):
    reference_dir, estimate_dir, references = track
    write_audio(estimate_dir / "bass.wav", noisy(references["bass"], 12.0)[:, :-500], RATE)
    with pytest.raises(StemboardError, match=r"more than 1%.*bass\.wav"):
        evaluate_folders(reference_dir, estimate_dir)


def test_different_sample_rates_are_an_error_naming_both_files(track):
    reference_dir, estimate_dir, references = track
    write_audio(estimate_dir / "vocals.wav", references["vocals"], 48000)
    with pytest.raises(StemboardError, match=r"sample rates differ.*44100.*vocals\.wav.*48000"):
        evaluate_folders(reference_dir, estimate_dir)


def test_stems_missing_on_either_side_are_noted(track):
    reference_dir, estimate_dir, references = track
    (estimate_dir / "drums.wav").unlink()
    write_audio(estimate_dir / "guitar.wav", references["bass"], RATE)
    result = evaluate_folders(reference_dir, estimate_dir)
    assert list(result.stems) == ["bass", "other", "vocals"]
    assert any(note.startswith("guitar: only in the estimate") for note in result.notes)
    assert any(note.startswith("drums: only in the reference") for note in result.notes)


def test_no_stems_in_common_is_an_error_naming_both_folders(tmp_path):
    write_track(tmp_path / "reference", stems=("drums",), snr_db=None)
    write_track(tmp_path / "estimate", stems=("vocals",))
    with pytest.raises(StemboardError, match=r"no stems in common.*reference.*drums.*estimate"):
        evaluate_folders(tmp_path / "reference", tmp_path / "estimate")


def test_two_files_for_one_stem_are_an_error(track):
    reference_dir, estimate_dir, references = track
    write_flac(estimate_dir / "bass.flac", references["bass"])
    with pytest.raises(StemboardError, match=r"two files for 'bass'"):
        evaluate_folders(reference_dir, estimate_dir)


def test_silent_reference_stem_is_nan_and_the_rest_is_evaluated(track):
    reference_dir, estimate_dir, references = track
    write_audio(reference_dir / "other.wav", np.zeros_like(references["other"]), RATE)
    result = evaluate_folders(reference_dir, estimate_dir)
    assert math.isnan(result.stems["other"].sdr)
    assert all(math.isfinite(result.stems[name].sdr) for name in ("drums", "bass", "vocals"))
    assert math.isfinite(result.mean.sdr)
    assert any("other: reference is silent" in note for note in result.notes)
    assert json.loads(result.to_json())["stems"]["other"]["sdr"] is None


def test_nan_samples_in_a_file_are_an_error_naming_it(track):
    reference_dir, estimate_dir, references = track
    broken = noisy(references["drums"], 12.0)
    broken[0, 100] = np.nan
    write_audio(estimate_dir / "drums.wav", broken.astype(np.float32), RATE)
    with pytest.raises(StemboardError, match=r"drums\.wav: holds NaN"):
        evaluate_folders(reference_dir, estimate_dir)


def test_segment_scores_only_that_window(tmp_path):
    references = write_track(tmp_path / "reference", seconds=2.0, snr_db=None)
    estimates = write_track(tmp_path / "estimate", seconds=2.0)
    result = evaluate_folders(tmp_path / "reference", tmp_path / "estimate", segment=(0.5, 1.25))
    assert (result.start, result.stop) == (22050, 55125)
    window = slice(22050, 55125)
    for name in STEMS:
        expected = score_stem(references[name][:, window], estimates[name][:, window])
        assert result.stems[name].sdr == pytest.approx(expected.sdr, abs=1e-3)
        assert result.stems[name].mdx_sdr == pytest.approx(expected.mdx_sdr, abs=1e-3)


@pytest.mark.parametrize(
    ("segment", "message"),
    [
        ((1.5, 2.5), "ends after the audio"),
        ((0.5, 0.5), "end must be after start"),
        ((-1.0, 0.5), "start >= 0"),
    ],
)
def test_bad_segments_are_errors(track, segment, message):
    reference_dir, estimate_dir, _ = track
    with pytest.raises(StemboardError, match=message):
        evaluate_folders(reference_dir, estimate_dir, segment=segment)


def test_json_is_strict_and_written_atomically(track, tmp_path):
    reference_dir, estimate_dir, _ = track
    result = evaluate_folders(reference_dir, estimate_dir, segment=(0.25, 0.75))
    out = tmp_path / "scores"
    out.mkdir()
    written = result.write_json(out / "scores.json")
    data = json.loads(written.read_text(), parse_constant=pytest.fail)
    assert [p.name for p in out.iterdir()] == ["scores.json"]
    assert data["segment"] == [0.25, 0.75]
    assert data["sample_rate"] == RATE
    assert set(data["metrics"]) == {"sdr", "mdx_sdr", "si_sdr"}
    assert list(data["stems"]) == list(STEMS)
    for name in STEMS:
        assert data["stems"][name]["sdr"] == pytest.approx(result.stems[name].sdr)
        assert data["stems"][name]["estimate_file"].endswith(f"{name}.wav")
    assert data["mean"]["si_sdr"] == pytest.approx(result.mean.si_sdr)


def test_plots_are_png_files_per_stem_and_mixture(track, tmp_path):
    reference_dir, estimate_dir, _ = track
    result = evaluate_folders(reference_dir, estimate_dir, segment=(0.0, 0.5))
    written = plot_spectrograms(result, tmp_path / "plots")
    assert set(written) == {*STEMS, "mixture"}
    for path in written.values():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == sorted(
        f"{name}.png" for name in written
    )


def test_spectrograms_have_a_log_frequency_axis_from_20_hz_labelled_in_hz_and_khz():
    tone = np.sin(2 * np.pi * 100 * np.arange(RATE) / RATE)
    hop = spectrogram_hop(RATE)
    figure = spectrogram_figure("tone", [("reference", tone)], hop, (0.0, 1.0), RATE)
    ax = figure.axes[0]
    assert ax.get_yscale() == "log"
    assert ax.get_ylim() == pytest.approx((20, RATE / 2))
    label = ax.yaxis.get_major_formatter()
    labels = [label(value, index) for index, value in enumerate(ax.get_yticks())]
    assert labels[0] == "20 Hz" and "1 kHz" in labels and labels[-1] == "20 kHz"
    # The image holds the STFT's bins; its extent puts the tone's loudest row at 100 Hz.
    image = ax.images[0]
    rows = image.get_array().shape[0]
    bottom, top = image.get_extent()[2:]
    loudest = int(np.argmax(image.get_array().mean(axis=1)))
    assert bottom + (loudest + 0.5) * (top - bottom) / rows == pytest.approx(100, abs=RATE / 4096)


def test_spectrogram_hop_grows_with_length_within_bounds():
    assert spectrogram_hop(100) == 4
    assert spectrogram_hop(5 * RATE) == 111
    assert spectrogram_hop(600 * RATE) == 1024


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def test_cli_prints_a_table_and_writes_json_and_plots(track, tmp_path, capsys):
    reference_dir, estimate_dir, references = track
    write_audio(reference_dir / "mixture.wav", sum(references.values()), RATE)
    code = main(
        ["evaluate", "--reference", str(reference_dir), "--estimate", str(estimate_dir),
         "--segment", "0.2", "0.8", "--json", str(tmp_path / "s.json"),
         "--plot", str(tmp_path / "plots")]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "SDR (bss_eval, as the tutorial)" in out and "SI-SDR" in out
    assert [line.split()[0] for line in out.splitlines()[1:6]] == [*STEMS, "mean"]
    assert json.loads((tmp_path / "s.json").read_text())["segment"] == [0.2, 0.8]
    assert (tmp_path / "plots" / "mixture.png").exists()


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing folder", "no such folder"),
        ("segment text", "--segment expects two numbers"),
        ("segment too late", "ends after the audio"),
        ("rate mismatch", "sample rates differ"),
        ("unreadable file", "is not a WAV file"),
    ],
)
def test_cli_user_errors_are_one_line(track, capsys, case, message):
    reference_dir, estimate_dir, references = track
    segment = ["0", "0.5"]
    if case == "missing folder":
        estimate_dir = estimate_dir.parent / "nowhere"
    elif case == "segment text":
        segment = ["start", "0.5"]
    elif case == "segment too late":
        segment = ["0.5", "9"]
    elif case == "rate mismatch":
        write_audio(reference_dir / "bass.wav", references["bass"], 22050)
    else:
        (estimate_dir / "other.wav").write_bytes(b"not audio at all")
    argv = ["evaluate", "--reference", str(reference_dir), "--estimate", str(estimate_dir)]
    code = main([*argv, "--segment", *segment])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("stemboard: error: ")
    assert message in err


@pytest.mark.parametrize(
    ("option", "where", "message"),
    [
        ("--json", "missing/s.json", "does not exist"),
        ("--json", "folder", "is a folder, not a file"),
        ("--plot", "a-file/plots", "a-file is a file"),
        ("--json", "/sys/stemboard-scores.json", "cannot write"),
        ("--plot", "/sys/stemboard-plots", "cannot write"),
    ],
)
def test_cli_refuses_bad_destinations_before_scoring(
    track, tmp_path, capsys, option, where, message
):
    reference_dir, estimate_dir, _ = track
    (tmp_path / "folder").mkdir()
    (tmp_path / "a-file").write_text("x")
    argv = ["evaluate", "--reference", str(reference_dir), "--estimate", str(estimate_dir)]
    code = main([*argv, option, str(tmp_path / where)])
    captured = capsys.readouterr()
    assert code == 1 and captured.out == ""  # no table: nothing was scored
    assert captured.err.count("\n") == 1 and message in captured.err
