"""The song plan every part plays from: tempo, key, chords per bar, groove and which bars rest."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stemboard.registry import MUSDB_SOURCES
from stemboard.synth import theory

# Drum style -> (tempo range in bpm, probability of a swung eighth-note feel).
DRUM_STYLES: dict[str, tuple[tuple[float, float], float]] = {
    "rock": ((88.0, 160.0), 0.1),
    "four_on_the_floor": ((110.0, 132.0), 0.05),
    "hip_hop": ((70.0, 100.0), 0.5),
    "breakbeat": ((85.0, 140.0), 0.2),
    "half_time": ((120.0, 170.0), 0.1),
    "shuffle": ((80.0, 140.0), 1.0),
    "funk": ((85.0, 118.0), 0.3),
    "two_step": ((150.0, 170.0), 0.0),
}
STEPS_PER_BAR = 16
LONGEST_REST_BAR_S = 2.7  # a resting bar must be short enough to keep every 6 s window audible


@dataclass(frozen=True)
class Plan:
    """Everything the parts agree on; times are samples on the render timeline.

    The render timeline starts ``offset`` samples before the song does, so songs do not all
    begin on a downbeat.
    """

    sample_rate: int
    length: int
    offset: int
    tempo: float
    key: int
    scale_name: str
    progression_name: str
    degrees: tuple[int, ...]
    chords: tuple[tuple[int, ...], ...]
    bars: int
    phrase_bars: int
    drum_style: str
    swing: float
    rests: dict[str, tuple[int, ...]]

    @property
    def scale(self) -> tuple[int, ...]:
        return theory.SCALES[self.scale_name]

    @property
    def total(self) -> int:
        """Samples on the render timeline."""
        return self.offset + self.length

    @property
    def beat_s(self) -> float:
        return 60.0 / self.tempo

    @property
    def bar_samples(self) -> float:
        return 4 * self.beat_s * self.sample_rate

    def chord_at(self, bar: int) -> tuple[int, ...]:
        """Semitones above the key of the chord in ``bar``, root first."""
        return self.chords[bar % len(self.chords)]

    def rests_in(self, stem: str, bar: int) -> bool:
        return bar in self.rests[stem]

    def time(self, bar: int, step: float) -> int:
        """Sample index of 16th-note ``step`` (may be fractional or beyond 16) in ``bar``.

        Swing delays the off-beat eighth: 0 is straight, 1/3 a triplet shuffle.
        """
        beat, within = divmod(step / 4.0, 1.0)
        late = 0.5 + 0.5 * self.swing
        swung = within * 2 * late if within < 0.5 else late + (within - 0.5) * 2 * (1 - late)
        return round(bar * self.bar_samples + (beat + swung) * self.beat_s * self.sample_rate)


def make_plan(rng: np.random.Generator, length: int, sample_rate: int) -> Plan:
    """Draw a plan for a song of ``length`` samples."""
    style = str(rng.choice(list(DRUM_STYLES)))
    (low, high), swing_probability = DRUM_STYLES[style]
    tempo = float(rng.uniform(low, high))
    swing = 0.0
    if rng.random() < swing_probability:
        swing = 1.0 / 3.0 if style == "shuffle" else float(rng.uniform(0.12, 0.3))
    scale_name = str(rng.choice(list(theory.SCALES)))
    progressions = (
        theory.MAJOR_PROGRESSIONS if scale_name in theory.MAJOR_LIKE else theory.MINOR_PROGRESSIONS
    )
    progression_name = str(rng.choice(list(progressions)))
    degrees = progressions[progression_name]
    scale = theory.SCALES[scale_name]
    sevenths = rng.random() < 0.3
    chords = tuple(
        theory.chord(scale, d, 4 if sevenths and rng.random() < 0.6 else 3) for d in degrees
    )
    bar_samples = 4 * 60.0 / tempo * sample_rate
    offset = int(rng.uniform(0.0, 1.0) * bar_samples)
    bars = int(np.ceil((offset + length) / bar_samples)) + 1
    phrase_bars = 8 if len(degrees) == 8 else int(rng.choice([4, 8]))
    rests: dict[str, tuple[int, ...]] = {}
    for stem in MUSDB_SOURCES:
        chosen: list[int] = []
        if bar_samples / sample_rate <= LONGEST_REST_BAR_S and bars > 3 and rng.random() < 0.35:
            for _ in range(int(rng.integers(1, 3))):
                bar = int(rng.integers(1, bars - 1))
                if all(abs(bar - other) > 1 for other in chosen):
                    chosen.append(bar)
        rests[stem] = tuple(sorted(chosen))
    return Plan(
        sample_rate=sample_rate,
        length=length,
        offset=offset,
        tempo=tempo,
        key=int(rng.integers(0, 12)),
        scale_name=scale_name,
        progression_name=progression_name,
        degrees=degrees,
        chords=chords,
        bars=bars,
        phrase_bars=phrase_bars,
        drum_style=style,
        swing=swing,
        rests=rests,
    )


def pattern_hits(pattern: str) -> list[tuple[int, float]]:
    """``(step, velocity)`` pairs of a step string: ``X`` accent, ``x`` normal, ``o`` ghost."""
    velocities = {"X": 1.0, "x": 0.8, "o": 0.4}
    return [(i, velocities[c]) for i, c in enumerate(pattern) if c in velocities]
