"""The drums stem: a synthesised kit (kick, snare, hats, toms, cymbals) played in several styles."""

from __future__ import annotations

import numpy as np
from pedalboard import Compressor, Distortion, HighpassFilter, LowpassFilter, Reverb

from stemboard.synth.arrangement import Plan, pattern_hits
from stemboard.synth.stereo import Track, apply_effects, below_nyquist, effect_description

# One bar of 16th-note steps per kit piece.
PATTERNS: dict[str, dict[str, str]] = {
    "rock": {
        "kick": "X.....x.x.......",
        "snare": "....X.......X...",
        "hat": "x.x.x.x.x.x.x.x.",
    },
    "four_on_the_floor": {
        "kick": "X...X...X...X...",
        "snare": "....X.......X...",
        "hat": "x.o.x.o.x.o.x.o.",
        "open_hat": "..x...x...x...x.",
    },
    "hip_hop": {
        "kick": "X......x..x.....",
        "snare": "....X..o....X...",
        "hat": "xoxoxoxoxoxoxoxo",
    },
    "breakbeat": {
        "kick": "X.x.......xx....",
        "snare": "....X..o.o..X..o",
        "hat": "x.x.x.x.x.x.x.x.",
    },
    "half_time": {
        "kick": "X.......x.x.....",
        "snare": "........X.......",
        "hat": "x.x.x.x.x.x.x.x.",
    },
    "shuffle": {
        "kick": "X.......x.x.....",
        "snare": "....X.......X...",
        "hat": "x.x.x.x.x.x.x.x.",
    },
    "funk": {
        "kick": "X..x..x...x..x..",
        "snare": "....X..o.o..X..o",
        "hat": "xxxxxxxxxxxxxxxx",
        "open_hat": "..............x.",
    },
    "two_step": {
        "kick": "X.........x.....",
        "snare": "....X.......X...",
        "hat": "x.x.x.x.x.x.x.x.",
    },
}


def _decay(n: int, sample_rate: int, seconds: float) -> np.ndarray:
    return np.exp(-np.arange(n) / (seconds * sample_rate))


def _normalised(x: np.ndarray) -> np.ndarray:
    fade = min(len(x), 64)
    x[-fade:] *= np.linspace(1.0, 0.0, fade)
    return x / max(np.abs(x).max(), 1e-9)


def _filtered(x: np.ndarray, sample_rate: int, plugins: list) -> np.ndarray:
    for plugin in plugins:
        plugin.cutoff_frequency_hz = below_nyquist(plugin.cutoff_frequency_hz, sample_rate)
    return apply_effects(x[None, :], sample_rate, plugins)[0]


def _metal(n: int, sample_rate: int, scale: float) -> np.ndarray:
    """Six detuned square waves: the metallic core of 808-style hats and cymbals."""
    t = np.arange(n) / sample_rate
    freqs = scale * np.array([205.3, 304.4, 369.6, 522.7, 540.0, 800.0])
    return np.sign(np.sin(2 * np.pi * freqs[:, None] * t)).sum(axis=0) / 6.0


def _kit(rng: np.random.Generator, sample_rate: int) -> tuple[dict[str, np.ndarray], dict]:
    """One synthesised kit; returns the pieces (mono, peak 1) and what was chosen."""
    sr = sample_rate
    pieces: dict[str, np.ndarray] = {}

    kick_tune = float(rng.uniform(42, 66))
    kick_decay = float(rng.uniform(0.12, 0.45))
    n = int(min(0.6, 4 * kick_decay) * sr)
    t = np.arange(n) / sr
    freq = kick_tune + kick_tune * rng.uniform(1.5, 4.0) * np.exp(-t / rng.uniform(0.015, 0.05))
    body = np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-t / kick_decay)
    click = np.diff(rng.standard_normal(n + 1)) * _decay(n, sr, 0.003) * rng.uniform(0.05, 0.4)
    drive = rng.uniform(1.0, 3.0)
    pieces["kick"] = _normalised(np.tanh(drive * (body + click)))

    snare_tune = float(rng.uniform(150, 250))
    n = int(0.5 * sr)
    t = np.arange(n) / sr
    tone = (np.sin(2 * np.pi * snare_tune * t) + 0.5 * np.sin(2 * np.pi * 1.6 * snare_tune * t)) * (
        _decay(n, sr, rng.uniform(0.04, 0.12))
    )
    noise = _filtered(
        rng.standard_normal(n),
        sr,
        [HighpassFilter(rng.uniform(800, 2500)), LowpassFilter(rng.uniform(6000, 12000))],
    ) * _decay(n, sr, rng.uniform(0.07, 0.22))
    pieces["snare"] = _normalised(tone + rng.uniform(0.6, 2.0) * noise)

    metal_scale = float(rng.uniform(1.0, 1.8))
    hat_cutoff = float(rng.uniform(5000, 9000))
    for name, decay in (("hat", rng.uniform(0.015, 0.05)), ("open_hat", rng.uniform(0.15, 0.4))):
        n = int(5 * decay * sr)
        raw = rng.uniform(0.3, 1.0) * _metal(n, sr, metal_scale) + rng.standard_normal(n)
        hat = _filtered(raw, sr, [HighpassFilter(hat_cutoff), HighpassFilter(hat_cutoff)])
        pieces[name] = _normalised(hat * _decay(n, sr, decay))

    tom_base = float(rng.uniform(85, 140))
    for name, ratio in (("tom_low", 1.0), ("tom_mid", 1.33), ("tom_high", 1.75)):
        n = int(0.6 * sr)
        t = np.arange(n) / sr
        f = tom_base * ratio * (1.0 + 0.25 * np.exp(-t / 0.04))
        tom = np.sin(2 * np.pi * np.cumsum(f) / sr) + 0.15 * rng.standard_normal(n) * _decay(
            n, sr, 0.01
        )
        pieces[name] = _normalised(tom * _decay(n, sr, rng.uniform(0.15, 0.35)))

    crash_decay = float(rng.uniform(0.9, 2.0))
    n = int(min(3.5, 3 * crash_decay) * sr)
    raw = 0.5 * _metal(n, sr, metal_scale * 1.9) + rng.standard_normal(n)
    crash = _filtered(raw, sr, [HighpassFilter(rng.uniform(2500, 4500)), LowpassFilter(14000)])
    pieces["crash"] = _normalised(crash * _decay(n, sr, crash_decay))

    n = int(1.6 * sr)
    t = np.arange(n) / sr
    bell = np.sin(2 * np.pi * rng.uniform(2500, 4000) * t) * _decay(n, sr, 0.3)
    raw = _metal(n, sr, metal_scale * 2.4) + 0.5 * rng.standard_normal(n)
    ride = _filtered(raw, sr, [HighpassFilter(5000)]) * _decay(n, sr, rng.uniform(0.6, 1.2))
    pieces["ride"] = _normalised(ride + 0.3 * bell)

    description = {
        "kick_tune_hz": round(kick_tune, 1),
        "kick_decay_s": round(kick_decay, 3),
        "snare_tune_hz": round(snare_tune, 1),
        "tom_tune_hz": round(tom_base, 1),
    }
    return pieces, description


def render_drums(plan: Plan, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """The drums stem ``[2, plan.total]`` and a description of the kit, style and effects."""
    sr = plan.sample_rate
    pieces, kit_description = _kit(rng, sr)
    side = 1.0 if rng.random() < 0.5 else -1.0
    pans = {
        "kick": 0.0,
        "snare": float(rng.uniform(-0.15, 0.15)),
        "hat": side * float(rng.uniform(0.2, 0.5)),
        "open_hat": side * float(rng.uniform(0.2, 0.5)),
        "tom_high": side * 0.4,
        "tom_mid": 0.0,
        "tom_low": -side * 0.45,
        "crash": -side * float(rng.uniform(0.2, 0.6)),
        "ride": -side * float(rng.uniform(0.3, 0.6)),
    }
    gains = {
        "kick": 1.0,
        "snare": float(rng.uniform(0.8, 1.2)),
        "hat": float(rng.uniform(0.3, 0.6)),
        "open_hat": float(rng.uniform(0.3, 0.55)),
        "tom_high": 0.7,
        "tom_mid": 0.75,
        "tom_low": 0.8,
        "crash": float(rng.uniform(0.3, 0.5)),
        "ride": float(rng.uniform(0.25, 0.4)),
    }
    pattern = PATTERNS[plan.drum_style]
    human_s = float(rng.uniform(0.002, 0.012))
    fill_probability = float(rng.uniform(0.3, 0.9))
    ride_probability = float(rng.uniform(0.0, 0.5))
    track = Track(plan.total)

    def hit(piece: str, bar: int, step: float, velocity: float) -> None:
        jitter = rng.normal(0.0, human_s * sr)
        start = plan.time(bar, step) + int(jitter if piece != "kick" else 0.3 * jitter)
        gain = gains[piece] * velocity * float(rng.uniform(0.85, 1.1))
        track.add(pieces[piece], start, pans[piece], gain)

    use_ride = False
    for bar in range(plan.bars):
        phrase_position = bar % plan.phrase_bars
        if phrase_position == 0:
            use_ride = rng.random() < ride_probability
        if plan.rests_in("drums", bar):
            continue
        fill_beats = 0
        if phrase_position == plan.phrase_bars - 1 and rng.random() < fill_probability:
            fill_beats = int(rng.choice([1, 2]))
        fill_from = 16 - 4 * fill_beats
        if phrase_position == 0 and (bar > 0 or rng.random() < 0.5):
            hit("crash", bar, 0, 1.0)
        for piece, steps in pattern.items():
            name = "ride" if use_ride and piece == "hat" else piece
            for step, velocity in pattern_hits(steps):
                if step < fill_from or (piece == "kick" and step == fill_from):
                    hit(name, bar, step, velocity)
        if rng.random() < 0.2:
            extra = int(rng.integers(0, fill_from // 2)) * 2 + 1
            hit("kick" if rng.random() < 0.5 else "snare", bar, extra, 0.45)
        toms = ["tom_high", "tom_mid", "tom_low"]
        for i, step in enumerate(range(fill_from, 16)):
            if rng.random() < 0.15:
                continue
            piece = "snare" if rng.random() < 0.3 else toms[min(2, i * 3 // max(1, 16 - fill_from))]
            hit(piece, bar, step, 0.6 + 0.4 * i / max(1, 16 - fill_from))

    effects = []
    if rng.random() < 0.7:
        effects.append(
            Compressor(
                threshold_db=float(rng.uniform(-20, -8)),
                ratio=float(rng.uniform(2, 5)),
                attack_ms=float(rng.uniform(3, 20)),
                release_ms=float(rng.uniform(60, 200)),
            )
        )
    if rng.random() < 0.15:
        effects.append(Distortion(drive_db=float(rng.uniform(2, 8))))
    if rng.random() < 0.8:
        effects.append(
            Reverb(
                room_size=float(rng.uniform(0.1, 0.45)),
                damping=float(rng.uniform(0.3, 0.8)),
                wet_level=float(rng.uniform(0.04, 0.2)),
                dry_level=0.9,
                width=float(rng.uniform(0.6, 1.0)),
            )
        )
    audio = apply_effects(track.audio, sr, effects)
    description = {
        "style": plan.drum_style,
        "humanise_ms": round(1000 * human_s, 1),
        "kit": kit_description,
        "effects": effect_description(effects),
    }
    return audio, description
