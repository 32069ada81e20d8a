"""The "other" stem: chords played by one or two of keys, pads, plucks, arpeggios, guitar, organ."""

from __future__ import annotations

import numpy as np
from pedalboard import Chorus, Delay, Distortion, HighpassFilter, LowpassFilter, Reverb

from stemboard.synth import oscillators, theory
from stemboard.synth.arrangement import Plan, pattern_hits
from stemboard.synth.stereo import Track, apply_effects, below_nyquist, effect_description

INSTRUMENTS = ("electric_piano", "piano", "pad", "pluck", "arpeggio", "guitar", "organ")
COMPING: dict[str, tuple[str, ...]] = {
    "electric_piano": (
        "x...............",
        "x.......x.......",
        "x..x..x.........",
        "..x...x...x...x.",
    ),
    "piano": ("x...x...x...x...", "x.......x.......", "x..x...x..x..x..", "x..............."),
    "pad": ("x...............",),
    "pluck": ("x..x..x...x..x..", "x.x..x.x..x.x...", "..x...x...x...x."),
    "arpeggio": ("x.x.x.x.x.x.x.x.", "xxxxxxxxxxxxxxxx"),
    "guitar": ("x.x.x.x.x.x.x.x.", "x..x..x.x.x.x.x.", "x...x...x...x...", "x.x.x.x.x..x.x.x"),
    "organ": ("x...............", "x.......x.......", "..x...x...x...x."),
}
ARPEGGIO_ORDERS = ("up", "down", "up_down", "random")


class _Instrument:
    """Renders notes of one instrument, caching per pitch (progressions loop, pitches repeat)."""

    def __init__(self, name: str, sample_rate: int, rng: np.random.Generator, bar_s: float):
        self.name = name
        self.sr = sample_rate
        self.rng = rng
        self.cache: dict[int, np.ndarray] = {}
        self.length = int(min(3.0, max(1.0, bar_s + 0.6)) * sample_rate)
        self.decay = float(rng.uniform(0.4, 1.5))
        self.attack = 0.003
        self.release = 0.08
        self.detune = float(rng.uniform(0.003, 0.012))
        self.brightness = float(rng.uniform(0.05, 0.3))
        self.drawbars = rng.uniform(0.0, 1.0, 7) * np.array([0.6, 1.0, 0.8, 0.5, 0.4, 0.3, 0.2])
        self.fm_ratio = float(rng.choice([1.0, 2.0, 3.0]))
        self.fm_index = float(rng.uniform(0.8, 3.0))
        if name == "pad":
            self.attack = float(rng.uniform(0.1, 0.6))
            self.release = float(rng.uniform(0.3, 1.0))
        elif name in ("pluck", "arpeggio"):
            self.decay = float(rng.uniform(0.08, 0.4))
            self.release = 0.04
        elif name == "organ":
            self.release = 0.05

    def _tone(self, midi: int) -> np.ndarray:
        """The cached ``[2, samples]`` tone of ``midi`` before its amplitude envelope."""
        if midi in self.cache:
            return self.cache[midi]
        sr, n = self.sr, self.length
        freq = float(theory.midi_to_hz(midi))
        t = np.arange(n) / sr
        phase = oscillators.cycles(freq, n, sr)
        if self.name == "electric_piano":
            index = self.fm_index * np.exp(-t / 0.3)
            mono = np.sin(2 * np.pi * phase + index * np.sin(2 * np.pi * self.fm_ratio * phase))
            mono += 0.15 * np.sin(2 * np.pi * 7.0 * phase) * np.exp(-t / 0.04)
        elif self.name == "piano":
            mono = np.zeros(n)
            for k in range(1, 7):
                fk = k * freq * np.sqrt(1 + 0.0004 * k * k)
                if fk < sr / 2.2:
                    mono += np.sin(2 * np.pi * fk * t) * np.exp(-t * k / (2 * self.decay)) / k
        elif self.name == "pad":
            d0 = self.detune
            a, b = (
                sum(oscillators.saw(phase * (1 + d) + offset, freq * (1 + d), sr) for d in detunes)
                for offset, detunes in ((0.0, (-d0, 0.3 * d0)), (0.37, (d0, -0.4 * d0)))
            )
            tone = np.stack([a + 0.6 * b, b + 0.6 * a]) * 0.3
            self.cache[midi] = tone
            return tone
        elif self.name in ("pluck", "arpeggio"):
            raw = (
                oscillators.square(phase, freq, sr)
                if midi % 2
                else oscillators.saw(phase, freq, sr)
            )
            body = np.sin(2 * np.pi * phase)
            mono = body + (self.brightness + np.exp(-t / 0.05)) * (raw - body)
        elif self.name == "guitar":
            mono = oscillators.karplus_strong(freq, n, sr, self.rng, t60=float(self.decay * 3))
        else:
            mono = sum(
                a * np.sin(2 * np.pi * m * phase)
                for a, m in zip(self.drawbars, (0.5, 1, 2, 3, 4, 6, 8), strict=True)
                if m * freq < sr / 2.2
            )
            mono = mono / max(1e-9, float(self.drawbars.sum()))
        tone = np.stack([mono, mono])
        self.cache[midi] = tone
        return tone

    def note(self, midi: int, gate: float) -> np.ndarray:
        """A ``[2, samples]`` note held for ``gate`` seconds plus its release."""
        tone = self._tone(midi)
        n = min(tone.shape[1], int((gate + 4 * self.release) * self.sr))
        sustain = 1.0 if self.name in ("pad", "organ") else 0.0
        decay = 10.0 if self.name == "guitar" else self.decay
        env = oscillators.envelope(n, self.sr, self.attack, decay, sustain, gate, self.release)
        return tone[:, :n] * env


def _voicing(plan: Plan, bar: int, center: float, size: int, instrument: str) -> list[int]:
    tones = plan.chord_at(bar)
    pitch_classes = [(plan.key + t) % 12 for t in tones]
    if instrument == "guitar":
        return theory.stack_voicing(pitch_classes + pitch_classes[:1], center - 14, size + 1)
    notes = sorted(
        theory.nearest_with_pitch_class(center + i * 4 - 4, pc)
        for i, pc in enumerate(pitch_classes)
    )
    return sorted(set(notes))[:size]


def _render_layer(
    plan: Plan, rng: np.random.Generator, name: str, pan: float, width: float
) -> tuple[np.ndarray, dict]:
    sr = plan.sample_rate
    instrument = _Instrument(name, sr, rng, 4 * plan.beat_s)
    rhythm = str(rng.choice(COMPING[name]))
    if name == "arpeggio" and plan.tempo > 125:
        rhythm = COMPING[name][0]
    hits = pattern_hits(rhythm)
    center = float(rng.uniform(57, 70))
    size = int(rng.integers(3, 5))
    legato = float(rng.uniform(0.4, 0.95)) if name not in ("pad", "organ") else 1.0
    order = str(rng.choice(ARPEGGIO_ORDERS))
    strum_s = float(rng.uniform(0.006, 0.02))
    human_s = float(rng.uniform(0.0, 0.01))
    track = Track(plan.total)
    for bar in range(plan.bars):
        if plan.rests_in("other", bar):
            continue
        notes = _voicing(plan, bar, center, size, name)
        if name == "arpeggio":
            sequence = [*notes, notes[0] + 12]
            if order == "down":
                sequence = sequence[::-1]
            elif order == "up_down":
                sequence = sequence + sequence[-2:0:-1]
        for i, (step, velocity) in enumerate(hits):
            next_step = hits[i + 1][0] if i + 1 < len(hits) else 16
            gate = max(0.05, legato * (plan.time(bar, next_step) - plan.time(bar, step)) / sr)
            start = plan.time(bar, step) + int(rng.normal(0.0, human_s * sr))
            velocity *= float(rng.uniform(0.8, 1.05))
            if name == "arpeggio":
                pick = (
                    sequence[i % len(sequence)] if order != "random" else int(rng.choice(sequence))
                )
                track.add(
                    instrument.note(pick, gate), start, pan + width * (pick - center) / 24, velocity
                )
                continue
            upstroke = name == "guitar" and step % 4 == 2
            played = notes[::-1][:4] if upstroke else notes
            for k, midi in enumerate(played):
                offset = int(k * strum_s * sr) if name == "guitar" else 0
                spread = pan + width * (k / max(1, len(played) - 1) - 0.5)
                gain = velocity * (0.7 if upstroke else 1.0) / np.sqrt(len(played))
                track.add(instrument.note(midi, gate), start + offset, spread, gain)

    effects = []
    if name == "guitar" and rng.random() < 0.4:
        effects += [
            Distortion(drive_db=float(rng.uniform(12, 30))),
            LowpassFilter(below_nyquist(rng.uniform(3000, 6000), sr)),
        ]
    elif name == "pad":
        effects.append(LowpassFilter(below_nyquist(rng.uniform(800, 4000), sr)))
    elif name in ("pluck", "arpeggio"):
        effects.append(LowpassFilter(below_nyquist(rng.uniform(2000, 8000), sr)))
    if name in ("organ", "electric_piano", "pad") and rng.random() < 0.6:
        effects.append(Chorus(rate_hz=float(rng.uniform(0.3, 3.0)), depth=0.25, mix=0.5))
    audio = apply_effects(track.audio, sr, effects)
    description = {
        "instrument": name,
        "rhythm": rhythm,
        "center_midi": round(center, 1),
        "effects": effect_description(effects),
    }
    if name == "arpeggio":
        description["order"] = order
    return audio, description


def render_other(plan: Plan, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """The "other" stem ``[2, plan.total]`` and a description of its instruments and effects."""
    count = 1 if rng.random() < 0.45 else 2
    names = [str(n) for n in rng.choice(INSTRUMENTS, size=count, replace=False)]
    audio = np.zeros((2, plan.total))
    layers = []
    for i, name in enumerate(names):
        pan = (
            float(rng.uniform(-0.3, 0.3))
            if count == 1
            else (-1) ** i * float(rng.uniform(0.1, 0.5))
        )
        width = float(rng.uniform(0.2, 0.9))
        layer, description = _render_layer(plan, rng, name, pan, width)
        gain = 1.0 if i == 0 else float(rng.uniform(0.4, 0.9))
        audio += gain * layer / max(1e-9, float(np.sqrt(np.mean(layer**2))))
        layers.append(description)
    effects = [HighpassFilter(float(rng.uniform(80, 200)))]
    if rng.random() < 0.3:
        effects.append(
            Delay(
                delay_seconds=plan.beat_s * float(rng.choice([0.5, 0.75])),
                feedback=float(rng.uniform(0.15, 0.4)),
                mix=float(rng.uniform(0.1, 0.25)),
            )
        )
    if rng.random() < 0.85:
        effects.append(
            Reverb(
                room_size=float(rng.uniform(0.3, 0.85)),
                wet_level=float(rng.uniform(0.08, 0.3)),
                dry_level=0.85,
                width=1.0,
            )
        )
    audio = apply_effects(audio, plan.sample_rate, effects)
    return audio, {"instruments": names, "layers": layers, "effects": effect_description(effects)}
