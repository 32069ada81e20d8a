"""Fixed-length segments joined by weighted overlap-add, offline and streaming alike.

The steps, as in demucs' ``apply_model``: cut the signal into segments of the model's length
starting every ``stride`` samples (each segment holds real neighbouring audio wherever the track
has it, zeros only past its end), run them in batches, weight each output by a trapezoid window,
add, and divide by the summed weights. Because the division uses the weights actually added, a
model that returns its input reconstructs the input exactly, for any length, overlap and batch.

:class:`OverlapAdd` is incremental: ``push`` blocks of any size and get back the samples no
later segment can change; ``finish`` processes the tail. Offline separation is one ``push`` and
one ``finish``, so streaming and offline share every line of arithmetic.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

RunBatch = Callable[[np.ndarray], np.ndarray]
"""``[batch, channels, segment]`` -> ``[batch, sources, channels, segment]``, float32. The batch
is made for the call: the callee may overwrite it."""


def segment_weight(segment: int, overlap_samples: int) -> np.ndarray:
    """Trapezoid window ``[segment]`` (float64): linear ramps over the overlap, flat between,
    never zero."""
    ramp = np.arange(1, segment + 1, dtype=np.float64) / (overlap_samples + 1)
    weight = np.minimum(1.0, np.minimum(ramp, ramp[::-1]))
    return weight


def stride_for(segment: int, overlap: float) -> tuple[int, int]:
    """``(stride, overlap_samples)`` for an overlap given as a fraction of the segment."""
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    overlap_samples = min(round(overlap * segment), segment - 1)
    return segment - overlap_samples, overlap_samples


def segments_needed(length: int, segment: int, stride: int) -> int:
    """How many segments cover ``length`` samples (one for an empty or short signal)."""
    if length <= segment:
        return 1
    return 1 + -(-(length - segment) // stride)


class OverlapAdd:
    """Incremental segmentation and weighted overlap-add over a ``[channels, samples]`` stream.

    ``push`` runs segments in full batches of ``batch_size`` as they become ready; ``finish``
    runs the rest. The first samples come out once ``batch_size`` segments are ready
    (:attr:`latency`).

    ``run`` maps ``[batch, channels, segment]`` to ``[batch, sources, channels, segment]``;
    ``before_first_run`` (optional) sees the first segment's real audio ``[channels, n]`` once,
    before any segment runs (the node takes its normalisation statistics there).
    """

    def __init__(
        self,
        run: RunBatch,
        *,
        segment: int,
        sources: int,
        channels: int,
        overlap: float = 0.25,
        batch_size: int = 1,
        before_first_run: Callable[[np.ndarray], None] | None = None,
    ):
        if segment <= 0:
            raise ValueError(f"segment must be positive, got {segment}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.run = run
        self.segment = segment
        self.sources = sources
        self.channels = channels
        self.stride, self.overlap_samples = stride_for(segment, overlap)
        self.weight = segment_weight(segment, self.overlap_samples)
        self.batch_size = batch_size
        self.before_first_run = before_first_run
        self.reset()

    def reset(self) -> None:
        """Forget everything pushed so far."""
        self._input = np.zeros((self.channels, 0), np.float32)
        self._input_start = 0  # absolute index of self._input[:, 0]
        self._received = 0
        self._next_segment = 0
        # The weighted sums that later segments still add to: the last `overlap_samples` of what
        # ran, in float64 (dividing them gives an identity model's input back to the last bit).
        shape = (self.sources, self.channels, self.overlap_samples)
        self._pending = np.zeros(shape, np.float64)
        self._pending_weight = np.zeros(self.overlap_samples, np.float64)
        self._emitted = 0  # absolute index of self._pending[..., 0]
        self._started = False

    @property
    def latency(self) -> int:
        """Input samples held before the first output: a batch of segments."""
        return self.segment + (self.batch_size - 1) * self.stride

    @property
    def received(self) -> int:
        return self._received

    def push(self, block: np.ndarray) -> np.ndarray:
        """Add ``[channels, n]`` samples; return ``[sources, channels, m]`` finished samples."""
        if block.shape[-1]:
            self._input = np.concatenate([self._input, block.astype(np.float32, copy=False)], 1)
            self._received += block.shape[-1]
        first = self._next_segment
        ready = 0
        while self._segment_start(first + ready) + self.segment <= self._received:
            ready += 1
        # Only full batches run before the end: a runtime that runs a batch's segments side by
        # side (OpenVINO's streams, a GPU) stays busy, at the price of up to batch_size - 1 more
        # segments of latency.
        ready -= ready % self.batch_size
        return self._run_segments(range(first, first + ready), self._segment_start(first + ready))

    def finish(self) -> np.ndarray:
        """Process the segments that reach past the end; return the rest, then reset."""
        total = self._received
        count = segments_needed(total, self.segment, self.stride) if total else 0
        out = self._run_segments(range(self._next_segment, count), total)
        self.reset()
        return out

    def _segment_start(self, index: int) -> int:
        return index * self.stride

    def _window(self, index: int) -> np.ndarray:
        """Segment ``index`` of the input, zero-padded past the end: ``[channels, segment]``."""
        start = self._segment_start(index) - self._input_start
        piece = self._input[:, start : start + self.segment]
        if piece.shape[-1] < self.segment:
            piece = np.pad(piece, ((0, 0), (0, self.segment - piece.shape[-1])))
        return piece

    def _run_segments(self, indices: range, until: int) -> np.ndarray:
        """Run the segments ``indices`` in batches; return the finished samples up to ``until``
        (at most what was received), ``[sources, channels, m]``.

        Each output is summed as it comes and the samples before the next segment's start are
        emitted at once, so no more than the overlap is kept, however long the block: one long
        array pushed at once costs the same per sample as many short ones.
        """
        until = min(until, self._received)
        out = np.empty((self.sources, self.channels, max(0, until - self._emitted)), np.float32)
        base = self._emitted
        if indices and not self._started:
            self._started = True
            if self.before_first_run is not None:
                self.before_first_run(self._input[:, : self.segment])
        for first in range(0, len(indices), self.batch_size):
            chunk = indices[first : first + self.batch_size]
            outputs = self.run(np.stack([self._window(i) for i in chunk]))
            for output in outputs:
                self._add(output, until, out[..., self._emitted - base :])
        if indices:
            self._next_segment = indices[-1] + 1
            # input before the next segment's start is never read again
            drop = self._segment_start(self._next_segment) - self._input_start
            if drop > 0:
                self._input = self._input[:, drop:]
                self._input_start += drop
        tail = until - self._emitted  # past the last segment's stride only the sums are left
        np.divide(
            self._pending[..., :tail],
            self._pending_weight[:tail],
            out=out[..., self._emitted - base :],
        )
        self._emitted += tail
        return out

    def _add(self, output: np.ndarray, until: int, out: np.ndarray) -> None:
        """Add the weighted output ``[sources, channels, segment]`` of the segment that starts
        where the finished samples end; write its first stride (up to ``until``) into ``out``
        and keep its last ``overlap_samples``, summed, as the pending sums.

        A segment has three spans: its start, which the segments before reach into (summed with
        the pending sums); its middle, where the weight is 1 and no other segment reaches (the
        output as it is); its end, which the segments after reach into. With an overlap of more
        than half a segment there is no middle, and the start and the end meet.
        """
        overlap, stride, weight = self.overlap_samples, self.stride, self.weight
        count = min(stride, until - self._emitted)
        done = min(count, overlap)
        kept = max(stride, overlap)  # the end's samples that no earlier segment reaches
        carried = kept - stride  # the start's samples that are also in the end
        start_weight = self._pending_weight + weight[:overlap]
        for source, pending in enumerate(self._pending):  # one at a time: small float64 copies
            summed = pending + output[source, :, :overlap] * weight[:overlap]
            np.divide(summed[:, :done], start_weight[:done], out=out[source, :, :done])
            pending[:, :carried] = summed[:, stride:]
            np.multiply(output[source, :, kept:], weight[kept:], out=pending[:, carried:])
        out[..., overlap:count] = output[..., overlap:count]
        self._pending_weight = np.concatenate([start_weight[stride:], weight[kept:]])
        self._emitted += count
