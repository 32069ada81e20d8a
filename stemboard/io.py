"""Audio arrays and files for the runtime: pedalboard's layout rules, exact resampling, file I/O.

The node and the graph take audio the way pedalboard's ``Plugin.process`` does and give it back
the same way; the model wants float32 ``[channels, samples]`` at its own sample rate. This module
converts between the two, resamples with exact lengths, reads files in blocks and writes them
atomically. It uses numpy and pedalboard only (never torch).

Example::

    model_input, layout = to_model_channels(audio)        # float32 [2, samples]
    model_input = resample(model_input, sample_rate, 44100)
    ...
    out = from_model_channels(model_output, layout)       # the caller's shape again
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from types import TracebackType

import numpy as np
from pedalboard import Resample
from pedalboard.io import (
    AudioFile,
    StreamResampler,
    get_supported_read_formats,
    get_supported_write_formats,
)

from stemboard.errors import StemboardError

# ---------------------------------------------------------------------------------------------
# Layout: pedalboard's rules for 1-D and 2-D arrays
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """How a caller laid out its audio, so the output can be given back the same way.

    ``one_dimensional``: the input was mono ``[samples]``.
    ``channels_last``: the input was ``[samples, channels]``; otherwise ``[channels, samples]``
    (a 1-D input counts as channels-first, as in pedalboard).
    ``channels``: the input's channel count.
    """

    one_dimensional: bool
    channels_last: bool
    channels: int


def _is_channels_last(shape: tuple[int, int], previous: Layout | None) -> bool:
    """Pedalboard's channel-layout detection for a 2-D array (``detectChannelLayout``).

    With a previous layout (a plugin's memory of the last array it saw), an array with that many
    rows is channels-first, with that many columns channels-last, and a square one keeps the
    previous orientation. Otherwise an empty dimension is the samples, the smaller dimension is
    the channels, and a 1x1 array is channels-first.
    """
    rows, cols = shape
    if previous is not None:
        if rows == cols and rows != 1:
            return previous.channels_last
        if rows == previous.channels:
            return False
        if cols == previous.channels:
            return True
    if rows == 0 and cols > 0:
        return True
    if cols == 0 and rows > 0:
        return False
    if rows != cols:
        return cols < rows
    if rows == 1:
        return False
    raise ValueError(
        f"cannot tell channels from samples in an array of shape {shape}: give a non-square "
        "array ([channels, samples] or [samples, channels]) or the previous block's layout"
    )


def to_model_channels(
    input_array: np.ndarray, channels: int = 2, previous: Layout | None = None
) -> tuple[np.ndarray, Layout]:
    """Copy caller audio into float32 ``[channels, samples]`` for the model, with its layout.

    Example::

        x, layout = to_model_channels(np.zeros((44100, 2)))   # channels-last in
        x.shape                                                # (2, 44100)

    ``input_array`` is ``[samples]`` (mono), ``[channels, samples]`` or ``[samples, channels]``,
    told apart exactly as pedalboard 0.9's ``Plugin.process`` does: an empty dimension is the
    samples, otherwise the smaller dimension is the channels; a 1x1 array is channels-first; a
    larger square array is ambiguous (pedalboard raises ``RuntimeError`` on a plugin's first
    call; this raises ``ValueError``). A pedalboard plugin remembers the last layout it saw, even
    with ``reset=True``, and uses it as a hint; pass that layout as ``previous`` to do the same:
    then an array with ``previous.channels`` rows is channels-first, with that many columns
    channels-last, and a square array keeps the previous orientation.

    Dtypes: float32 and float64 are accepted, as in pedalboard, which raises ``TypeError`` for
    every other dtype (int16, int32, uint8, bool, float16, complex) and for non-arrays; so does
    this. Pedalboard passes NaN and infinity through silently; this raises ``ValueError`` naming
    how many there are and where the first one is (float64 values beyond float32's range count
    as infinite). Mono is duplicated to ``channels``; more input channels than ``channels`` is a
    ``ValueError``. Zero samples is allowed and gives ``[channels, 0]``.

    Returns a new C-contiguous float32 ``[channels, samples]`` array and the input's
    :class:`Layout`, for :func:`from_model_channels`.
    """
    if not isinstance(input_array, np.ndarray):
        raise TypeError(f"expected a numpy array of audio, got {type(input_array).__name__}")
    if input_array.dtype not in (np.float32, np.float64):
        raise TypeError(
            f"audio of dtype {input_array.dtype} is not supported: expected float32 or float64 "
            "samples in [-1, 1] (convert integer PCM first, e.g. x / 32768 for int16)"
        )
    if input_array.ndim == 1:
        layout = Layout(one_dimensional=True, channels_last=False, channels=1)
        planar = input_array[np.newaxis, :]
    elif input_array.ndim == 2:
        channels_last = _is_channels_last(input_array.shape, previous)
        planar = input_array.T if channels_last else input_array
        layout = Layout(one_dimensional=False, channels_last=channels_last, channels=len(planar))
    else:
        raise ValueError(
            f"audio must be a 1-D or 2-D array, got {input_array.ndim} dimensions "
            f"(shape {input_array.shape})"
        )
    if layout.channels > channels:
        raise ValueError(
            f"audio has {layout.channels} channels; the model takes at most {channels} "
            f"(shape {input_array.shape})"
        )
    with np.errstate(over="ignore"):
        planar = np.ascontiguousarray(planar, dtype=np.float32)
    _check_finite(planar, layout)
    if layout.channels < channels:
        planar = np.repeat(planar, channels, axis=0)
    elif np.may_share_memory(planar, input_array):
        planar = planar.copy()
    return planar, layout


def _check_finite(planar: np.ndarray, layout: Layout) -> None:
    """Raise ``ValueError`` if float32 ``[channels, samples]`` holds NaN or infinity."""
    # A float64 sum of float32 samples cannot overflow, so it is finite exactly when all are.
    if np.isfinite(planar.sum(dtype=np.float64)):
        return
    bad = ~np.isfinite(planar)
    sample, channel = (int(i[0]) for i in np.nonzero(bad.T))  # the earliest in time
    where = f"sample {sample}" if layout.one_dimensional else f"channel {channel}, sample {sample}"
    raise ValueError(
        f"input contains {int(bad.sum())} NaN or infinite values (the first at {where})"
    )


def from_model_channels(output: np.ndarray, layout: Layout) -> np.ndarray:
    """Give float32 ``[channels, samples]`` model output back in the caller's layout.

    Example::

        x, layout = to_model_channels(mono)                  # [samples] in
        from_model_channels(x, layout).shape                 # (samples,)

    Mono callers get the mean of the model's channels (1-D if their input was 1-D); stereo
    callers get the channels as they are, ``[samples, channels]`` if their input was
    channels-last. Returns float32, C-contiguous; it may share memory with ``output``.
    """
    output = np.asarray(output, dtype=np.float32)
    if output.ndim != 2:
        raise ValueError(f"model output must be [channels, samples], got shape {output.shape}")
    if len(output) == layout.channels:
        planar = output
    elif layout.channels == 1:
        planar = output.mean(axis=0, keepdims=True, dtype=np.float32)
    else:
        raise ValueError(
            f"cannot give {len(output)} model channels back as {layout.channels} channels"
        )
    if layout.one_dimensional:
        return np.ascontiguousarray(planar[0])
    return np.ascontiguousarray(planar.T if layout.channels_last else planar)


def _as_planar_float32(block: np.ndarray, channels: int) -> np.ndarray:
    """Check ``block`` is ``[channels, n]`` floating-point audio; C-contiguous float32 of it."""
    if not isinstance(block, np.ndarray) or block.dtype.kind != "f":
        kind = block.dtype if isinstance(block, np.ndarray) else type(block).__name__
        raise TypeError(f"expected a float32 numpy array [channels, samples], got {kind}")
    if block.ndim != 2 or len(block) != channels:
        raise ValueError(f"expected a block of shape [{channels}, samples], got {block.shape}")
    return np.ascontiguousarray(block, dtype=np.float32)


# ---------------------------------------------------------------------------------------------
# Resampling: exact lengths, time-aligned, block-size independent
# ---------------------------------------------------------------------------------------------

RESAMPLER_QUALITY = Resample.Quality.WindowedSinc32
"""Pedalboard's default resampler: a 32-tap windowed sinc, 64 input samples of latency."""

_ALIGNMENT_DENOMINATOR = 2**16


def _check_rate(name: str, rate: float) -> float:
    rate = float(rate)
    if not (math.isfinite(rate) and rate > 0):
        raise ValueError(f"{name} must be a positive number of Hz, got {rate}")
    return rate


def _fit_length(audio: np.ndarray, length: int) -> np.ndarray:
    """``[channels, samples]`` cut or zero-padded at the end to ``length`` samples."""
    if length < 0:
        raise ValueError(f"length must be at least 0, got {length}")
    if audio.shape[1] >= length:
        return np.ascontiguousarray(audio[:, :length])
    padding = np.zeros((len(audio), length - audio.shape[1]), dtype=np.float32)
    return np.concatenate([audio, padding], axis=1)


def _alignment(source_rate: float, target_rate: float, latency: float) -> tuple[int, int]:
    """Silent samples to feed a fresh pedalboard resampler first, and output samples to drop.

    Pedalboard converts at float32 rates; its raw output sample ``m`` is input time
    ``m / r - L`` (``r = target / source``, ``L`` its input latency) and it drops
    ``round(L * r)`` of them, which leaves the output ``round(L r) - L r`` samples early (late
    if negative; 0.34 samples at 44.1 -> 48 kHz: -17 dB of error on a 3 kHz sine). Feeding
    ``k`` zeros first, with ``(L + k) r`` a whole number, and dropping ``(L + k) r - round(L r)``
    more samples puts output sample ``j`` exactly at input time ``j / r``. Rates whose ratio
    needs a denominator above 2**16 use the nearest such ratio (an offset under 1e-4 samples).
    """
    source, target = float(np.float32(source_rate)), float(np.float32(target_rate))
    ratio = (Fraction(target) / Fraction(source)).limit_denominator(_ALIGNMENT_DENOMINATOR)
    whole_latency = int(latency)
    lead_in = -whole_latency % ratio.denominator
    pedalboard_skip = math.floor(latency / (source / target) + 0.5)  # C++ std::round
    aligned_skip = (whole_latency + lead_in) * ratio.numerator // ratio.denominator
    return lead_in, aligned_skip - pedalboard_skip


class StreamingResampler:
    """Change the sample rate of a stream of ``[channels, n]`` blocks, exactly.

    Example::

        r = StreamingResampler(48000, 44100, channels=2)
        out = [r.process(block) for block in blocks] + [r.flush()]

    Whatever the block sizes, the concatenated outputs are the same samples (pedalboard's
    resampler is block-size independent) and number ``round(total * target / source)``, where
    ``total`` is the input length; output sample ``j`` is the input at time
    ``j * source / target`` (an impulse at input sample ``i`` peaks at ``i * target / source``).

    Built on pedalboard's ``StreamResampler`` (windowed sinc, 64 input samples of latency),
    which removes its latency only to the nearest output sample, ends up to one sample short of
    or beyond the rounded length, and misreads tiny multichannel blocks such as ``[2, 1]`` as
    channels-last. So each channel runs through its own mono resampler, the stream starts with
    a few silent samples that make the latency a whole number of output samples (see
    ``_alignment``), ``flush`` feeds a little silence before flushing and cuts to the exact
    length, and ``process`` holds back anything produced ahead of the rounded length so far.
    Equal rates pass samples through unchanged. Pedalboard takes rates as float32: integer
    rates up to 16.7 MHz are exact.
    """

    def __init__(self, source_rate: float, target_rate: float, channels: int) -> None:
        self.source_rate = _check_rate("source_rate", source_rate)
        self.target_rate = _check_rate("target_rate", target_rate)
        if channels < 1:
            raise ValueError(f"channels must be at least 1, got {channels}")
        self.channels = channels
        self._resamplers = [
            StreamResampler(self.source_rate, self.target_rate, 1, RESAMPLER_QUALITY)
            for _ in range(channels if self.source_rate != self.target_rate else 0)
        ]
        self._lead_in, self._lead_in_skip = (
            _alignment(self.source_rate, self.target_rate, self._resamplers[0].input_latency)
            if self._resamplers
            else (0, 0)
        )
        self.reset()

    def reset(self) -> None:
        """Forget the stream so far; the next block starts a new one."""
        for resampler in self._resamplers:
            resampler.reset()
        self._frames_in = 0
        self._frames_out = 0
        self._held = np.zeros((self.channels, 0), dtype=np.float32)
        self._to_skip = self._lead_in_skip
        # The lead-in's own output falls within the samples to skip, so nothing comes back.
        self._run(np.zeros((self.channels, self._lead_in), dtype=np.float32))

    def output_length(self, input_frames: int) -> int:
        """How many samples ``input_frames`` input samples become: the rounded exact ratio."""
        return round(input_frames * self.target_rate / self.source_rate)

    def process(self, block: np.ndarray) -> np.ndarray:
        """Resample the next ``[channels, n]`` block; returns float32 ``[channels, m]``.

        ``m`` may be smaller than the ratio implies while the resampler fills up; the rest comes
        later or from :meth:`flush`.
        """
        block = _as_planar_float32(block, self.channels)
        self._frames_in += block.shape[1]
        produced = np.concatenate([self._held, self._run(block)], axis=1)
        due = self.output_length(self._frames_in) - self._frames_out
        ready, self._held = produced[:, :due], produced[:, due:]
        self._frames_out += ready.shape[1]
        return np.ascontiguousarray(ready)

    def flush(self) -> np.ndarray:
        """End the stream: the remaining float32 ``[channels, m]`` samples, then :meth:`reset`."""
        # Enough silence for a few more output samples than the resampler would give.
        silence = np.zeros(
            (self.channels, math.ceil(4 * self.source_rate / self.target_rate) + 1),
            dtype=np.float32,
        )
        tail = np.concatenate([self._held, self._run(silence), self._drain()], axis=1)
        rest = _fit_length(tail, self.output_length(self._frames_in) - self._frames_out)
        self.reset()
        return rest

    def _run(self, block: np.ndarray) -> np.ndarray:
        """Float32 ``[channels, n]`` through the resamplers, less any output still to skip."""
        if not self._resamplers or block.shape[1] == 0:
            return block
        return self._skip([r.process(block[c : c + 1]) for c, r in enumerate(self._resamplers)])

    def _drain(self) -> np.ndarray:
        """What the resamplers still hold, ending their stream."""
        if not self._resamplers:
            return np.zeros((self.channels, 0), dtype=np.float32)
        return self._skip([r.process() for r in self._resamplers])

    def _skip(self, outputs: list[np.ndarray]) -> np.ndarray:
        raw = np.concatenate(outputs, axis=0)
        skipped = min(self._to_skip, raw.shape[1])
        self._to_skip -= skipped
        return raw[:, skipped:]


def resample(
    audio: np.ndarray, source_rate: float, target_rate: float, length: int | None = None
) -> np.ndarray:
    """Resample float32 ``[channels, samples]`` audio; returns float32 ``[channels, length]``.

    Example::

        y = resample(x, 48000, 44100)      # y.shape[1] == round(x.shape[1] * 44100 / 48000)

    Without ``length`` the output has ``round(samples * target_rate / source_rate)`` samples;
    with it, that output is cut or zero-padded at the end to ``length``. Time-aligned with the
    input and identical to running the audio through :class:`StreamingResampler` in any
    blocks; equal rates give an unchanged copy.
    """
    if not isinstance(audio, np.ndarray) or audio.ndim != 2:
        shape = getattr(audio, "shape", type(audio).__name__)
        raise ValueError(f"resample takes [channels, samples] audio, got {shape}")
    resampler = StreamingResampler(source_rate, target_rate, channels=len(audio))
    out = np.concatenate([resampler.process(audio), resampler.flush()], axis=1)
    return out if length is None else _fit_length(out, length)


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------

# What pedalboard raises for files it cannot open, decode or write.
_PEDALBOARD_ERRORS = (RuntimeError, ValueError, OSError)


def _one_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


@dataclass(frozen=True)
class AudioInfo:
    """What an audio file holds: sample rate (Hz), channels, frames and duration (seconds).

    For MP3 files the frame count is pedalboard's estimate until the file is read through.
    """

    sample_rate: float
    channels: int
    frames: int
    duration: float


def _open_for_reading(path: str) -> AudioFile:
    if os.path.isdir(path):
        raise StemboardError(f"{path}: is a directory, not an audio file")
    if not os.path.exists(path):
        raise StemboardError(f"{path}: no such file")
    try:
        return AudioFile(path)
    except _PEDALBOARD_ERRORS as error:
        formats = ", ".join(get_supported_read_formats())
        raise StemboardError(
            f"{path}: cannot decode it as audio (pedalboard reads {formats}): {_one_line(error)}"
        ) from None


def audio_info(path: str | os.PathLike[str]) -> AudioInfo:
    """Sample rate, channels, frames and duration of an audio file, without decoding it all.

    Example::

        audio_info("song.flac").sample_rate      # 44100.0

    Raises :class:`StemboardError` for a missing file, a directory or an undecodable file.
    """
    path = os.fspath(path)
    with _open_for_reading(path) as f:
        return AudioInfo(
            sample_rate=float(f.samplerate),
            channels=f.num_channels,
            frames=f.frames,
            duration=f.duration,
        )


def read_blocks(
    path: str | os.PathLike[str], block_frames: int, sample_rate: float | None = None
) -> Iterator[np.ndarray]:
    """Read an audio file as float32 ``[channels, block_frames]`` blocks (the last may be shorter).

    Example::

        for block in read_blocks("song.mp3", 44100, sample_rate=44100):
            ...                                    # one second at a time, at 44.1 kHz

    With ``sample_rate`` the audio is resampled on the way (by :class:`StreamingResampler`, so
    the total is exactly ``round(frames * sample_rate / file_rate)`` and matches
    :func:`resample` of the whole file; pedalboard's ``resampled_to`` can come up one short).
    Only a block or two is in memory at a time. The file is checked before this returns
    (:class:`StemboardError` if missing or undecodable); a decoding error while reading is a
    :class:`StemboardError` naming the file. An empty file yields no blocks.
    """
    if block_frames < 1:
        raise ValueError(f"block_frames must be at least 1, got {block_frames}")
    if sample_rate is not None:
        sample_rate = _check_rate("sample_rate", sample_rate)
    path = os.fspath(path)
    audio_info(path)
    return _read_blocks(path, block_frames, sample_rate)


def _read_blocks(path: str, block_frames: int, sample_rate: float | None) -> Iterator[np.ndarray]:
    with _open_for_reading(path) as f:
        chunks = _decoded_chunks(f, path, block_frames)
        if sample_rate is not None and sample_rate != f.samplerate:
            resampler = StreamingResampler(f.samplerate, sample_rate, f.num_channels)
            chunks = _resampled(chunks, resampler)
        yield from _reblocked(chunks, block_frames)


def _decoded_chunks(f: AudioFile, path: str, frames: int) -> Iterator[np.ndarray]:
    while True:
        position = f.tell()
        try:
            chunk = f.read(frames)
        except _PEDALBOARD_ERRORS as error:
            raise StemboardError(
                f"{path}: decoding failed at frame {position}: {_one_line(error)}"
            ) from None
        if chunk.shape[1] == 0:
            return
        yield chunk


def _resampled(chunks: Iterable[np.ndarray], resampler: StreamingResampler) -> Iterator[np.ndarray]:
    for chunk in chunks:
        yield resampler.process(chunk)
    yield resampler.flush()


def _reblocked(chunks: Iterable[np.ndarray], block_frames: int) -> Iterator[np.ndarray]:
    """``[channels, n]`` chunks of any sizes regrouped into ``block_frames``-long blocks."""
    pending: list[np.ndarray] = []
    pending_frames = 0
    for chunk in chunks:
        pending.append(chunk)
        pending_frames += chunk.shape[1]
        if pending_frames < block_frames:
            continue
        joined = pending[0] if len(pending) == 1 else np.concatenate(pending, axis=1)
        whole = pending_frames - pending_frames % block_frames
        for start in range(0, whole, block_frames):
            yield np.ascontiguousarray(joined[:, start : start + block_frames])
        pending = [joined[:, whole:]]
        pending_frames -= whole
    if pending_frames:
        yield np.ascontiguousarray(np.concatenate(pending, axis=1))


@dataclass(frozen=True)
class _Codec:
    """How stemboard writes one output format: its largest bit depth and default quality.

    ``max_bit_depth`` is None where bit depth does not apply (lossy codecs take a quality).
    """

    max_bit_depth: int | None
    default_quality: str | None


_CODECS = {
    # 16/24-bit integer or 32-bit float PCM.
    "wav": _Codec(max_bit_depth=32, default_quality=None),
    # pedalboard's FLAC encoder writes 16 or 24 bits; 32 is written as 24.
    "flac": _Codec(max_bit_depth=24, default_quality=None),
    # The highest bitrate both lossy encoders accept.
    "ogg": _Codec(max_bit_depth=None, default_quality="320 kbps"),
    "mp3": _Codec(max_bit_depth=None, default_quality="320 kbps"),
}

SUPPORTED_FORMATS: tuple[str, ...] = tuple(
    name for name in _CODECS if f".{name}" in get_supported_write_formats()
)
"""Output formats stemboard writes: those of wav, flac, ogg, mp3 that pedalboard writes here."""

SUPPORTED_BIT_DEPTHS: tuple[int, ...] = (16, 24, 32)
"""16/24-bit integer; 32 is float for WAV, 24-bit for FLAC; ignored by OGG and MP3."""


def _format_name(format: str) -> str:
    return format.lower().removeprefix(".")


def check_output_format(format: str, bit_depth: int) -> None:
    """Raise :class:`StemboardError` unless stemboard can write ``format`` at ``bit_depth``.

    ``format`` is a name or suffix, any case (``"wav"``, ``".FLAC"``). Bit depths are 16, 24
    and 32: WAV writes 32 as float, FLAC as 24-bit (the most pedalboard's FLAC encoder takes);
    OGG and MP3 accept any of them and ignore it (they take a quality instead).
    """
    if _format_name(format) not in SUPPORTED_FORMATS:
        raise StemboardError(
            f"unknown output format {format!r}; supported formats: {', '.join(SUPPORTED_FORMATS)}"
        )
    if bit_depth not in SUPPORTED_BIT_DEPTHS:
        depths = ", ".join(str(d) for d in SUPPORTED_BIT_DEPTHS)
        raise StemboardError(
            f"unsupported bit depth {bit_depth!r}; supported bit depths: {depths} "
            "(32 is float for wav, 24-bit for flac; ogg and mp3 ignore it)"
        )


class AtomicAudioWriter:
    """Write an audio file in blocks, so that it appears whole or not at all.

    Example::

        with AtomicAudioWriter("out/vocals.flac", 44100, channels=2, bit_depth=24) as out:
            for block in blocks:
                out.write(block)                     # float32 [2, n]

    The audio goes to a hidden temporary file next to ``path`` (same extension, so pedalboard
    picks the codec) which replaces ``path`` with ``os.replace`` only when the ``with`` block
    ends without an exception. On an exception, or after :meth:`abort`, the temporary file is
    removed and ``path`` is untouched (an older file there keeps its content).

    ``format`` defaults to the suffix of ``path``; ``bit_depth`` applies to WAV (16, 24, or 32
    for float) and FLAC (16 or 24; 32 writes 24). OGG and MP3 ignore it and take ``quality``
    (a pedalboard quality string such as ``"192 kbps"`` or, for MP3, ``"V0"``; default
    ``"320 kbps"``). An unknown format or bit depth is a :class:`StemboardError` raised here,
    before anything is written.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        sample_rate: float,
        channels: int,
        format: str | None = None,
        bit_depth: int = 16,
        quality: str | None = None,
    ) -> None:
        self.path = os.fspath(path)
        if format is None:
            format = os.path.splitext(self.path)[1]
            if not format:
                raise StemboardError(
                    f"{self.path}: cannot tell the output format without a suffix; use one of "
                    f"{', '.join(SUPPORTED_FORMATS)} or pass format="
                )
        check_output_format(format, bit_depth)
        self.format = _format_name(format)
        self.sample_rate = _check_rate("sample_rate", sample_rate)
        if channels < 1:
            raise ValueError(f"channels must be at least 1, got {channels}")
        self.channels = channels
        codec = _CODECS[self.format]
        self._bit_depth = min(bit_depth, codec.max_bit_depth or bit_depth)
        self._quality = quality if quality is not None else codec.default_quality
        directory, name = os.path.split(os.path.abspath(self.path))
        self._temporary_path = os.path.join(
            directory, f".{name}.{secrets.token_hex(4)}.partial.{self.format}"
        )
        self._file: AudioFile | None = None

    def __enter__(self) -> AtomicAudioWriter:
        try:
            self._file = AudioFile(
                self._temporary_path,
                "w",
                self.sample_rate,
                self.channels,
                bit_depth=self._bit_depth,
                quality=self._quality,
            )
        except _PEDALBOARD_ERRORS as error:
            self._remove_temporary()
            raise StemboardError(f"{self.path}: cannot write: {_one_line(error)}") from None
        return self

    def write(self, block: np.ndarray) -> None:
        """Append float32 ``[channels, n]`` audio (float64 is converted)."""
        if self._file is None:
            raise RuntimeError(
                "AtomicAudioWriter.write() called outside its with block or after abort()"
            )
        block = _as_planar_float32(block, self.channels)
        # pedalboard cannot tell channels from samples in a first square block; split it.
        square = block.shape[1] == self.channels > 1
        pieces = [block[:, :1], block[:, 1:]] if square else [block]
        try:
            for piece in pieces:
                self._file.write(np.ascontiguousarray(piece))
        except _PEDALBOARD_ERRORS as error:
            raise StemboardError(f"{self.path}: writing failed: {_one_line(error)}") from None

    def abort(self) -> None:
        """Stop writing and remove the temporary file; ``path`` is left as it was."""
        if self._file is not None:
            file, self._file = self._file, None
            with contextlib.suppress(*_PEDALBOARD_ERRORS):  # the file is discarded anyway
                file.close()
            self._remove_temporary()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._file is None:
            return
        if exc_type is not None:
            self.abort()
            return
        file, self._file = self._file, None
        try:
            file.close()
            os.replace(self._temporary_path, self.path)
        except _PEDALBOARD_ERRORS as error:
            self._remove_temporary()
            raise StemboardError(
                f"{self.path}: cannot finish writing: {_one_line(error)}"
            ) from None

    def _remove_temporary(self) -> None:
        if os.path.exists(self._temporary_path):
            os.remove(self._temporary_path)
