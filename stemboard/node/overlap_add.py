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
"""``[batch, channels, segment]`` -> ``[batch, sources, channels, segment]``, float32."""


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
        self.stride, overlap_samples = stride_for(segment, overlap)
        self.weight = segment_weight(segment, overlap_samples)
        self.batch_size = batch_size
        self.before_first_run = before_first_run
        self.reset()

    def reset(self) -> None:
        """Forget everything pushed so far."""
        self._input = np.zeros((self.channels, 0), np.float32)
        self._input_start = 0  # absolute index of self._input[:, 0]
        self._received = 0
        self._next_segment = 0
        # float64 sums: dividing them gives an identity model's input back to the last bit.
        # Storage is reused: the live sums start at `_head` and everything after them is zero.
        self._acc = np.zeros((self.sources, self.channels, 0), np.float64)
        self._acc_weight = np.zeros(0, np.float64)
        self._head = 0
        self._live = 0  # samples summed but not yet emitted
        self._emitted = 0  # absolute index of self._acc[..., self._head]
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
        ready = []
        while self._segment_start(self._next_segment + len(ready)) + self.segment <= self._received:
            ready.append(self._next_segment + len(ready))
        # Only full batches run before the end: a runtime that runs a batch's segments side by
        # side (OpenVINO's streams, a GPU) stays busy, at the price of up to batch_size - 1 more
        # segments of latency. Emitting after every batch keeps the sums at about two segments,
        # however long the block: one long array pushed at once costs the same per sample as
        # many short ones.
        ready = ready[: len(ready) - len(ready) % self.batch_size]
        pieces = []
        for first in range(0, len(ready), self.batch_size):
            self._run_segments(ready[first : first + self.batch_size])
            pieces.append(self._emit(self._segment_start(self._next_segment)))
        if not pieces:
            return self._emit(self._segment_start(self._next_segment))
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces, axis=-1)

    def finish(self) -> np.ndarray:
        """Process the segments that reach past the end; return the rest, then reset."""
        total = self._received
        count = segments_needed(total, self.segment, self.stride) if total else 0
        self._run_segments(list(range(self._next_segment, count)))
        out = self._emit(total)
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

    def _run_segments(self, indices: list[int]) -> None:
        if not indices:
            return
        if not self._started:
            self._started = True
            if self.before_first_run is not None:
                self.before_first_run(self._input[:, : self.segment])
        for first in range(0, len(indices), self.batch_size):
            chunk = indices[first : first + self.batch_size]
            batch = np.stack([self._window(i) for i in chunk])
            outputs = self.run(batch)
            for index, output in zip(chunk, outputs, strict=True):
                self._accumulate(self._segment_start(index), output)
        self._next_segment = indices[-1] + 1
        # input before the next segment's start is never read again
        drop = self._segment_start(self._next_segment) - self._input_start
        if drop > 0:
            self._input = self._input[:, drop:]
            self._input_start += drop

    def _accumulate(self, start: int, output: np.ndarray) -> None:
        offset = start - self._emitted
        self._reserve(offset + self.segment)
        at = slice(self._head + offset, self._head + offset + self.segment)
        self._acc[..., at] += output * self.weight
        self._acc_weight[at] += self.weight
        self._live = max(self._live, offset + self.segment)

    def _reserve(self, need: int) -> None:
        """Room for ``need`` live samples from the head: move the live sums to the front of the
        storage (zeroing the rest) or into a larger one, instead of reallocating per segment."""
        capacity = self._acc_weight.shape[0]
        if self._head + need <= capacity:
            return
        head, live = self._head, self._live
        if need <= capacity:
            self._acc[..., :live] = self._acc[..., head : head + live].copy()
            self._acc[..., live:] = 0.0
            self._acc_weight[:live] = self._acc_weight[head : head + live].copy()
            self._acc_weight[live:] = 0.0
        else:
            capacity = max(need, 2 * self.segment)
            acc = np.zeros((self.sources, self.channels, capacity), np.float64)
            weight = np.zeros(capacity, np.float64)
            acc[..., :live] = self._acc[..., head : head + live]
            weight[:live] = self._acc_weight[head : head + live]
            self._acc, self._acc_weight = acc, weight
        self._head = 0

    def _emit(self, until: int) -> np.ndarray:
        """Finished samples ``[emitted, until)`` (clipped to what was received)."""
        until = min(until, self._received)
        count = max(0, until - self._emitted)
        done = slice(self._head, self._head + count)
        out = np.empty((self.sources, self.channels, count), np.float32)
        np.divide(self._acc[..., done], self._acc_weight[done], out=out, casting="same_kind")
        self._head += count  # the storage before the head is dead until the next move
        self._live -= count
        self._emitted += count
        return out
