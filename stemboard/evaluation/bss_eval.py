"""BSS Eval's source metrics (SDR, SIR, SAR) in numpy, as ``mir_eval.separation`` computes them.

The torchaudio tutorial scores its stems with ``mir_eval.separation.bss_eval_sources``; this is
the same algorithm (mir_eval 0.7/0.8, after Vincent, Gribonval and Févotte 2006, section III.B),
rewritten so the runtime needs neither mir_eval nor scipy, and organised to share work:

1. Each estimate is projected by least squares onto the span of the references delayed by
   0..511 samples (``FILTER_LENGTH`` taps): once onto its own reference's delays (the allowed
   filtering distortion), once onto all references' delays (that plus interference).
2. The normal equations use the Gram matrix of the delayed references, built from FFT
   cross-correlations; it does not depend on the estimate, so it is built once per call and
   every estimate (and every reference pairing) reuses it. A linear solve gives the filters
   (least squares where the matrix is exactly singular, as mir_eval does).
3. The filtered references are summed in the frequency domain, giving the projections, and
   SDR/SIR/SAR are their energy ratios in dB.
4. With ``compute_permutation`` every estimate is scored against every reference and the
   pairing with the best mean SIR wins.
"""

from __future__ import annotations

import itertools

import numpy as np

FILTER_LENGTH = 512
"""Taps of the time-invariant distortion filter BSS Eval allows (mir_eval's ``flen``)."""


def bss_eval_sources(
    reference: np.ndarray, estimate: np.ndarray, compute_permutation: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """SDR, SIR, SAR (dB) and the pairing, as ``mir_eval.separation.bss_eval_sources``.

    Example::

        sdr, sir, sar, perm = bss_eval_sources(reference, estimate)   # [2, n] each
        sdr.mean()                                 # the tutorial's score for one stem

    ``reference`` and ``estimate`` are ``[sources, samples]`` (or ``[samples]`` for one source),
    the same shape. Returns four ``[sources]`` arrays: ``sdr[j]``, ``sir[j]`` and ``sar[j]``
    score estimate ``perm[j]`` against reference ``j``. With ``compute_permutation`` (the
    default, as in mir_eval) ``perm`` is the pairing with the highest mean SIR; without it,
    ``perm`` is ``0, 1, ...``. A zero-energy error gives ``+inf``, as in mir_eval.

    Raises ``ValueError`` for different shapes, more than 2 dimensions, non-finite values, or a
    source that is all zeros in either input (the decomposition is then undefined; mir_eval
    refuses such input too, although its test is a zero *sum*). Empty input gives empty arrays.
    """
    reference = as_rows(reference, "reference")
    estimate = as_rows(estimate, "estimate")
    if reference.shape != estimate.shape:
        raise ValueError(
            f"reference and estimate must have the same shape, got {reference.shape} and "
            f"{estimate.shape}"
        )
    if reference.size == 0:
        empty = np.array([])
        return empty, empty, empty, empty.astype(int)
    for name, sources in (("reference", reference), ("estimate", estimate)):
        silent = np.flatnonzero(~np.any(sources != 0, axis=1))
        if silent.size:
            raise ValueError(
                f"{name} source {silent[0]} is all zeros: BSS Eval is undefined for a silent source"
            )

    decomposition = _Decomposition(reference)
    sources = reference.shape[0]
    # scores[k, est, ref] with k = SDR, SIR, SAR; only the diagonal without permutations.
    scores = np.full((3, sources, sources), np.nan)
    for est in range(sources):
        refs = list(range(sources)) if compute_permutation else [est]
        scores[:, est, refs] = decomposition.criteria(estimate[est], refs)

    order = np.arange(sources)
    if compute_permutation:
        # mir_eval's order of candidates, so that ties resolve the same way.
        candidates = list(itertools.permutations(range(sources)))
        mean_sir = [np.mean(scores[1, list(perm), order]) for perm in candidates]
        best = np.asarray(candidates[int(np.argmax(mean_sir))])
    else:
        best = order
    sdr, sir, sar = scores[:, best, order]
    return sdr, sir, sar, best


def as_rows(x: np.ndarray, name: str, rows: str = "sources") -> np.ndarray:
    """``x`` as float64 ``[rows, samples]`` (1-D becomes one row), finite, or a ValueError."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[np.newaxis, :]
    if x.ndim != 2:
        raise ValueError(f"{name} must be [{rows}, samples], got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


class _Decomposition:
    """The references' delayed-copy subspaces, ready to project any estimate onto them.

    ``reference`` is ``[sources, samples]``; after zero-padding by ``FILTER_LENGTH - 1`` samples
    (room for the filters' tails), signals are ``length = samples + FILTER_LENGTH - 1`` long.
    """

    def __init__(self, reference: np.ndarray) -> None:
        self.sources, self.samples = reference.shape
        self.length = self.samples + FILTER_LENGTH - 1
        # Long enough that circular correlations at lags below FILTER_LENGTH do not wrap.
        self.n_fft = 1 << (self.length - 1).bit_length()
        self.reference = reference
        self.spectra = np.fft.rfft(reference, n=self.n_fft, axis=1)
        taps = np.arange(FILTER_LENGTH)
        # lag_index[a, b] picks the correlation at lag b - a (negative lags wrap around).
        self._lag_index = (taps[np.newaxis, :] - taps[:, np.newaxis]) % self.n_fft
        self.gram = self._gram()

    def _correlation(self, spectrum_a: np.ndarray, spectrum_b: np.ndarray) -> np.ndarray:
        """``c[k] = sum_t a[t + k] b[t]`` for every lag ``k`` (negative lags at the end)."""
        return np.fft.irfft(spectrum_a * np.conj(spectrum_b), n=self.n_fft)

    def _gram(self) -> np.ndarray:
        """``G[i*L + a, j*L + b]`` = <reference i delayed by a, reference j delayed by b>."""
        size = self.sources * FILTER_LENGTH
        gram = np.empty((size, size))
        for i in range(self.sources):
            for j in range(i, self.sources):
                block = self._correlation(self.spectra[i], self.spectra[j])[self._lag_index]
                gram[_block(i), _block(j)] = block
                gram[_block(j), _block(i)] = block.T
        return gram

    def criteria(self, estimate: np.ndarray, refs: list[int]) -> np.ndarray:
        """``[3, len(refs)]``: SDR, SIR, SAR of ``estimate [samples]`` against each of ``refs``."""
        spectrum = np.fft.rfft(estimate, n=self.n_fft)
        # D[i*L + a] = <reference i delayed by a, estimate>: correlations at lags 0, -1, ...
        lags = -np.arange(FILTER_LENGTH) % self.n_fft
        inner = np.concatenate(
            [self._correlation(self.spectra[i], spectrum)[lags] for i in range(self.sources)]
        )
        padded = np.zeros(self.length)
        padded[: self.samples] = estimate

        every = self._project(list(range(self.sources)), inner)
        out = np.empty((3, len(refs)))
        for column, j in enumerate(refs):
            own = self._project([j], inner[_block(j)])
            # own = reference j filtered (the target), every - own = interference,
            # padded - every = artifacts.
            target_energy = np.sum(own**2)
            out[0, column] = _db(target_energy, np.sum((padded - own) ** 2))
            out[1, column] = _db(target_energy, np.sum((every - own) ** 2))
            out[2, column] = _db(np.sum(every**2), np.sum((padded - every) ** 2))
        return out

    def _project(self, refs: list[int], inner: np.ndarray) -> np.ndarray:
        """Least-squares projection onto the delays of ``refs``, given its inner products."""
        index = np.concatenate([np.arange(FILTER_LENGTH) + r * FILTER_LENGTH for r in refs])
        gram = self.gram[np.ix_(index, index)]
        try:
            filters = np.linalg.solve(gram, inner)
        except np.linalg.LinAlgError:
            filters = np.linalg.lstsq(gram, inner, rcond=None)[0]
        filters = filters.reshape(len(refs), FILTER_LENGTH)
        spectrum = np.zeros(self.n_fft // 2 + 1, dtype=complex)
        for taps, r in zip(filters, refs, strict=True):
            spectrum += np.fft.rfft(taps, n=self.n_fft) * self.spectra[r]
        return np.fft.irfft(spectrum, n=self.n_fft)[: self.length]


def _block(i: int) -> slice:
    return slice(i * FILTER_LENGTH, (i + 1) * FILTER_LENGTH)


def _db(signal: float, noise: float) -> float:
    """``10 log10(signal / noise)``; ``+inf`` for a zero noise energy, as mir_eval does."""
    if noise == 0:
        return float("inf")
    with np.errstate(divide="ignore"):
        return float(10 * np.log10(signal / noise))
