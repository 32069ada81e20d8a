"""The bass stem: a line on the chord roots (octaves, fifths, approach notes) in varied timbres."""

from __future__ import annotations

import numpy as np
from pedalboard import Compressor, Distortion, HighpassFilter, LowpassFilter

from stemboard.synth import oscillators, theory
from stemboard.synth.arrangement import Plan, pattern_hits
from stemboard.synth.stereo import Track, apply_effects, below_nyquist, effect_description

TIMBRES = ("sub", "filtered_saw", "square", "fm", "plucked")
RHYTHMS: dict[str, str] = {
    "eighths": "x.x.x.x.x.x.x.x.",
    "quarters": "x...x...x...x...",
    "whole": "x...............",
    "half": "x.......x.......",
    "syncopated": "x..x..x...x.x...",
    "offbeat": "..x...x...x...x.",
    "sixteenths": "x.xxx.xxx.xxx.xx",
    "dotted": "x..x..x.x..x..x.",
    "walking": "x...x...x...x...",
}
LOWEST, HIGHEST = 28, 55


def _note(
    timbre: str,
    midi: int,
    gate: float,
    sample_rate: int,
    params: dict,
    plucks: dict[int, np.ndarray],
    rng: np.random.Generator,
) -> np.ndarray:
    """One bass note (mono) held for ``gate`` seconds plus its release."""
    sr = sample_rate
    freq = float(theory.midi_to_hz(midi))
    n = int((gate + 0.12) * sr)
    t = np.arange(n) / sr
    phase = oscillators.cycles(freq, n, sr)
    amp = oscillators.envelope(n, sr, 0.004, params["decay"], params["sustain"], gate, 0.03)
    body = np.sin(2 * np.pi * phase) + 0.2 * np.sin(4 * np.pi * phase)
    if timbre == "sub":
        tone = body
    elif timbre in ("filtered_saw", "square"):
        raw = (oscillators.saw if timbre == "filtered_saw" else oscillators.square)(phase, freq, sr)
        bright = np.exp(-t / params["filter_decay"])
        tone = body + (params["resonance"] + bright * (1 - params["resonance"])) * (
            raw - 0.6 * body
        )
    elif timbre == "fm":
        index = params["fm_index"] * np.exp(-t / params["filter_decay"]) + 0.3
        tone = np.sin(2 * np.pi * phase + index * np.sin(2 * np.pi * params["fm_ratio"] * phase))
    else:
        if midi not in plucks:
            plucks[midi] = oscillators.karplus_strong(
                freq, int(2.5 * sr), sr, rng, t60=params["decay"] * 4, smoothing=int(sr / freq / 5)
            )
        string = plucks[midi][:n]
        tone = np.pad(string, (0, n - len(string)))
        amp = oscillators.envelope(n, sr, 0.002, 10.0, 1.0, gate, 0.03)
    return tone * amp


def render_bass(plan: Plan, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """The bass stem ``[2, plan.total]`` and a description of its timbre, rhythm and effects."""
    sr = plan.sample_rate
    timbre = str(rng.choice(TIMBRES))
    rhythm_name = str(rng.choice(list(RHYTHMS)))
    if plan.tempo > 140 and rhythm_name == "sixteenths":
        rhythm_name = "eighths"
    hits = pattern_hits(RHYTHMS[rhythm_name])
    params = {
        "decay": float(rng.uniform(0.2, 1.0)),
        "sustain": float(rng.uniform(0.2, 0.8)),
        "filter_decay": float(rng.uniform(0.04, 0.3)),
        "resonance": float(rng.uniform(0.05, 0.4)),
        "fm_index": float(rng.uniform(1.0, 4.0)),
        "fm_ratio": float(rng.choice([1.0, 2.0, 0.5])),
    }
    legato = float(rng.uniform(0.5, 0.95))
    lowest_root = int(rng.integers(LOWEST, 41))
    p_octave = float(rng.uniform(0.0, 0.4))
    p_fifth = float(rng.uniform(0.0, 0.3))
    p_approach = float(rng.uniform(0.2, 0.9))
    human_s = float(rng.uniform(0.0, 0.008))
    plucks: dict[int, np.ndarray] = {}
    scale = theory.scale_notes(plan.key, plan.scale, LOWEST, HIGHEST)
    track = Track(plan.total)
    for bar in range(plan.bars):
        if plan.rests_in("bass", bar):
            continue
        tones = plan.chord_at(bar)
        root = lowest_root + (plan.key + tones[0] - lowest_root) % 12
        next_root = lowest_root + (plan.key + plan.chord_at(bar + 1)[0] - lowest_root) % 12
        for i, (step, velocity) in enumerate(hits):
            last = i == len(hits) - 1
            note = root
            if rhythm_name == "walking" and i > 0:
                note = root + (tones[i % len(tones)] - tones[0]) % 12
            elif i > 0 and rng.random() < p_octave:
                note = root + 12
            elif i > 0 and rng.random() < p_fifth:
                note = root + 7
            if last and i > 0 and next_root != root and rng.random() < p_approach:
                below = scale[scale < next_root]
                note = int(below[-1]) if len(below) and rng.random() < 0.6 else next_root + 1
            note = int(np.clip(note, LOWEST, HIGHEST))
            next_step = hits[i + 1][0] if not last else 16
            gate = max(0.06, legato * (plan.time(bar, next_step) - plan.time(bar, step)) / sr)
            sound = _note(timbre, note, gate, sr, params, plucks, rng)
            start = plan.time(bar, step) + int(rng.normal(0.0, human_s * sr))
            accent = velocity * float(rng.uniform(0.85, 1.05))
            track.add(sound, start, float(rng.uniform(-0.05, 0.05)), accent)

    effects = [HighpassFilter(30.0), LowpassFilter(below_nyquist(rng.uniform(500, 4000), sr))]
    if rng.random() < 0.25:
        effects.append(Distortion(drive_db=float(rng.uniform(3, 14))))
        effects.append(LowpassFilter(below_nyquist(rng.uniform(1500, 4000), sr)))
    if rng.random() < 0.8:
        effects.append(
            Compressor(threshold_db=float(rng.uniform(-22, -10)), ratio=float(rng.uniform(2, 6)))
        )
    audio = apply_effects(track.audio, sr, effects)
    description = {
        "timbre": timbre,
        "rhythm": rhythm_name,
        "lowest_root_midi": lowest_root,
        "effects": effect_description(effects),
    }
    return audio, description
