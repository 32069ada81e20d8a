"""The vocals stem: a singing-voice synthesiser (glottal source, vowel formants, consonants).

A sawtooth glottal source follows a pitch contour with glides, delayed vibrato and jitter; its
short-time spectrum is shaped frame by frame by a cascade of five formant resonators that move
from vowel to vowel, and shaped noise adds breath and the consonants at syllable starts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from pedalboard import Compressor, Delay, HighpassFilter, PeakFilter, Reverb

from stemboard.synth import oscillators, theory
from stemboard.synth.arrangement import Plan
from stemboard.synth.stereo import Track, apply_effects, below_nyquist, effect_description


@dataclass(frozen=True)
class VoiceType:
    """A singer's range (MIDI) and how much shorter its vocal tract is than a tenor's."""

    low: int
    high: int
    formant_scale: float


VOICE_TYPES: dict[str, VoiceType] = {
    "bass": VoiceType(40, 62, 0.9),
    "tenor": VoiceType(48, 69, 1.0),
    "alto": VoiceType(53, 74, 1.12),
    "soprano": VoiceType(60, 81, 1.2),
}
# Formant frequencies F1..F5 in Hz for a tenor-sized vocal tract.
VOWELS: dict[str, tuple[float, ...]] = {
    "a": (730.0, 1090.0, 2440.0, 3300.0, 3750.0),
    "e": (530.0, 1840.0, 2480.0, 3300.0, 3750.0),
    "i": (270.0, 2290.0, 3010.0, 3400.0, 3800.0),
    "o": (570.0, 840.0, 2410.0, 3300.0, 3750.0),
    "u": (300.0, 870.0, 2240.0, 3300.0, 3750.0),
}
VOWEL_WEIGHTS = (0.3, 0.2, 0.15, 0.2, 0.15)
BANDWIDTHS = np.array([70.0, 90.0, 130.0, 180.0, 250.0])
# Consonant -> (kind, noise centre Hz, noise bandwidth Hz, duration s, level).
CONSONANTS: dict[str, tuple[str, float, float, float, float]] = {
    "s": ("fricative", 7500.0, 3500.0, 0.09, 1.0),
    "sh": ("fricative", 3300.0, 1500.0, 0.1, 1.0),
    "f": ("fricative", 5000.0, 8000.0, 0.07, 0.4),
    "h": ("aspirate", 0.0, 0.0, 0.06, 0.6),
    "t": ("plosive", 4500.0, 3500.0, 0.012, 1.6),
    "k": ("plosive", 2200.0, 1200.0, 0.015, 1.6),
    "p": ("plosive", 900.0, 1200.0, 0.012, 1.4),
}
CONSONANT_WEIGHTS = (0.1, 0.06, 0.05, 0.08, 0.12, 0.08, 0.08)
NO_CONSONANT = 0.43
N_FFT, HOP = 1024, 256
CONTROL_HOP = 64


@dataclass(frozen=True)
class _Note:
    start: int
    end: int
    midi: float
    consonant: str
    vowel: str
    velocity: float


def _melody(plan: Plan, rng: np.random.Generator, voice: VoiceType) -> list[_Note]:
    """Phrases of notes from the scale that land on chord tones, with rests between phrases."""
    notes_in_scale = theory.scale_notes(plan.key, plan.scale, voice.low, voice.high)
    center = (voice.low + voice.high) / 2 + rng.uniform(-2, 2)
    index = int(np.argmin(np.abs(notes_in_scale - center)))
    phrase_bars = int(rng.choice([1, 2]))
    durations = np.array([1, 2, 3, 4, 6])
    weights = rng.dirichlet(np.array([3.0, 3.0, 1.0, 1.5, 0.5]))
    if plan.tempo > 130:
        weights = weights * np.array([0.3, 1.0, 1.0, 1.0, 1.0])
    weights /= weights.sum()
    p_melisma = float(rng.uniform(0.0, 0.25))
    vowel_names = list(VOWELS)
    consonant_names = [*CONSONANTS, ""]
    consonant_weights = np.array([*CONSONANT_WEIGHTS, NO_CONSONANT])
    notes: list[_Note] = []
    bar = 0
    while bar < plan.bars:
        if plan.rests_in("vocals", bar):
            bar += 1
            continue
        length = phrase_bars
        if any(plan.rests_in("vocals", b) for b in range(bar, bar + length)):
            length = 1
        eighth = int(rng.choice([0, 0, 0, 1, 2]))
        end = 8 * length - int(rng.integers(1, 4))
        first = True
        vowel = str(rng.choice(vowel_names, p=VOWEL_WEIGHTS))
        while eighth < end:
            duration = int(min(rng.choice(durations, p=weights), end - eighth))
            chord_bar = bar + eighth // 8
            pitch_classes = {(plan.key + t) % 12 for t in plan.chord_at(chord_bar)}
            strong = eighth % 4 == 0 or first or eighth + duration >= end
            if strong and rng.random() < 0.8:
                candidates = [
                    i
                    for i in range(max(0, index - 4), min(len(notes_in_scale), index + 5))
                    if notes_in_scale[i] % 12 in pitch_classes
                ]
                if candidates:
                    index = int(rng.choice(candidates))
            else:
                step = int(rng.choice([-2, -1, -1, 1, 1, 2, -4, 3]))
                if notes_in_scale[index] > center + 5:
                    step = -abs(step)
                elif notes_in_scale[index] < center - 5:
                    step = abs(step)
                index = int(np.clip(index + step, 0, len(notes_in_scale) - 1))
            melisma = not first and rng.random() < p_melisma
            consonant = "" if melisma else str(rng.choice(consonant_names, p=consonant_weights))
            if not melisma:
                vowel = str(rng.choice(vowel_names, p=VOWEL_WEIGHTS))
            notes.append(
                _Note(
                    start=plan.time(bar, 2 * eighth),
                    end=plan.time(bar, 2 * (eighth + duration)),
                    midi=float(notes_in_scale[index]),
                    consonant=consonant,
                    vowel=vowel,
                    velocity=float(rng.uniform(0.75, 1.0) * (1.1 if strong else 1.0)),
                )
            )
            eighth += duration
            first = False
        bar += length
    return notes


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    """``x`` convolved with a unit-sum Hann window ``width`` samples wide, edges held."""
    width = max(3, width | 1)
    kernel = np.hanning(width + 2)[1:-1]
    kernel /= kernel.sum()
    padded = np.pad(x, (width // 2, width // 2), mode="edge")
    return np.convolve(padded, kernel, mode="valid")


@dataclass(frozen=True)
class _Style:
    """How a singer sings, drawn once per song."""

    voice: VoiceType
    glide_s: float
    vibrato_hz: float
    vibrato_depth: float
    vibrato_delay_s: float
    jitter_semitones: float
    scoop_probability: float
    breathiness: float
    tilt: float
    formant_shift: float


def _draw_style(rng: np.random.Generator, voice: VoiceType) -> _Style:
    return _Style(
        voice=voice,
        glide_s=float(rng.uniform(0.03, 0.12)),
        vibrato_hz=float(rng.uniform(4.5, 7.0)),
        vibrato_depth=float(rng.uniform(0.1, 0.6)),
        vibrato_delay_s=float(rng.uniform(0.12, 0.4)),
        jitter_semitones=float(rng.uniform(0.02, 0.1)),
        scoop_probability=float(rng.uniform(0.0, 0.5)),
        breathiness=float(rng.uniform(0.02, 0.25)),
        tilt=float(rng.uniform(-0.4, 0.8)),
        formant_shift=float(rng.uniform(0.95, 1.05)),
    )


def _pitch_and_level(
    notes: list[_Note], style: _Style, total: int, sample_rate: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample F0 in Hz and voicing level ``[samples]`` for ``notes``."""
    frames = total // CONTROL_HOP + 2
    rate = sample_rate / CONTROL_HOP
    target = np.full(frames, np.nan)
    level = np.zeros(frames)
    vibrato_env = np.zeros(frames)
    scoop = np.zeros(frames)
    for note in notes:
        a = min(note.start // CONTROL_HOP, frames - 1)
        b = min(max(a + 1, note.end // CONTROL_HOP), frames)
        since = np.arange(b - a) / rate
        target[a:b] = note.midi
        level[a:b] = note.velocity * (1.0 - 0.15 * since / max(since[-1], 1e-3))
        depth = style.vibrato_depth * float(rng.uniform(0.6, 1.2))
        vibrato_env[a:b] = depth * np.clip((since - style.vibrato_delay_s) / 0.25, 0.0, 1.0)
        if rng.random() < style.scoop_probability:
            scoop[a:b] = -float(rng.uniform(0.3, 1.2)) * np.exp(-since / 0.06)
    for note in notes:
        kind, _, _, duration, _ = CONSONANTS.get(note.consonant, ("", 0, 0, 0.0, 0))
        if kind in ("fricative", "aspirate"):
            gap = int(duration * rate)
        elif kind == "plosive":
            gap = int(0.03 * rate)
        else:
            continue
        a = note.start // CONTROL_HOP
        level[max(0, a - gap) : a] = 0.0
    known = ~np.isnan(target)
    if not known.any():
        target[:] = 60.0
    else:
        positions = np.where(known, np.arange(frames), 0)
        np.maximum.accumulate(positions, out=positions)
        positions[: np.argmax(known)] = np.argmax(known)
        target = target[positions]
    pitch = _smooth(target, int(style.glide_s * rate))
    wobble = _smooth(rng.standard_normal(frames), int(0.5 * rate))
    vibrato_phase = np.cumsum(style.vibrato_hz * (1.0 + 0.3 * wobble)) / rate
    jitter = _smooth(rng.standard_normal(frames), int(0.03 * rate))
    jitter *= style.jitter_semitones / max(float(jitter.std()), 1e-9)
    pitch = pitch + vibrato_env * np.sin(2 * np.pi * vibrato_phase) + jitter + scoop
    level = _smooth(level, int(0.03 * rate))
    grid = np.arange(frames) * CONTROL_HOP
    samples = np.arange(total)
    f0 = np.interp(samples, grid, theory.midi_to_hz(pitch))
    return f0, np.interp(samples, grid, level)


def _frame_tracks(
    notes: list[_Note], style: _Style, frames: int, sample_rate: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per STFT frame: formants ``[5, frames]``, breath and consonant gain, consonant index."""
    centres = np.arange(frames) * HOP + N_FFT // 2 - (N_FFT - HOP)
    formants = np.tile(np.array([500.0, 1500.0, 2500.0, 3300.0, 3750.0])[:, None], (1, frames))
    breath = np.zeros(frames)
    consonant_gain = np.zeros(frames)
    consonant_index = np.zeros(frames, dtype=np.intp)
    names = list(CONSONANTS)
    for note in notes:
        kind, _, _, duration, level = CONSONANTS.get(note.consonant, ("", 0, 0, 0.0, 0))
        lead = int(duration * sample_rate) if kind in ("fricative", "aspirate") else 0
        a, b = np.searchsorted(centres, [note.start - lead - HOP, note.end])
        formants[:, a:b] = np.array(VOWELS[note.vowel])[:, None]
        if not kind:
            continue
        index = names.index(note.consonant)
        if kind == "plosive":
            c0, c1 = np.searchsorted(centres, [note.start - HOP // 2, note.start + HOP])
            consonant_gain[c0:c1] = level * note.velocity
            consonant_index[c0:c1] = index
            h0, h1 = np.searchsorted(centres, [note.start, note.start + int(0.04 * sample_rate)])
            breath[h0:h1] += 0.4 * level * note.velocity
            continue
        c0, c1 = np.searchsorted(centres, [note.start - lead, note.start])
        shape = np.hanning(c1 - c0 + 2)[1:-1] * level * note.velocity
        if kind == "aspirate":
            breath[c0:c1] += shape
        else:
            consonant_gain[c0:c1] = shape
            consonant_index[c0:c1] = index
    smoothed = np.stack([_smooth(track, 9) for track in formants])
    smoothed *= style.voice.formant_scale * style.formant_shift
    return smoothed, breath, consonant_gain, consonant_index


def _consonant_shapes(freqs: np.ndarray) -> np.ndarray:
    """Noise spectra ``[consonants, bins]`` of the consonants, peak 1."""
    shapes = []
    for kind, centre, width, _, _ in CONSONANTS.values():
        if kind == "aspirate":
            shapes.append(np.zeros_like(freqs))
            continue
        shape = np.exp(-0.5 * ((freqs - centre) / (width / 2)) ** 2)
        if centre > 6000:
            shape = np.maximum(shape, (freqs > centre) * np.exp(-(freqs - centre) / 6000))
        shapes.append(shape)
    return np.array(shapes, dtype=np.float32)


def _sing(
    notes: list[_Note],
    style: _Style,
    total: int,
    sample_rate: int,
    rng: np.random.Generator,
    noise_scale: float = 1.0,
) -> np.ndarray:
    """The mono singing voice ``[total]`` for ``notes`` (source-filter synthesis in the STFT)."""
    f0, level = _pitch_and_level(notes, style, total, sample_rate, rng)
    source = -oscillators.saw(oscillators.cycles(f0, total, sample_rate), f0, sample_rate) * level
    front = N_FFT - HOP
    frames = int(np.ceil((total + front) / HOP))
    padded = np.zeros((frames + 3) * HOP, dtype=np.float32)
    padded[front : front + total] = source
    window = np.hanning(N_FFT + 1)[:-1].astype(np.float32)
    spectrum = np.fft.rfft(sliding_window_view(padded, N_FFT)[::HOP][:frames] * window, axis=1)
    freqs = np.fft.rfftfreq(N_FFT, 1.0 / sample_rate).astype(np.float32)

    formants, breath, consonant_gain, consonant_index = _frame_tracks(
        notes, style, frames, sample_rate
    )
    low = int(np.searchsorted(freqs, 7000.0))
    f2 = freqs[:low] ** 2
    resonance = np.ones((frames, len(freqs)), dtype=np.float32)
    bandwidths = BANDWIDTHS * (1.0 + 0.5 * (style.voice.formant_scale - 1.0))
    for k in range(5):
        fk2 = (formants[k].astype(np.float32) ** 2)[:, None]
        resonance[:, :low] *= fk2 / np.sqrt((fk2 - f2) ** 2 + f2 * np.float32(bandwidths[k] ** 2))
    resonance[:, low:] = resonance[:, low - 1 : low] * (freqs[low - 1] / freqs[low:]) ** 2
    tilt = (1.0 + (freqs / 2500.0) ** 2) ** (-style.tilt / 2)
    voiced = spectrum * (resonance * tilt)

    reference = float(np.sqrt(np.mean(np.abs(voiced) ** 2))) + 1e-9
    noise = rng.standard_normal((frames, len(freqs)), dtype=np.float32) + 1j * rng.standard_normal(
        (frames, len(freqs)), dtype=np.float32
    )
    aspiration = resonance * (freqs / (freqs + 1500.0)) * 0.05
    breath_gain = (
        style.breathiness
        * np.interp(np.arange(frames) * HOP - front + N_FFT // 2, np.arange(total), level)
        + breath
    )
    shaped = aspiration * breath_gain[:, None].astype(np.float32)
    shaped += (
        0.25
        * consonant_gain[:, None].astype(np.float32)
        * _consonant_shapes(freqs)[consonant_index]
    )
    voiced += noise * shaped * np.float32(reference * noise_scale)

    blocks = np.fft.irfft(voiced, n=N_FFT, axis=1).astype(np.float32) * window
    blocks = blocks.reshape(frames, N_FFT // HOP, HOP)
    out = np.zeros((frames + N_FFT // HOP, HOP), dtype=np.float32)
    for q in range(N_FFT // HOP):
        out[q : q + frames] += blocks[:, q]
    return out.reshape(-1)[front : front + total].astype(np.float64) / 1.5


def render_vocals(plan: Plan, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """The vocals stem ``[2, plan.total]`` and a description of the singer and effects."""
    sr = plan.sample_rate
    voice_name = str(rng.choice(list(VOICE_TYPES)))
    voice = VOICE_TYPES[voice_name]
    style = _draw_style(rng, voice)
    notes = _melody(plan, rng, voice)
    mode = str(rng.choice(["solo", "double", "harmony"], p=[0.5, 0.25, 0.25]))
    track = Track(plan.total)
    track.add(_sing(notes, style, plan.total, sr, rng), 0, float(rng.uniform(-0.1, 0.1)))
    if mode != "solo":
        if mode == "double":
            extra = [
                replace(n, start=n.start + int(rng.uniform(0.005, 0.025) * sr), midi=n.midi + 0.08)
                for n in notes
            ]
        else:
            in_scale = theory.scale_notes(plan.key, plan.scale, 20, 110)
            shift = int(rng.choice([2, -2]))
            extra = [
                replace(n, midi=float(in_scale[np.searchsorted(in_scale, n.midi) + shift]))
                for n in notes
            ]
        second = _sing(extra, style, plan.total, sr, rng, noise_scale=0.5)
        side = float(rng.uniform(0.3, 0.7)) * (1 if rng.random() < 0.5 else -1)
        gain = float(rng.uniform(0.35, 0.7))
        track.add(second, 0, side, gain)
        track.add(second, int(rng.uniform(0.008, 0.02) * sr), -side, 0.7 * gain)

    effects = [
        HighpassFilter(float(rng.uniform(70, 130))),
        PeakFilter(below_nyquist(rng.uniform(2000, 5000), sr), float(rng.uniform(-2, 5)), 1.0),
    ]
    if rng.random() < 0.8:
        effects.append(
            Compressor(threshold_db=float(rng.uniform(-24, -12)), ratio=float(rng.uniform(2, 5)))
        )
    if rng.random() < 0.35:
        effects.append(
            Delay(
                delay_seconds=plan.beat_s * float(rng.choice([0.5, 0.75, 1.0])),
                feedback=float(rng.uniform(0.15, 0.4)),
                mix=float(rng.uniform(0.08, 0.22)),
            )
        )
    if rng.random() < 0.9:
        effects.append(
            Reverb(
                room_size=float(rng.uniform(0.3, 0.85)),
                damping=float(rng.uniform(0.3, 0.7)),
                wet_level=float(rng.uniform(0.08, 0.3)),
                dry_level=0.85,
                width=float(rng.uniform(0.7, 1.0)),
            )
        )
    audio = apply_effects(track.audio, sr, effects)
    description = {
        "voice_type": voice_name,
        "mode": mode,
        "notes": len(notes),
        "vibrato_hz": round(style.vibrato_hz, 2),
        "vibrato_depth_semitones": round(style.vibrato_depth, 2),
        "breathiness": round(style.breathiness, 3),
        "effects": effect_description(effects),
    }
    return audio, description
