"""Seeded music-like test audio: drums, bass and chords in stereo, for checks and benchmarks.

Not white noise: a separator's arithmetic behaves differently on signals with transients, low
tones, harmonic spectra and silence between notes, so parity and speed are measured on this.
"""

from __future__ import annotations

import numpy as np


def _envelope(length: int, attack: int, decay: float, sample_rate: int) -> np.ndarray:
    t = np.arange(length) / sample_rate
    env = np.exp(-t / decay)
    if attack > 0:
        env[:attack] *= np.linspace(0.0, 1.0, attack, endpoint=False)
    return env


def music_like(seconds: float, sample_rate: int = 44100, seed: int = 0) -> np.ndarray:
    """A stereo clip with kick, snare, hats, a bass line and a chord pad.

    Example::

        audio = music_like(10.0)          # float32 [2, 441000]

    Returns float32 ``[2, samples]``, peak about 0.8, deterministic for a given seed.
    """
    rng = np.random.default_rng(seed)
    n = max(1, round(seconds * sample_rate))
    out = np.zeros((2, n))
    t = np.arange(n) / sample_rate
    bpm = rng.uniform(80, 150)
    beat = 60.0 / bpm
    root = 40 + int(rng.integers(0, 12))  # MIDI note of the bass root

    def place(sound: np.ndarray, start_s: float, pan: float) -> None:
        start = int(start_s * sample_rate)
        if start >= n:
            return
        piece = sound[: n - start]
        out[0, start : start + len(piece)] += piece * np.sqrt(1 - pan)
        out[1, start : start + len(piece)] += piece * np.sqrt(pan)

    def hz(note: float) -> float:
        return 440.0 * 2 ** ((note - 69) / 12)

    kick_len = int(0.35 * sample_rate)
    kt = np.arange(kick_len) / sample_rate
    kick = np.sin(2 * np.pi * np.cumsum(50 + 120 * np.exp(-kt / 0.03)) / sample_rate)
    kick *= _envelope(kick_len, 20, 0.12, sample_rate)
    snare_len = int(0.25 * sample_rate)
    snare = rng.standard_normal(snare_len) * _envelope(snare_len, 10, 0.06, sample_rate) * 0.5
    snare += np.sin(2 * np.pi * 190 * np.arange(snare_len) / sample_rate) * _envelope(
        snare_len, 10, 0.05, sample_rate
    )
    hat_len = int(0.05 * sample_rate)
    hat = np.diff(rng.standard_normal(hat_len + 1)) * _envelope(hat_len, 5, 0.01, sample_rate)

    beats = int(seconds / beat) + 1
    pattern = rng.integers(0, 2, size=8)
    for b in range(beats):
        start = b * beat
        if b % 2 == 0 or pattern[b % 8]:
            place(kick, start, 0.5)
        if b % 2 == 1:
            place(snare, start, 0.45)
        for eighth in range(2):
            place(hat * rng.uniform(0.2, 0.4), start + eighth * beat / 2, 0.7)

    line = rng.choice([0, 0, 3, 5, 7, 10, 12], size=8)
    for b in range(beats):
        note_len = int(beat * 0.9 * sample_rate)
        nt = np.arange(note_len) / sample_rate
        f = hz(root + line[b % 8])
        tone = np.sin(2 * np.pi * f * nt) + 0.3 * np.sin(4 * np.pi * f * nt)
        place(0.5 * tone * _envelope(note_len, 200, 0.4, sample_rate), b * beat, 0.5)

    chords = [(0, 4, 7), (5, 9, 12), (7, 11, 14), (-3, 0, 4)]
    bar = 4 * beat
    for i in range(int(seconds / bar) + 1):
        chord = chords[int(rng.integers(0, len(chords)))]
        chord_len = int(bar * sample_rate)
        ct = np.arange(chord_len) / sample_rate
        pad = np.zeros(chord_len)
        for interval in chord:
            f = hz(root + 24 + interval)
            for harmonic in (1, 2, 3):
                pad += np.sin(2 * np.pi * f * harmonic * ct + rng.uniform(0, 2 * np.pi)) / harmonic
        pad *= 0.08 * _envelope(chord_len, int(0.05 * sample_rate), 2.0, sample_rate)
        place(pad, i * bar, float(rng.uniform(0.2, 0.8)))

    out += 0.002 * np.sin(2 * np.pi * 0.5 * t)  # a slow offset, so the mean is not exactly zero
    out *= 0.8 / max(np.abs(out).max(), 1e-9)
    return out.astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    """``python -m stemboard.signals OUT.wav [SECONDS] [SEED]``: write a music-like clip."""
    import sys
    from pathlib import Path

    from pedalboard.io import AudioFile

    args = sys.argv[1:] if argv is None else argv
    if not 1 <= len(args) <= 3:
        print("usage: python -m stemboard.signals OUT.wav [SECONDS] [SEED]", file=sys.stderr)
        return 2
    seconds = float(args[1]) if len(args) > 1 else 20.0
    audio = music_like(seconds, seed=int(args[2]) if len(args) > 2 else 0)
    Path(args[0]).parent.mkdir(parents=True, exist_ok=True)
    with AudioFile(args[0], "w", 44100, 2, bit_depth=16) as out:
        out.write(audio)
    print(f"wrote {args[0]} ({seconds:g} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
