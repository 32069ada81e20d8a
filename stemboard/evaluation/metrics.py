"""Per-stem quality scores: the tutorial's BSS Eval SDR, the MDX challenge SDR and SI-SDR.

Every function here takes one stem as ``[channels, samples]`` arrays (reference, estimate) and
returns dB. :func:`score_stem` computes all three with the edge cases settled: a silent
reference makes BSS Eval undefined (NaN and a note, not an exception).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stemboard.evaluation.bss_eval import as_rows, bss_eval_sources

MDX_EPSILON = 1e-7
"""Added to both energies of the MDX SDR (the challenge's ``delta``)."""

SI_SDR_EPSILON = 1e-8
"""Keeps SI-SDR finite for a perfect or a silent estimate (see :func:`si_sdr`)."""


def tutorial_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """The torchaudio tutorial's SDR of one stem: BSS Eval with the channels as the sources.

    Example::

        tutorial_sdr(vocals_reference, vocals_estimate)     # [2, n] each -> dB

    Exactly what the tutorial prints: ``bss_eval_sources(reference, estimate)[0].mean()`` with
    ``reference`` and ``estimate`` ``[channels, samples]``, so each channel is a "source",
    filtered by up to 512 taps, the channel pairing chosen for the best mean SIR (left and
    right may swap), and the two SDRs averaged. Raises ``ValueError`` as
    :func:`bss_eval_sources` does (a silent channel, different shapes, NaN).
    """
    sdr, _, _, _ = bss_eval_sources(reference, estimate)
    return float(np.mean(sdr))


def mdx_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """The Music Demixing Challenge 2021 SDR of one stem over all its channels and samples.

    Example::

        mdx_sdr(reference, estimate)                          # [channels, n] each -> dB

    ``10 log10((sum(reference²) + ε) / (sum((reference - estimate)²) + ε))`` with
    ε = ``MDX_EPSILON`` (1e-7), summed over every channel and sample: no filter, no scale or
    permutation allowance. This is the definition of Mitsufuji et al., "Music Demixing
    Challenge 2021" (Frontiers in Signal Processing, 2022), as in the challenge's starter kit
    and demucs' ``evaluate.new_sdr``. A perfect estimate gives
    ``10 log10(sum(reference²) / ε + 1)``; a silent reference gives ``0`` dB for a silent
    estimate and a large negative value otherwise.
    """
    reference, estimate = _pair(reference, estimate)
    signal = np.sum(reference**2) + MDX_EPSILON
    error = np.sum((reference - estimate) ** 2) + MDX_EPSILON
    return float(10 * np.log10(signal / error))


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant SDR of one stem: per channel, then averaged (Le Roux et al. 2019).

    Example::

        si_sdr(reference, 0.5 * reference + noise)   # = si_sdr(reference, reference + 2 * noise)

    For each channel, with ``s`` the reference and ``ŝ`` the estimate both made zero-mean
    (as in Le Roux, Wisdom, Erdogan and Hershey, "SDR – half-baked or well done?", ICASSP
    2019):

        α = <ŝ, s> / (<s, s> + ε),   target = α s,   noise = ŝ - target,
        SI-SDR = 10 log10(|target|² / (|noise|² + ε) + ε),      ε = ``SI_SDR_EPSILON`` (1e-8)

    ε is placed as in Asteroid's ``SingleSrcNegSDR`` (``zero_mean=True``) and keeps the value
    finite: a perfect estimate gives about ``10 log10(|s|² / ε)`` (over 100 dB for audible
    signals), a silent estimate or one with nothing along ``s`` the floor
    ``10 log10(ε)`` = -80 dB; elsewhere it changes nothing measurable. The result is the mean
    over the channels whose reference is not silent (not constant); NaN if every channel is.
    Scaling the estimate by any non-zero factor
    leaves the value unchanged. ``[samples]`` arrays count as one channel.
    """
    reference, estimate = _pair(reference, estimate)
    reference = reference - reference.mean(axis=1, keepdims=True)
    estimate = estimate - estimate.mean(axis=1, keepdims=True)
    energy = np.sum(reference**2, axis=1)
    audible = energy > 0
    if not np.any(audible):
        return float("nan")
    reference, estimate, energy = reference[audible], estimate[audible], energy[audible]
    alpha = np.sum(estimate * reference, axis=1) / (energy + SI_SDR_EPSILON)
    target = alpha[:, np.newaxis] * reference
    noise = estimate - target
    ratio = np.sum(target**2, axis=1) / (np.sum(noise**2, axis=1) + SI_SDR_EPSILON)
    return float(np.mean(10 * np.log10(ratio + SI_SDR_EPSILON)))


@dataclass(frozen=True)
class StemScores:
    """One stem's scores in dB; ``notes`` explains any NaN.

    ``sdr``: the tutorial's BSS Eval SDR (:func:`tutorial_sdr`), NaN where undefined.
    ``mdx_sdr``: :func:`mdx_sdr`. ``si_sdr``: :func:`si_sdr`.
    """

    sdr: float
    mdx_sdr: float
    si_sdr: float
    notes: tuple[str, ...] = field(default=())


def score_stem(reference: np.ndarray, estimate: np.ndarray, name: str = "stem") -> StemScores:
    """All three scores of one stem, ``[channels, samples]`` each (same shape).

    Example::

        score_stem(reference, estimate, "vocals").sdr

    A silent channel (all zeros) in the reference or the estimate leaves BSS Eval undefined:
    ``sdr`` is NaN and a note says which (the other scores are still computed). Raises
    ``ValueError`` for NaN or infinite samples and for different shapes; ``name`` is used in
    the messages.
    """
    reference, estimate = _pair(reference, estimate, name)
    notes = []
    sdr = float("nan")
    silent = _silent_channels(reference, f"{name}: reference") + _silent_channels(
        estimate, f"{name}: estimate"
    )
    if silent:
        notes.append(f"{'; '.join(silent)}: BSS Eval SDR is undefined (reported as NaN)")
    else:
        sdr = tutorial_sdr(reference, estimate)
    scale_free = si_sdr(reference, estimate)
    if np.isnan(scale_free):
        notes.append(f"{name}: the reference is constant; SI-SDR is undefined (reported as NaN)")
    return StemScores(sdr, mdx_sdr(reference, estimate), scale_free, tuple(notes))


def _silent_channels(audio: np.ndarray, what: str) -> list[str]:
    silent = np.flatnonzero(~np.any(audio != 0, axis=1))
    if silent.size == audio.shape[0]:
        return [f"{what} is silent"]
    return [f"{what} channel {c} is silent" for c in silent]


def _pair(
    reference: np.ndarray, estimate: np.ndarray, name: str = "stem"
) -> tuple[np.ndarray, np.ndarray]:
    """Both as float64 ``[channels, samples]``, checked for equal shapes and finite values."""
    pair = [
        as_rows(audio, f"{name}: {what}", "channels")
        for what, audio in (("reference", reference), ("estimate", estimate))
    ]
    if pair[0].shape != pair[1].shape:
        raise ValueError(
            f"{name}: reference and estimate shapes differ: {pair[0].shape} and {pair[1].shape}"
        )
    return pair[0], pair[1]
