"""Stereo buffers that notes are mixed into, panning, and running pedalboard effects on them."""

from __future__ import annotations

import numpy as np
from pedalboard import Pedalboard, Plugin


def pan_gains(pan: float) -> tuple[float, float]:
    """Constant-power left and right gains for ``pan`` in ``[-1 (left), 1 (right)]``."""
    angle = (np.clip(pan, -1.0, 1.0) + 1.0) * np.pi / 4.0
    return float(np.cos(angle)), float(np.sin(angle))


class Track:
    """A float64 ``[2, samples]`` buffer; sounds are added at a sample offset with a pan."""

    def __init__(self, length: int) -> None:
        self.audio = np.zeros((2, length))

    @property
    def length(self) -> int:
        return self.audio.shape[1]

    def add(self, sound: np.ndarray, start: int, pan: float = 0.0, gain: float = 1.0) -> None:
        """Mix a mono ``[samples]`` or stereo ``[2, samples]`` sound in from sample ``start``."""
        sound = np.atleast_2d(sound)
        if start < 0:
            sound, start = sound[:, -start:], 0
        piece = sound[:, : max(0, self.length - start)]
        if piece.shape[1] == 0:
            return
        left, right = pan_gains(pan)
        end = start + piece.shape[1]
        self.audio[0, start:end] += gain * left * piece[0]
        self.audio[1, start:end] += gain * right * piece[-1]


def below_nyquist(hz: float, sample_rate: int) -> float:
    """A filter frequency kept safely below Nyquist (pedalboard's filters fail above it)."""
    return float(min(hz, 0.45 * sample_rate))


def apply_effects(audio: np.ndarray, sample_rate: int, plugins: list[Plugin]) -> np.ndarray:
    """``audio`` ``[channels, samples]`` through a fresh pedalboard chain, as float64."""
    if not plugins:
        return audio
    board = Pedalboard(plugins)
    return board(audio.astype(np.float32), sample_rate).astype(np.float64)


def effect_description(plugins: list[Plugin]) -> list[str]:
    """Short readable names of a chain, e.g. ``["Compressor", "Reverb"]``."""
    return [type(p).__name__ for p in plugins]
