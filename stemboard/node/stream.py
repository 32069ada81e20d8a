"""One track through the node as a planar stream: ``[channels, n]`` blocks in, stems out.

The steps for one track: bring the audio to the model's channels and sample rate; normalise
by the mean and standard deviation of the mono mix (the torchaudio tutorial's track-level
normalisation); cut, run and overlap-add segments (:mod:`stemboard.node.overlap_add`); undo the
normalisation; optionally mix the stems by gains; go back to the caller's sample rate and
channel count. Offline separation is one ``push`` and a ``finish``, so streaming and offline
share every line of arithmetic.

Example::

    stream = node.open_stream(44100, normalisation=Normalisation.of(audio))
    stems = np.concatenate([stream.push(audio), stream.finish()], axis=-1)

A stream that is not given the track's statistics takes them from its first segment (about
10 s). HDemucs normalises its own input again inside the network, which undoes a different
scale (the standard deviation: the outputs move by about 1e-6) but not a different mean: its
frequency branch normalises the spectrogram, where a DC offset is energy in the lowest bins,
not a shift. Such a stream differs from an offline run by about 0.6 times the difference of
the two means (6e-4, 66 dB, on the README's song with the demo model, whose first 10 s are
offset by 1e-3 from the whole track); given the track's statistics it is identical.

Test-time shifts (demucs' ``shifts``): with ``offsets`` from :func:`shift_offsets` the track is
separated once per offset, each pass delayed by that many zeros so that segment boundaries fall
elsewhere, and the stream gives back the mean of the passes (:class:`ShiftedPasses`)::

    offsets = shift_offsets(2, seed=0, sample_rate=session.info.sample_rate)
    stream = SeparationStream(session, 44100, overlap=0.25, batch_size=1, offsets=offsets)
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np

from stemboard.audio.layout import first_non_finite, fit_channels, match_channels
from stemboard.audio.resampling import StreamingResampler, check_rate
from stemboard.errors import AudioTypeError, InvalidValueError
from stemboard.node.backend import Session
from stemboard.node.overlap_add import OverlapAdd
from stemboard.node.settings import check_seed, check_shifts

_SILENCE_STD = 1e-8


def shift_offsets(shifts: int, seed: int | None, sample_rate: int) -> tuple[int, ...]:
    """Demucs' random shifts: ``shifts`` delays in ``[0, max_shift)`` samples, for ``offsets``.

    Example::

        shift_offsets(2, seed=0, sample_rate=44100)     # two delays under 22050 samples
        shift_offsets(0, seed=0, sample_rate=44100)     # (): one plain pass

    ``max_shift`` is half a second at ``sample_rate``, the model's rate, as in demucs'
    ``apply_model``. The delays are drawn with ``np.random.default_rng(seed)``: one seed, one
    set of delays; ``seed=None`` draws fresh ones. ``shifts`` and ``seed`` are checked by
    :mod:`stemboard.node.settings` (at most :data:`~stemboard.node.settings.MAX_SHIFTS`).
    """
    shifts, seed = check_shifts(shifts), check_seed(seed)
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, numbers.Integral):
        raise InvalidValueError(f"sample_rate must be an integer of Hz, got {sample_rate!r}")
    max_shift = int(0.5 * sample_rate)
    if max_shift < 1:
        raise InvalidValueError(f"sample_rate must be at least 2 Hz, got {sample_rate!r}")
    if shifts == 0:
        return ()
    drawn = np.random.default_rng(seed).integers(0, max_shift, size=int(shifts))
    return tuple(int(offset) for offset in drawn)


def _check_offsets(offsets: Sequence[int]) -> tuple[int, ...]:
    for offset in offsets:
        if isinstance(offset, bool) or not isinstance(offset, numbers.Integral) or offset < 0:
            raise InvalidValueError(f"shift offsets must be integers >= 0, got {offset!r}")
    return tuple(int(offset) for offset in offsets)


@dataclass(frozen=True)
class Normalisation:
    """Track statistics: ``(audio - mean) / std`` before the model, the inverse after."""

    mean: float = 0.0
    std: float = 1.0

    @classmethod
    def of(cls, audio: np.ndarray) -> Normalisation:
        """Statistics of the mono mix of ``audio [channels, samples]`` (silence: identity)."""
        statistics = TrackStatistics()
        statistics.add(audio)
        return statistics.result()


class TrackStatistics:
    """The normalisation of a track seen in blocks: the mono mix's mean and standard deviation.

    Example::

        statistics = TrackStatistics()
        for block in read_blocks("song.wav"):      # [channels, n]: mono or stereo
            statistics.add(block)
        normalisation = statistics.result()

    Blocks are combined with Chan et al.'s pairwise update (count, mean, sum of squared
    deviations), in float64, so the result does not depend on how the track was cut. The mono
    mix of a mono track is the track itself, so a mono file gives what its stereo copy gives.
    """

    def __init__(self) -> None:
        self.count = 0
        self._mean = 0.0
        self._squares = 0.0  # sum of squared deviations from the mean

    def add(self, block: np.ndarray) -> None:
        """Take ``[channels, n]`` audio into account."""
        if block.shape[-1] == 0:
            return
        mono = block.mean(axis=0, dtype=np.float64)
        count = mono.size
        mean = float(mono.mean())
        squares = float(np.sum((mono - mean) ** 2))
        total = self.count + count
        delta = mean - self._mean
        self._squares += squares + delta * delta * self.count * count / total
        self._mean += delta * count / total
        self.count = total

    def result(self) -> Normalisation:
        """The normalisation; the identity for fewer than two samples, std 1 for silence."""
        if self.count < 2:
            return Normalisation()
        std = (self._squares / (self.count - 1)) ** 0.5
        return Normalisation(self._mean, std if std > _SILENCE_STD else 1.0)


class ShiftedPasses:
    """The mean of several overlap-add passes over one signal, each delayed by its own offset.

    Example::

        passes = ShiftedPasses([OverlapAdd(run, segment=4096, sources=4, channels=2)
                                for _ in (0, 1500)], (0, 1500))
        stems = np.concatenate([passes.push(audio), passes.finish()], axis=-1)

    Pass ``i`` is ``engines[i]`` fed ``offsets[i]`` zeros before the signal (as demucs pads
    and shifts); its first ``offsets[i]`` output samples are dropped, so every pass is aligned
    with the input. ``push`` and ``finish`` are :class:`OverlapAdd`'s: ``[channels, n]`` in,
    ``[sources, channels, m]`` out, the samples every pass has finished, averaged in float64
    (an identity model gives its input back to the bit); a pass that is ahead holds the rest.

    The input is held until one segment of it has arrived (or ``finish``): then
    ``before_first_run`` (optional) sees that segment of the real signal ``[channels, n]``,
    never the padding, once, before any pass runs. An empty signal runs nothing.
    """

    def __init__(
        self,
        engines: Sequence[OverlapAdd],
        offsets: Sequence[int],
        before_first_run: Callable[[np.ndarray], None] | None = None,
    ):
        if len(engines) != len(offsets) or not engines:
            raise ValueError(f"one engine per offset, got {len(engines)} for {len(offsets)}")
        self.engines = tuple(engines)
        self.offsets = tuple(offsets)
        self.before_first_run = before_first_run
        first = self.engines[0]
        self.segment = first.segment
        self._empty = np.zeros((first.sources, first.channels, 0), np.float32)
        self.reset()

    def reset(self) -> None:
        """Forget everything pushed so far."""
        for engine in self.engines:
            engine.reset()
        self._held = np.zeros((self.engines[0].channels, 0), np.float32)  # before the start
        self._started = False
        self._skip = list(self.offsets)  # leading output samples each pass still drops
        self._ready = [self._empty] * len(self.engines)  # aligned, not yet averaged

    def push(self, block: np.ndarray) -> np.ndarray:
        """Add ``[channels, n]`` samples; return ``[sources, channels, m]`` finished samples."""
        if self._started:
            return self._mean([engine.push(block) for engine in self.engines])
        self._held = np.concatenate([self._held, block.astype(np.float32, copy=False)], axis=1)
        if self._held.shape[-1] < self.segment:
            return self._empty
        return self._mean(self._start())

    def finish(self) -> np.ndarray:
        """Run what is left of every pass; return the rest of the mean, then reset."""
        parts = []
        if not self._started and self._held.shape[-1]:
            parts.append(self._mean(self._start()))
        if self._started:
            parts.append(self._mean([engine.finish() for engine in self.engines]))
        self.reset()
        return np.concatenate(parts, axis=-1) if parts else self._empty

    def _start(self) -> list[np.ndarray]:
        """Show the held signal to ``before_first_run``, then push it to every pass behind its
        zeros; the passes' outputs."""
        audio, self._held = self._held, self._held[:, :0]
        self._started = True
        if self.before_first_run is not None:
            self.before_first_run(audio[:, : self.segment])
        return [
            engine.push(np.concatenate([np.zeros((len(audio), offset), np.float32), audio], 1))
            for engine, offset in zip(self.engines, self.offsets, strict=True)
        ]

    def _mean(self, outputs: list[np.ndarray]) -> np.ndarray:
        """Align each pass's new output, then average the samples every pass has."""
        for i, output in enumerate(outputs):
            cut = min(self._skip[i], output.shape[-1])
            self._skip[i] -= cut
            self._ready[i] = np.concatenate([self._ready[i], output[..., cut:]], axis=-1)
        count = min(ready.shape[-1] for ready in self._ready)
        total = self._ready[0][..., :count].astype(np.float64)
        for ready in self._ready[1:]:
            total += ready[..., :count]
        self._ready = [ready[..., count:] for ready in self._ready]
        return (total / len(self._ready)).astype(np.float32)


class SeparationStream:
    """One track through a model: planar ``[channels, n]`` blocks in, ``[sources, channels, m]``
    stems out, aligned with the input and never ahead of it.

    Made by :meth:`stemboard.node.SeparatorNode.open_stream`. ``channels`` of the input are 1 or
    the model's (mono is separated as its stereo copy and each stem given back as the mean of
    its channels); every block of a stream has the same count, fixed by ``channels`` or by the
    first block. With ``mix`` (a gain per source) the stems are summed as soon as they leave the
    model and the output is ``[1, channels, m]``. :meth:`finish` returns the rest; the stream
    is then over.

    ``offsets`` (from :func:`shift_offsets`, in samples at the model's rate) turns on test-time
    shifts: one pass of the model per offset, each over the track delayed by that many zeros,
    the output their mean (:class:`ShiftedPasses`); every pass uses the same normalisation,
    the track's or its first real segment's. Empty (the default): one pass, no delay.
    """

    def __init__(
        self,
        session: Session,
        sample_rate: float,
        *,
        overlap: float,
        batch_size: int,
        channels: int | None = None,
        mix: np.ndarray | None = None,
        normalisation: Normalisation | None = None,
        offsets: Sequence[int] = (),
    ):
        info = session.info
        self.session = session
        self.sample_rate = check_rate("sample_rate", sample_rate)
        self.sources = info.sources
        self.model_channels = info.audio_channels
        self.channels = self._check_channels(channels) if channels is not None else None
        self.mix = mix
        self.normalisation = normalisation
        self.offsets = _check_offsets(offsets)
        engine = partial(
            OverlapAdd,
            self._run,
            segment=info.segment_samples,
            sources=len(info.sources),
            channels=info.audio_channels,
            overlap=overlap,
            batch_size=batch_size,
        )
        self.engine: OverlapAdd | ShiftedPasses
        if self.offsets:
            self.engine = ShiftedPasses(
                [engine() for _ in self.offsets], self.offsets, self._first_segment
            )
        else:
            self.engine = engine(before_first_run=self._first_segment)
        self.resampled = self.sample_rate != info.sample_rate
        if self.resampled:
            width = 1 if mix is not None else len(info.sources)
            self.into_model = StreamingResampler(
                self.sample_rate, info.sample_rate, info.audio_channels
            )
            self.out_of_model = StreamingResampler(
                info.sample_rate, self.sample_rate, width * info.audio_channels
            )
        self.received = 0  # input samples, at the caller's rate
        self.emitted = 0
        self.pending: np.ndarray | None = None
        self.finished = False

    @property
    def width(self) -> int:
        """Signals per output: the sources, or 1 with ``mix``."""
        return 1 if self.mix is not None else len(self.sources)

    def _check_channels(self, channels: int) -> int:
        if channels not in (1, self.model_channels):
            raise InvalidValueError(
                f"audio has {channels} channels; the model takes mono or "
                f"{self.model_channels}-channel audio"
            )
        return channels

    def _first_segment(self, audio: np.ndarray) -> None:
        if self.normalisation is None:
            self.normalisation = Normalisation.of(audio)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        # In place, on the batch the overlap-add made for this run and on the session's fresh
        # output: a batch of stems is the largest array a stream makes.
        norm = self.normalisation
        batch -= norm.mean
        batch /= norm.std
        stems = self.session.run(batch)
        stems *= norm.std
        stems += norm.mean
        return stems

    def push(self, block: np.ndarray) -> np.ndarray:
        """``[channels, n]`` audio in; the stems that are ready, ``[sources, channels, m]``."""
        if self.finished:
            raise InvalidValueError("this stream is finished; open a new one")
        if not isinstance(block, np.ndarray) or block.dtype.kind != "f" or block.ndim != 2:
            shape = getattr(block, "shape", type(block).__name__)
            raise AudioTypeError(f"expected float audio [channels, samples], got {shape}")
        if self.channels is None:
            self.channels = self._check_channels(len(block))
        elif len(block) != self.channels:
            raise InvalidValueError(
                f"a block of {len(block)} channels in a stream of {self.channels}-channel audio"
            )
        block = np.ascontiguousarray(block, dtype=np.float32)
        problem = first_non_finite(block)
        if problem is not None:
            count, channel, sample = problem
            raise InvalidValueError(
                f"input contains {count} NaN or infinite values (the first at channel "
                f"{channel}, sample {self.received + sample})"
            )
        self.received += block.shape[-1]
        audio = match_channels(block, self.model_channels)
        if self.resampled:
            audio = self.into_model.process(audio)
        return self._leave(self.engine.push(audio), final=False)

    def finish(self) -> np.ndarray:
        """Everything still inside the stream, ``[sources, channels, m]``; the track is over."""
        if self.finished:
            raise InvalidValueError("this stream is finished; open a new one")
        self.finished = True
        if self.resampled:
            head = self.engine.push(self.into_model.flush())
            stems = np.concatenate([head, self.engine.finish()], axis=-1)
        else:
            stems = self.engine.finish()
        return self._leave(stems, final=True)

    def _leave(self, stems: np.ndarray, final: bool) -> np.ndarray:
        """Mix, resample back, keep the output no longer than the input so far, fit channels."""
        if self.mix is not None:
            stems = np.tensordot(self.mix, stems, axes=(0, 0))[None].astype(np.float32)
        if self.resampled:
            width, channels = stems.shape[0], stems.shape[1]
            flat = self.out_of_model.process(stems.reshape(width * channels, -1))
            if final:
                flat = np.concatenate([flat, self.out_of_model.flush()], axis=-1)
            stems = flat.reshape(width, channels, -1)
        if self.pending is not None and self.pending.shape[-1]:
            stems = np.concatenate([self.pending, stems], axis=-1)
        allowed = self.received - self.emitted
        if final and stems.shape[-1] < allowed:  # resampling may come out a sample short
            stems = np.pad(stems, ((0, 0), (0, 0), (0, allowed - stems.shape[-1])))
        # a copy: a view of the rest would keep this whole output alive until the next call
        out, self.pending = stems[..., :allowed], stems[..., allowed:].copy()
        self.emitted += out.shape[-1]
        channels = self.channels if self.channels is not None else self.model_channels
        if channels == self.model_channels:
            return np.ascontiguousarray(out)
        return np.stack([fit_channels(signal, channels) for signal in out])
