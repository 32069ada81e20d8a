"""A whole synthetic song: the four stems rendered from one plan, levelled, and written to disk."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pedalboard.io import AudioFile

from stemboard.registry import MUSDB_SOURCES
from stemboard.synth import theory
from stemboard.synth.arrangement import make_plan
from stemboard.synth.bass import render_bass
from stemboard.synth.drums import render_drums
from stemboard.synth.harmony import render_other
from stemboard.synth.voice import render_vocals

RENDERERS = {
    "drums": render_drums,
    "bass": render_bass,
    "other": render_other,
    "vocals": render_vocals,
}
STEM_RMS_DB = -20.0  # each stem's loudness before its per-song level offset
LEVEL_SPREAD_DB = 6.0
STEM_PEAK = 0.895  # a little under the 0.9 / 0.99 promised, for float32 rounding
MIX_PEAK = 0.985


@dataclass(frozen=True, eq=False)
class Song:
    """Four float32 ``[2, samples]`` stems whose sum is the mixture, plus what was chosen."""

    seed: int
    seconds: float
    sample_rate: int
    stems: dict[str, np.ndarray]
    description: dict

    @property
    def mix(self) -> np.ndarray:
        """The mixture ``[2, samples]``: exactly the sum of the stems (float64, then float32)."""
        total = np.zeros(next(iter(self.stems.values())).shape)
        for stem in self.stems.values():
            total += stem.astype(np.float64)
        return total.astype(np.float32)


def generate_song(seed: int, seconds: float = 12.0, sample_rate: int = 44100) -> Song:
    """A deterministic synthetic song: drums, bass, other (chords) and vocals.

    Example::

        song = generate_song(2_000_000, seconds=12.0)
        song.stems["vocals"].shape        # (2, 529200)
        song.description["tempo"]
    """
    if seconds <= 0:
        raise ValueError(f"seconds must be > 0, got {seconds}")
    if sample_rate < 8000:
        raise ValueError(f"sample_rate must be >= 8000, got {sample_rate}")
    length = max(1, round(seconds * sample_rate))
    plan = make_plan(np.random.default_rng([seed, 0]), length, sample_rate)
    levels_rng = np.random.default_rng([seed, 99])
    stems: dict[str, np.ndarray] = {}
    parts: dict[str, dict] = {}
    levels: dict[str, float] = {}
    for k, name in enumerate(MUSDB_SOURCES, start=1):
        audio, parts[name] = RENDERERS[name](plan, np.random.default_rng([seed, k]))
        audio = audio[:, plan.offset : plan.offset + length]
        rms = float(np.sqrt(np.mean(audio**2)))
        levels[name] = float(levels_rng.uniform(-LEVEL_SPREAD_DB, LEVEL_SPREAD_DB))
        if rms > 1e-9:
            audio = audio * (10 ** ((STEM_RMS_DB + levels[name]) / 20) / rms)
        stems[name] = audio
    mix_peak = float(np.abs(sum(stems.values())).max())
    stem_peak = max(float(np.abs(s).max()) for s in stems.values())
    gain = min(
        10 ** (levels_rng.uniform(-3.0, 0.0) / 20),
        STEM_PEAK / max(stem_peak, 1e-9),
        MIX_PEAK / max(mix_peak, 1e-9),
    )
    stems = {name: (audio * gain).astype(np.float32) for name, audio in stems.items()}
    description = {
        "tempo": round(plan.tempo, 2),
        "key": theory.KEY_NAMES[plan.key],
        "scale": plan.scale_name,
        "progression": plan.progression_name,
        "chords": [theory.chord_name(plan.key, c) for c in plan.chords],
        "drum_style": plan.drum_style,
        "swing": round(plan.swing, 3),
        "bass_timbre": parts["bass"]["timbre"],
        "other_instruments": parts["other"]["instruments"],
        "voice_type": parts["vocals"]["voice_type"],
        "rest_bars": {name: list(bars) for name, bars in plan.rests.items()},
        "levels_db": {name: round(level, 2) for name, level in levels.items()},
        "gain_db": round(float(20 * np.log10(gain)), 2),
        "parts": parts,
    }
    return Song(seed, float(seconds), sample_rate, stems, description)


def write_song(song: Song, directory: str | Path) -> Path:
    """Write ``mixture.wav``, one 32-bit float WAV per stem and ``song.json`` into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, audio in {"mixture": song.mix, **song.stems}.items():
        with AudioFile(str(directory / f"{name}.wav"), "w", song.sample_rate, 2, bit_depth=32) as f:
            f.write(audio)
    info = {
        "seed": song.seed,
        "seconds": song.seconds,
        "sample_rate": song.sample_rate,
        "description": song.description,
    }
    (directory / "song.json").write_text(json.dumps(info, indent=2) + "\n")
    return directory
