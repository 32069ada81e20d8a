"""Segmentation and weighted overlap-add: exact reconstruction, streaming equals offline."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stemboard.node.overlap_add import OverlapAdd, segment_weight, segments_needed, stride_for


def _identity(batch):
    """Two 'sources': the input and twice the input."""
    return np.stack([batch, 2 * batch], axis=1)


def _offline(x, **kw):
    engine = OverlapAdd(_identity, sources=2, channels=2, **kw)
    return np.concatenate([engine.push(x), engine.finish()], axis=-1)


@settings(max_examples=300, deadline=None)
@given(
    length=st.integers(0, 2000),
    segment=st.integers(1, 300),
    overlap=st.floats(0, 0.95),
    batch_size=st.integers(1, 5),
)
def test_identity_model_reconstructs_input_exactly(length, segment, overlap, batch_size):
    x = np.random.default_rng(length).standard_normal((2, length)).astype(np.float32)
    out = _offline(x, segment=segment, overlap=overlap, batch_size=batch_size)
    assert out.shape == (2, 2, length) and out.dtype == np.float32
    np.testing.assert_array_equal(out[0], x)
    np.testing.assert_array_equal(out[1], 2 * x)


@settings(max_examples=40, deadline=None)
@given(
    length=st.integers(0, 3000),
    blocks=st.lists(st.integers(1, 700), min_size=1, max_size=40),
    batch_size=st.integers(1, 4),
)
def test_streaming_matches_offline_for_any_block_sizes(length, blocks, batch_size):
    x = np.random.default_rng(length + 1).standard_normal((2, length)).astype(np.float32)

    def noisy(batch):  # a model that is not the identity, so misplaced segments would show
        return np.stack([np.roll(batch, 3, axis=-1), batch**2], axis=1)

    offline_engine = OverlapAdd(noisy, segment=256, sources=2, channels=2, batch_size=batch_size)
    offline = np.concatenate([offline_engine.push(x), offline_engine.finish()], axis=-1)
    engine = OverlapAdd(noisy, segment=256, sources=2, channels=2, batch_size=1)
    parts, position, i = [], 0, 0
    while position < length:
        size = blocks[i % len(blocks)]
        part = engine.push(x[:, position : position + size])
        position += size
        i += 1
        assert engine.received == min(position, length)
        parts.append(part)
        emitted = sum(p.shape[-1] for p in parts)
        assert emitted <= min(position, length)  # never ahead of the input
    parts.append(engine.finish())
    streamed = np.concatenate(parts, axis=-1)
    np.testing.assert_allclose(streamed, offline, rtol=0, atol=1e-5)


def test_segments_carry_real_audio_and_zeros_only_past_the_end():
    seen = []

    def record(batch):
        seen.extend(batch.copy())
        return _identity(batch)

    x = np.arange(1, 1001, dtype=np.float32)[None].repeat(2, 0)
    engine = OverlapAdd(record, segment=300, sources=2, channels=2, overlap=0.25)
    engine.push(x)
    engine.finish()
    assert len(seen) == segments_needed(1000, 300, 225) == 5
    for k, window in enumerate(seen):
        start = k * 225
        real = min(300, 1000 - start)
        np.testing.assert_array_equal(window[0, :real], x[0, start : start + real])
        assert not window[:, real:].any()


def test_weights_ramp_over_the_overlap_and_never_reach_zero():
    w = segment_weight(100, 20)
    assert w.min() > 0
    assert w[20:80].min() == 1.0
    assert np.all(np.diff(w[:21]) > 0)
    assert stride_for(100, 0.25) == (75, 25)
    assert stride_for(10, 0.0) == (10, 0)


@pytest.mark.parametrize("overlap", [-0.1, 1.0, 2.0])
def test_bad_overlap_is_refused(overlap):
    with pytest.raises(ValueError, match="overlap"):
        OverlapAdd(_identity, segment=10, sources=2, channels=2, overlap=overlap)


def test_first_segment_hook_sees_the_real_audio_once():
    calls = []
    engine = OverlapAdd(
        _identity,
        segment=100,
        sources=2,
        channels=2,
        before_first_run=lambda a: calls.append(a.copy()),
    )
    x = np.ones((2, 50), np.float32)
    assert engine.push(x).shape == (2, 2, 0)
    engine.finish()
    assert len(calls) == 1 and calls[0].shape == (2, 50)
