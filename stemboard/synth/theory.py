"""Music theory for the generator: keys, scales, chord progressions and chords built on them."""

from __future__ import annotations

import numpy as np

KEY_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
}
MAJOR_LIKE = ("major", "mixolydian")

# Scale degrees (0 = tonic), one chord per bar.
MAJOR_PROGRESSIONS: dict[str, tuple[int, ...]] = {
    "I-V-vi-IV": (0, 4, 5, 3),
    "vi-IV-I-V": (5, 3, 0, 4),
    "I-vi-IV-V": (0, 5, 3, 4),
    "I-IV-V-IV": (0, 3, 4, 3),
    "ii-V-I-I": (1, 4, 0, 0),
    "I-IV-I-V": (0, 3, 0, 4),
    "I-I-IV-IV-V-IV-I-V": (0, 0, 3, 3, 4, 3, 0, 4),
    "I-V-vi-iii-IV-I-IV-V": (0, 4, 5, 2, 3, 0, 3, 4),
    "I-bVII-IV-I": (0, 6, 3, 0),
}
MINOR_PROGRESSIONS: dict[str, tuple[int, ...]] = {
    "i-VI-III-VII": (0, 5, 2, 6),
    "i-iv-v-i": (0, 3, 4, 0),
    "i-VII-VI-VII": (0, 6, 5, 6),
    "i-iv-VII-III": (0, 3, 6, 2),
    "i-VI-iv-v": (0, 5, 3, 4),
    "i-i-iv-iv-VI-v-i-i": (0, 0, 3, 3, 5, 4, 0, 0),
    "i-III-VII-iv-i-VI-iv-v": (0, 2, 6, 3, 0, 5, 3, 4),
    "i-ii-i-VII": (0, 1, 0, 6),
}


def midi_to_hz(note: float | np.ndarray) -> np.ndarray:
    """Frequency in Hz of a (fractional) MIDI note number."""
    return 440.0 * 2.0 ** ((np.asarray(note, dtype=np.float64) - 69.0) / 12.0)


def chord(scale: tuple[int, ...], degree: int, size: int = 3) -> tuple[int, ...]:
    """Semitones above the key of the chord stacked in thirds on ``degree``, root first."""
    return tuple(
        scale[(degree + 2 * i) % len(scale)] + 12 * ((degree + 2 * i) // len(scale))
        for i in range(size)
    )


def chord_name(key: int, tones: tuple[int, ...]) -> str:
    """A chord symbol such as ``"F#m"`` or ``"Bbmaj7"`` for tones from :func:`chord`."""
    root = KEY_NAMES[(key + tones[0]) % 12]
    third, fifth = (tones[1] - tones[0]) % 12, (tones[2] - tones[0]) % 12
    quality = {(4, 7): "", (3, 7): "m", (3, 6): "dim", (4, 8): "aug"}.get((third, fifth), "?")
    if len(tones) > 3:
        seventh = (tones[3] - tones[0]) % 12
        quality += "maj7" if seventh == 11 and quality == "" else "7"
    return root + quality


def scale_notes(key: int, scale: tuple[int, ...], low: int, high: int) -> np.ndarray:
    """All MIDI notes of the key's scale in ``[low, high]``, ascending."""
    notes = np.arange(low, high + 1)
    pitch_classes = {(key + step) % 12 for step in scale}
    return np.array([n for n in notes if n % 12 in pitch_classes])


def nearest_with_pitch_class(target: float, pitch_class: int) -> int:
    """The MIDI note of ``pitch_class`` closest to ``target``."""
    base = int(np.floor(target)) - ((int(np.floor(target)) - pitch_class) % 12)
    return base + 12 if target - base > 6 else base


def stack_voicing(pitch_classes: list[int], lowest: float, count: int) -> list[int]:
    """``count`` notes cycling through ``pitch_classes`` upwards from near ``lowest``."""
    notes = [nearest_with_pitch_class(lowest, pitch_classes[0])]
    for i in range(1, count):
        pc = pitch_classes[i % len(pitch_classes)]
        note = notes[-1] + 1
        while note % 12 != pc or note - notes[-1] < 3:
            note += 1
        notes.append(note)
    return notes
