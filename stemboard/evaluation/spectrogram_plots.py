"""Spectrogram pictures of an evaluation, as the torchaudio tutorial draws them, as PNG files.

The tutorial shows ``20 log10(|STFT| + 1e-8)`` with ``n_fft=4096`` and a hop of 4 samples on
5 s of audio, colours from -60 to 0 dB. Here the hop grows with the length instead (see
:func:`spectrogram_hop`) so a whole song stays a few thousand frames, the dB values are taken
relative to the reference's loudest bin so the colour range -60..0 dB always shows the top
60 dB, and the frequency axis is logarithmic from 20 Hz, as audio editors draw it: every octave
gets the same height, so the bass and the voice are not squeezed into the bottom eighth.
matplotlib (Agg backend) is imported only when a picture is drawn.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from stemboard.atomic import atomic_path
from stemboard.errors import StemboardError
from stemboard.evaluation.folders import EvaluationResult, read_window

if TYPE_CHECKING:
    from matplotlib.figure import Figure

N_FFT = 4096
"""FFT size of the pictures' STFT (the tutorial's)."""

MAX_FRAMES = 2000
"""About how many STFT frames a picture holds before the hop stops growing (see below)."""

FLOOR_DB = -60.0
"""The bottom of the colour range; 0 dB is the loudest bin of the top panel (the reference)."""

LOWEST_HZ = 20.0
"""The bottom of the (logarithmic) frequency axis; the top is the Nyquist frequency."""

FREQUENCY_TICKS_HZ = (20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000)
"""Where the frequency axis is labelled (those below the Nyquist frequency)."""


def spectrogram_hop(samples: int) -> int:
    """The STFT hop for a ``samples``-long picture: about ``samples / MAX_FRAMES``.

    Never below the tutorial's 4 and never above ``N_FFT // 4`` (75 % overlap, so no sample is
    skipped): 5 s at 44.1 kHz gives 111, 30 s gives 662, and from about 3 minutes on it is
    1024 (a 5-minute song is then about 13,000 frames).
    """
    return min(N_FFT // 4, max(4, math.ceil(samples / MAX_FRAMES)))


def spectrogram_db(audio: np.ndarray, hop: int) -> np.ndarray:
    """``20 log10(|STFT| + 1e-8)`` of mono ``[samples]`` audio: float32 ``[N_FFT//2 + 1, frames]``.

    As torchaudio's ``Spectrogram(n_fft=4096, hop_length=hop, power=None)`` with its defaults:
    a periodic Hann window, frames centred on ``t * hop`` with reflect padding (zero padding
    for audio shorter than half a frame), no normalisation.
    """
    audio = np.asarray(audio, dtype=np.float64)
    half = N_FFT // 2
    mode = "reflect" if audio.size > half else "constant"
    padded = np.pad(audio, half, mode=mode)
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::hop]
    window = np.hanning(N_FFT + 1)[:-1]
    out = np.empty((half + 1, frames.shape[0]), dtype=np.float32)
    for first in range(0, frames.shape[0], 256):
        block = np.fft.rfft(frames[first : first + 256] * window, axis=1)
        out[:, first : first + 256] = (20 * np.log10(np.abs(block) + 1e-8)).T
    return out


def plot_spectrograms(
    result: EvaluationResult, directory: str | os.PathLike[str]
) -> dict[str, Path]:
    """Draw ``{stem}.png`` per stem (reference above estimate) and ``mixture.png``.

    Example::

        result = evaluate_folders("musdb/test/song", "out/song", segment=(150, 155))
        plot_spectrograms(result, "plots")      # {"drums": Path("plots/drums.png"), ...}

    Each picture shows the left channel (channel 0, as the tutorial) of the span that
    ``result`` compared, time in seconds from the start of the song, frequency on a log axis
    from 20 Hz to the Nyquist frequency, titled with the stem and its SDRs. ``mixture.png``
    shows the reference folder's mixture file, or the sum of the evaluated reference stems when
    there is none. Files are written under a temporary name and renamed. Returns
    ``{name: path}``; :class:`StemboardError` if the folder cannot be created or written.
    """
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StemboardError(f"{directory}: cannot create: {error.strerror or error}") from None
    start, stop, rate = result.start, result.stop, result.sample_rate
    hop = spectrogram_hop(stop - start)
    seconds = (start / rate, stop / rate)
    written: dict[str, Path] = {}
    mix = None
    for name, files in result.files.items():
        reference = read_window(files.reference, start, stop)
        estimate = read_window(files.estimate, start, stop)
        mix = reference if mix is None else mix + reference
        scores = result.stems[name]
        title = f"{name}: SDR {_db(scores.sdr)} (bss_eval), {_db(scores.mdx_sdr)} (MDX)"
        panels = [("reference", reference[0]), ("estimate", estimate[0])]
        figure = spectrogram_figure(title, panels, hop, seconds, rate)
        written[name] = _save(figure, directory / f"{name}.png")
    if result.mixture is not None:
        mix = read_window(result.mixture, start, stop)
        label = f"mixture ({result.mixture.name})"
    else:
        label = "mixture (sum of the reference stems)"
    figure = spectrogram_figure(label, [("", mix[0])], hop, seconds, rate)
    written["mixture"] = _save(figure, directory / "mixture.png")
    return written


def spectrogram_figure(
    title: str,
    panels: list[tuple[str, np.ndarray]],
    hop: int,
    seconds: tuple[float, float],
    sample_rate: float,
) -> Figure:
    """A matplotlib ``Figure``: one spectrogram per ``(label, mono [samples])`` panel, stacked.

    dB are relative to the first panel's loudest bin; time runs over ``seconds`` (start, stop);
    frequency is on a log axis from :data:`LOWEST_HZ` to the Nyquist frequency. The image holds
    the STFT's bins without the 0 Hz one, and matplotlib maps them through the log scale.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    images = [spectrogram_db(audio, hop)[1:] for _, audio in panels]
    peak = float(images[0].max())
    bin_hz = sample_rate / N_FFT
    nyquist = sample_rate / 2
    extent = (*seconds, 0.5 * bin_hz, nyquist + 0.5 * bin_hz)
    figure = Figure(figsize=(10, 3.2 * len(panels) + 0.6), layout="constrained")
    axes = figure.subplots(len(panels), 1, sharex=True, sharey=True, squeeze=False)[:, 0]
    for ax, (label, _), image in zip(axes, panels, images, strict=True):
        shown = ax.imshow(
            image - peak,
            origin="lower",
            aspect="auto",
            extent=extent,
            cmap="viridis",
            vmin=FLOOR_DB,
            vmax=0.0,
            interpolation="antialiased",
        )
        ax.set_yscale("log")
        ax.set_ylim(LOWEST_HZ, nyquist)
        ax.yaxis.set_major_locator(FixedLocator([f for f in FREQUENCY_TICKS_HZ if f < nyquist]))
        ax.yaxis.set_major_formatter(FuncFormatter(_hz))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_ylabel("frequency")
        if label:
            ax.set_title(label, loc="left", fontsize="medium")
    axes[-1].set_xlabel("time (s)")
    figure.suptitle(f"{title} — left channel, n_fft {N_FFT}, hop {hop}")
    figure.colorbar(shown, ax=list(axes), label="dB re. the top panel's peak")
    return figure


def _save(figure: Figure, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    try:
        with atomic_path(path) as temporary:
            figure.savefig(temporary, dpi=100)
    except OSError as error:
        raise StemboardError(f"{path}: cannot write: {error.strerror or error}") from None
    return path


def _hz(value: float, _position: int) -> str:
    return f"{value / 1000:g} kHz" if value >= 1000 else f"{value:g} Hz"


def _db(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f} dB"
