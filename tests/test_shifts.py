"""Test-time shifts: a stream's mean of delayed passes, exact for an identity model, streaming
equal to offline, and equal to the shifted runs averaged by hand."""

import re
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stemboard.errors import InvalidValueError, format_value
from stemboard.node.overlap_add import OverlapAdd, segments_needed, stride_for
from stemboard.node.settings import MAX_SHIFTS
from stemboard.node.stream import (
    Normalisation,
    SeparationStream,
    ShiftedPasses,
    shift_offsets,
)

SEGMENT = 256
RATE = 44100


class FakeSession:
    """What a stream asks of a session: ``info`` and ``run``; it records the batches run."""

    def __init__(self, model, segment=SEGMENT, sources=("a", "b")):
        self.info = SimpleNamespace(
            sources=sources, sample_rate=RATE, segment_samples=segment, audio_channels=2
        )
        self.model = model
        self.batches: list[int] = []

    def run(self, batch):
        self.batches.append(len(batch))
        return self.model(batch).astype(np.float32)


def identity(batch):
    """Two sources: the input and -2 times the input (both exact in float32)."""
    return np.stack([batch, -2 * batch], axis=1)


RAMP = np.linspace(0.5, 1.5, SEGMENT, dtype=np.float32)


def ramp(batch):
    """Not shift-equivariant: a gain ramp across the segment, and the segment's first sample
    added to all of it."""
    return np.stack([batch * RAMP, batch + batch[..., :1]], axis=1)


def _stereo(n, seed=0):
    return np.random.default_rng(seed).uniform(-0.5, 0.5, (2, n)).astype(np.float32)


def _stream(model, overlap=0.25, batch_size=2, **kw):
    return SeparationStream(
        FakeSession(model), RATE, overlap=overlap, batch_size=batch_size, channels=2, **kw
    )


def _offline(model, x, **kw):
    stream = _stream(model, **kw)
    return np.concatenate([stream.push(x), stream.finish()], axis=-1)


def _by_hand(model, x, offsets, normalisation, **kw):
    """Each offset a plain run over ``x`` behind that many zeros, cut back, then averaged."""
    passes = []
    for offset in offsets:
        padded = np.concatenate([np.zeros((2, offset), np.float32), x], axis=1)
        passes.append(_offline(model, padded, normalisation=normalisation, **kw)[..., offset:])
    return (sum(p.astype(np.float64) for p in passes) / len(passes)).astype(np.float32)


# -- shift_offsets ---------------------------------------------------------------------------


def test_shift_offsets_are_the_seeded_draws_below_half_a_second():
    offsets = shift_offsets(5, seed=3, sample_rate=RATE)
    assert offsets == shift_offsets(5, seed=3, sample_rate=RATE)
    assert offsets == tuple(np.random.default_rng(3).integers(0, RATE // 2, size=5))
    assert len(offsets) == 5 and all(type(o) is int and 0 <= o < RATE // 2 for o in offsets)
    assert shift_offsets(5, seed=4, sample_rate=RATE) != offsets
    assert all(0 <= o < 24000 for o in shift_offsets(MAX_SHIFTS, seed=None, sample_rate=48000))


def test_zero_shifts_is_one_plain_pass():
    assert shift_offsets(0, seed=0, sample_rate=RATE) == ()
    assert shift_offsets(0, seed=None, sample_rate=RATE) == ()


@pytest.mark.parametrize("shifts", [-1, MAX_SHIFTS + 1, True, 1.5, "2", None])
def test_bad_shift_counts_are_refused_by_value(shifts):
    shown = re.escape(format_value(shifts))
    with pytest.raises(InvalidValueError, match=f"shifts: expected an integer .* got {shown}"):
        shift_offsets(shifts, seed=0, sample_rate=RATE)


@pytest.mark.parametrize(
    ("seed", "sample_rate", "message"),
    [(-1, RATE, "seed"), (True, RATE, "seed"), ("x", RATE, "seed"), (0, 1, "sample_rate"),
     (0, 44100.0, "sample_rate")],
)  # fmt: skip
def test_bad_seeds_and_rates_are_refused_by_value(seed, sample_rate, message):
    with pytest.raises(InvalidValueError, match=message):
        shift_offsets(2, seed=seed, sample_rate=sample_rate)


@pytest.mark.parametrize("offsets", [(-1,), (3, 1.5), (True,), ("7",)])
def test_bad_offsets_are_refused_by_value(offsets):
    with pytest.raises(InvalidValueError, match="shift offsets must be integers >= 0"):
        _stream(identity, offsets=offsets)


# -- the stream ------------------------------------------------------------------------------


@pytest.mark.parametrize("shifts", [1, 2, 3])
@pytest.mark.parametrize("n", [0, 1, 100, SEGMENT - 1, SEGMENT, SEGMENT + 1, 5 * SEGMENT + 17])
@pytest.mark.parametrize("overlap", [0.0, 0.25, 0.9])
def test_identity_model_reconstructs_input_exactly_with_shifts(shifts, n, overlap):
    x = _stereo(n, n)
    offsets = shift_offsets(shifts, seed=n, sample_rate=2 * SEGMENT)  # delays up to a segment
    out = _offline(identity, x, offsets=offsets, overlap=overlap, normalisation=Normalisation())
    assert out.shape == (2, 2, n) and out.dtype == np.float32
    np.testing.assert_array_equal(out[0], x)
    np.testing.assert_array_equal(out[1], -2 * x)


@pytest.mark.parametrize("offsets", [(0,), (5000, 3), (1, 300, 255, 256)])
def test_identity_model_with_shifts_gives_what_one_pass_gives(offsets):
    """With the statistics of the first real segment, whatever the delays."""
    x = _stereo(3 * SEGMENT + 5, 1) + 0.3
    np.testing.assert_array_equal(
        _offline(identity, x, offsets=offsets), _offline(identity, x, offsets=())
    )


@settings(max_examples=60, deadline=None)
@given(
    length=st.integers(0, 1500),
    offsets=st.lists(st.integers(0, 700), min_size=1, max_size=3),
    blocks=st.lists(st.integers(1, 400), min_size=1, max_size=20),
    overlap=st.sampled_from([0.0, 0.25, 0.5]),
    batch_size=st.integers(1, 3),
)
def test_streaming_with_shifts_matches_offline_for_any_block_sizes(
    length, offsets, blocks, overlap, batch_size
):
    x = _stereo(length, length) + 0.1
    offline = _offline(ramp, x, offsets=offsets, overlap=overlap, batch_size=2)
    stream = _stream(ramp, offsets=offsets, overlap=overlap, batch_size=batch_size)
    parts, position, i = [], 0, 0
    while position < length:
        size = blocks[i % len(blocks)]
        parts.append(stream.push(x[:, position : position + size]))
        position += size
        i += 1
        assert sum(p.shape[-1] for p in parts) <= min(position, length)  # never ahead
    parts.append(stream.finish())
    streamed = np.concatenate(parts, axis=-1)
    assert streamed.shape == offline.shape == (2, 2, length)
    np.testing.assert_array_equal(streamed, offline)


@pytest.mark.parametrize("n", [1, 200, SEGMENT, 4 * SEGMENT + 3])
@pytest.mark.parametrize("offsets", [(7,), (0, 100), (300, 31, 255)])
def test_the_output_is_the_mean_of_the_shifted_runs(n, offsets):
    x = _stereo(n, n) + 0.2
    track = Normalisation.of(x)
    np.testing.assert_array_equal(
        _offline(ramp, x, offsets=offsets, normalisation=track),
        _by_hand(ramp, x, offsets, track),
    )
    first_segment = Normalisation.of(x[:, :SEGMENT])  # what a stream without statistics takes
    np.testing.assert_array_equal(
        _offline(ramp, x, offsets=offsets), _by_hand(ramp, x, offsets, first_segment)
    )
    plain = _offline(ramp, x, normalisation=track)
    assert not np.array_equal(_offline(ramp, x, offsets=offsets, normalisation=track), plain)


def test_the_statistics_come_from_the_real_audio_not_the_padding():
    x = _stereo(3 * SEGMENT, 2) + 0.4
    stream = _stream(ramp, offsets=(SEGMENT - 1, 2 * SEGMENT))
    for start in range(0, x.shape[-1], 10):
        stream.push(x[:, start : start + 10])
    assert stream.normalisation == Normalisation.of(x[:, :SEGMENT])
    short = _stereo(SEGMENT // 2, 3) - 0.2
    stream = _stream(ramp, offsets=(SEGMENT,))
    stream.push(short)
    assert stream.normalisation is None  # held until a segment or the end
    stream.finish()
    assert stream.normalisation == Normalisation.of(short)


def test_each_pass_runs_its_segments_in_batches():
    x = _stereo(6 * SEGMENT, 4)
    offsets = (0, 40, 3 * SEGMENT)
    stream = _stream(identity, offsets=offsets, overlap=0.25, batch_size=3)
    stream.push(x)
    stream.finish()
    stride, _ = stride_for(SEGMENT, 0.25)
    runs = stream.session.batches
    assert max(runs) == 3
    assert sum(runs) == sum(segments_needed(o + x.shape[-1], SEGMENT, stride) for o in offsets)


def test_an_empty_track_runs_nothing():
    stream = _stream(identity, offsets=(3, 400))
    assert stream.push(np.zeros((2, 0), np.float32)).shape == (2, 2, 0)
    assert stream.finish().shape == (2, 2, 0)
    assert stream.session.batches == []


@pytest.mark.parametrize("rate", [RATE, 48000])
def test_mono_mix_and_resampling_stay_as_without_shifts(rate):
    x = _stereo(5 * SEGMENT, 5)[:1]
    mix = np.array([0.5, 2.0], np.float32)

    def run(offsets):
        stream = SeparationStream(
            FakeSession(identity), rate, overlap=0.25, batch_size=2, mix=mix, offsets=offsets
        )
        return np.concatenate([stream.push(x), stream.finish()], axis=-1)

    plain = run(())
    assert plain.shape == (1, 1, x.shape[-1])
    np.testing.assert_array_equal(run((10, 600)), plain)


# -- without offsets: the stream as it was ----------------------------------------------------


def test_no_offsets_is_the_single_overlap_add_pass():
    x = _stereo(4 * SEGMENT + 9, 6) + 0.1
    stream = _stream(ramp, overlap=0.25, batch_size=2)
    assert type(stream.engine) is OverlapAdd
    out = np.concatenate([stream.push(x), stream.finish()], axis=-1)
    norm = Normalisation.of(x[:, :SEGMENT])

    def run(batch):
        return ramp((batch - norm.mean) / norm.std).astype(np.float32) * norm.std + norm.mean

    engine = OverlapAdd(run, segment=SEGMENT, sources=2, channels=2, overlap=0.25, batch_size=2)
    np.testing.assert_array_equal(out, np.concatenate([engine.push(x), engine.finish()], -1))
    assert type(_stream(ramp, offsets=(0,)).engine) is ShiftedPasses
    np.testing.assert_array_equal(_offline(ramp, x, offsets=(0,)), out)
    np.testing.assert_array_equal(_offline(ramp, x, offsets=(0, 0)), out)


def test_the_demo_model_with_shifts_is_the_mean_of_its_shifted_runs():
    from stemboard.node import SeparatorNode

    session = SeparatorNode("demo", device="cpu").session
    x = _stereo(RATE, 7)  # one segment of the demo model holds the whole second
    offsets = shift_offsets(2, seed=0, sample_rate=session.info.sample_rate)
    track = Normalisation.of(x)

    def offline(audio, offsets=()):
        stream = SeparationStream(
            session, RATE, overlap=0.25, batch_size=1, normalisation=track, offsets=offsets
        )
        return np.concatenate([stream.push(audio), stream.finish()], axis=-1)

    shifted = offline(x, offsets)
    passes = [offline(np.pad(x, ((0, 0), (o, 0))))[..., o:] for o in offsets]
    by_hand = (sum(p.astype(np.float64) for p in passes) / len(passes)).astype(np.float32)
    assert shifted.shape == (4, 2, RATE)
    np.testing.assert_allclose(shifted, by_hand, rtol=0, atol=1e-6)
    assert np.abs(shifted - offline(x)).max() > 1e-5  # the delays change the demo's output
