"""Pedalboard's array layouts and planar audio: the one place a caller's layout is guessed.

The node and the graph take audio the way pedalboard's ``Plugin.process`` does (1-D mono,
``[channels, samples]`` or ``[samples, channels]``) and give it back the same way; everything
behind their public faces is planar float32 ``[channels, samples]``. This module converts at
that edge, in both directions, and holds the channel-count rule shared by node and graph.

Example::

    planar, layout = to_planar(audio)               # float32 [channels, samples], a copy
    stereo = match_channels(planar, 2)              # mono duplicated, stereo as is
    ...
    out = from_planar(processed, layout)            # the caller's shape again
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stemboard.errors import AudioTypeError, InvalidValueError


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

    @classmethod
    def planar(cls, channels: int) -> Layout:
        """The layout of a channels-first ``[channels, samples]`` array (a file's blocks)."""
        return cls(one_dimensional=False, channels_last=False, channels=channels)


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
    raise InvalidValueError(
        f"cannot tell channels from samples in an array of shape {shape}: give a non-square "
        "array ([channels, samples] or [samples, channels]) or the previous block's layout"
    )


def to_planar(input_array: np.ndarray, previous: Layout | None = None) -> tuple[np.ndarray, Layout]:
    """Copy caller audio into float32 ``[channels, samples]``, with its layout.

    Example::

        x, layout = to_planar(np.zeros((44100, 2)))    # channels-last in
        x.shape                                        # (2, 44100)

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
    as infinite). Zero samples is allowed and gives ``[channels, 0]``.

    Returns a new C-contiguous float32 array that shares no memory with ``input_array``.
    """
    if not isinstance(input_array, np.ndarray):
        raise AudioTypeError(f"expected a numpy array of audio, got {type(input_array).__name__}")
    if input_array.dtype not in (np.float32, np.float64):
        raise AudioTypeError(
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
        raise InvalidValueError(
            f"audio must be a 1-D or 2-D array, got {input_array.ndim} dimensions "
            f"(shape {input_array.shape})"
        )
    with np.errstate(over="ignore"):
        planar = np.ascontiguousarray(planar, dtype=np.float32)
    if np.may_share_memory(planar, input_array):
        planar = planar.copy()
    problem = first_non_finite(planar)
    if problem is not None:
        count, channel, sample = problem
        where = (
            f"sample {sample}" if layout.one_dimensional else f"channel {channel}, sample {sample}"
        )
        raise InvalidValueError(
            f"input contains {count} NaN or infinite values (the first at {where})"
        )
    return planar, layout


def first_non_finite(planar: np.ndarray) -> tuple[int, int, int] | None:
    """``(count, channel, sample)`` of the NaN/infinite values in ``[channels, samples]`` (the
    earliest in time), or None when every sample is finite."""
    # A float64 sum of float32 samples cannot overflow, so it is finite exactly when all are.
    if np.isfinite(planar.sum(dtype=np.float64)):
        return None
    bad = ~np.isfinite(planar)
    sample, channel = (int(i[0]) for i in np.nonzero(bad.T))
    return int(bad.sum()), channel, sample


def from_planar(output: np.ndarray, layout: Layout) -> np.ndarray:
    """Give float32 ``[channels, samples]`` back in the caller's layout.

    Example::

        x, layout = to_planar(mono)                   # [samples] in
        from_planar(match_channels(x, 2), layout)     # (samples,) again

    Mono callers get the mean of the channels (1-D if their input was 1-D); others get the
    channels as they are, ``[samples, channels]`` if their input was channels-last. Returns
    float32, C-contiguous; it may share memory with ``output``.
    """
    planar = fit_channels(np.asarray(output, dtype=np.float32), layout.channels)
    if layout.one_dimensional:
        return np.ascontiguousarray(planar[0])
    return np.ascontiguousarray(planar.T if layout.channels_last else planar)


def match_channels(planar: np.ndarray, channels: int) -> np.ndarray:
    """``[c, n]`` audio as ``[channels, n]`` on the way into a model or graph.

    Mono is duplicated; ``c == channels`` passes unchanged; anything else is a ``ValueError``
    (a model takes mono or its own channel count, never a down-mix it was not trained on).
    """
    if planar.ndim != 2:
        raise InvalidValueError(f"expected planar audio [channels, samples], got {planar.shape}")
    if len(planar) == channels:
        return planar
    if len(planar) == 1:
        return np.repeat(planar, channels, axis=0)
    raise InvalidValueError(
        f"audio has {len(planar)} channels; this takes mono or {channels} channels"
    )


def fit_channels(planar: np.ndarray, channels: int) -> np.ndarray:
    """``[c, n]`` audio as ``[channels, n]`` on the way out: to mono by the mean, else as is."""
    if planar.ndim != 2:
        raise InvalidValueError(f"expected planar audio [channels, samples], got {planar.shape}")
    if len(planar) == channels:
        return planar
    if channels == 1:
        return planar.mean(axis=0, keepdims=True, dtype=np.float32)
    raise InvalidValueError(f"cannot give {len(planar)} channels back as {channels} channels")


def as_planar_float32(block: np.ndarray, channels: int) -> np.ndarray:
    """Check ``block`` is ``[channels, n]`` floating-point audio; C-contiguous float32 of it."""
    if not isinstance(block, np.ndarray) or block.dtype.kind != "f":
        kind = block.dtype if isinstance(block, np.ndarray) else type(block).__name__
        raise AudioTypeError(f"expected a float32 numpy array [channels, samples], got {kind}")
    if block.ndim != 2 or len(block) != channels:
        raise InvalidValueError(
            f"expected a block of shape [{channels}, samples], got {block.shape}"
        )
    return np.ascontiguousarray(block, dtype=np.float32)
