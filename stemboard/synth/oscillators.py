"""Raw tones every part is built from: band-limited oscillators, envelopes and plucked strings."""

from __future__ import annotations

import numpy as np


def _poly_blep(t: np.ndarray, dt: np.ndarray) -> np.ndarray:
    """The PolyBLEP correction that removes most aliasing from a naive saw's jump."""
    out = np.zeros_like(t)
    low = t < dt
    x = t[low] / dt[low]
    out[low] = x + x - x * x - 1.0
    high = t > 1.0 - dt
    x = (t[high] - 1.0) / dt[high]
    out[high] = x * x + x + x + 1.0
    return out


def cycles(freq: float | np.ndarray, length: int, sample_rate: int) -> np.ndarray:
    """Accumulated phase in cycles for a constant or per-sample frequency ``[samples]``."""
    if np.ndim(freq) == 0:
        return float(freq) * np.arange(length) / sample_rate
    return np.cumsum(freq[:length]) / sample_rate


def saw(phase: np.ndarray, freq: float | np.ndarray, sample_rate: int) -> np.ndarray:
    """A band-limited rising sawtooth in ``[-1, 1]`` for phase ``[samples]`` in cycles."""
    t = phase % 1.0
    dt = np.broadcast_to(np.asarray(freq, dtype=np.float64) / sample_rate, t.shape)
    return 2.0 * t - 1.0 - _poly_blep(t, dt)


def square(phase: np.ndarray, freq: float | np.ndarray, sample_rate: int) -> np.ndarray:
    """A band-limited square wave: the difference of two saws half a cycle apart."""
    return 0.5 * (saw(phase, freq, sample_rate) - saw(phase + 0.5, freq, sample_rate))


def envelope(
    length: int,
    sample_rate: int,
    attack: float,
    decay: float,
    sustain: float = 0.0,
    gate: float | None = None,
    release: float = 0.05,
) -> np.ndarray:
    """Linear attack, exponential decay towards ``sustain``, exponential release after ``gate`` s.

    Times in seconds; the last 2 ms always fade to zero so notes end without a click.
    """
    t = np.arange(length) / sample_rate
    env = sustain + (1.0 - sustain) * np.exp(-t / max(decay, 1e-4))
    if attack > 0:
        env *= np.minimum(1.0, t / attack)
    if gate is not None:
        after = t > gate
        env[after] *= np.exp(-(t[after] - gate) / max(release, 1e-4))
    fade = min(length, int(0.002 * sample_rate))
    if fade > 0:
        env[-fade:] *= np.linspace(1.0, 0.0, fade)
    return env


def karplus_strong(
    freq: float,
    length: int,
    sample_rate: int,
    rng: np.random.Generator,
    t60: float = 1.5,
    smoothing: int = 1,
) -> np.ndarray:
    """A plucked string ``[samples]``: a noise burst circulating in a damped delay line.

    ``smoothing`` (samples) low-passes the burst: larger is a darker, rounder pluck. Computed one
    period at a time (each block depends only on the one before), at an integer period and then
    resampled to the exact pitch.
    """
    period = sample_rate / freq
    delay = max(2, int(period))
    needed = int(np.ceil(length * delay / period)) + 2
    blocks = needed // delay + 2
    burst = rng.uniform(-1.0, 1.0, delay)
    if smoothing > 1:
        burst = np.convolve(np.tile(burst, 3), np.ones(smoothing) / smoothing, "same")[delay:-delay]
    burst -= burst.mean()
    gain = 10.0 ** (-3.0 * (delay / sample_rate) / t60)
    buf = np.zeros(blocks * delay + 1)
    buf[1 : delay + 1] = burst
    for b in range(1, blocks):
        s = 1 + b * delay
        buf[s : s + delay] = 0.5 * gain * (buf[s - delay : s] + buf[s - delay - 1 : s - 1])
    string = buf[1:]
    positions = np.arange(length) * (delay / period)
    return np.interp(positions, np.arange(len(string)), string)
