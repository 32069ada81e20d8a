"""Scoring a folder of separated stems against a folder of reference stems.

A reference folder holds ``{stem}.{ext}`` per stem (and optionally ``mixture.{ext}``), as
MUSDB18-HQ does; an estimate folder holds ``{stem}.{ext}`` as ``stemboard separate`` writes
into ``OUT/{track}/``. :func:`evaluate_folders` pairs them by stem name, checks that they can
be compared (one sample rate, same channels, lengths within 1 %), reads each pair (or the
``segment`` window of it) and scores it with :func:`~stemboard.evaluation.metrics.score_stem`.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stemboard.atomic import atomic_path
from stemboard.audio.reading import AudioInfo, audio_info, read_span
from stemboard.audio.writing import SUPPORTED_FORMATS
from stemboard.errors import DestinationError, StemboardError
from stemboard.evaluation.metrics import StemScores, score_stem
from stemboard.registry import MUSDB_SOURCES

MIXTURE = "mixture"
"""The file name (without extension) of a reference folder's mix, used for the plots only."""

LENGTH_TOLERANCE = 0.01
"""Files whose lengths differ by at most this fraction (codec padding) are compared over the
shortest; a bigger difference is an error."""

METRICS = {
    "sdr": "BSS Eval SDR as the torchaudio tutorial computes it: mir_eval's "
    "bss_eval_sources(reference [channels, n], estimate [channels, n]) with the channels as "
    "the sources, mean of the SDRs",
    "mdx_sdr": "Music Demixing Challenge 2021 SDR: 10*log10((sum(ref**2) + 1e-7) / "
    "(sum((ref - est)**2) + 1e-7)) over all channels and samples",
    "si_sdr": "scale-invariant SDR (Le Roux et al. 2019) of the zero-mean signals, eps 1e-8, "
    "per channel, then averaged",
}
"""What each score in an :class:`EvaluationResult` is (also written into its JSON)."""


@dataclass(frozen=True)
class StemFiles:
    """The two files compared for one stem."""

    reference: Path
    estimate: Path


@dataclass(frozen=True)
class EvaluationResult:
    """Scores of one separated track, per stem and averaged, and what was compared.

    Example::

        result = evaluate_folders("musdb/test/song", "out/song", segment=(150, 155))
        result.stems["vocals"].sdr           # dB, as the tutorial prints it
        result.mean.mdx_sdr
        Path("scores.json").write_text(result.to_json())

    ``stems`` maps each evaluated stem (reference order: drums, bass, other, vocals, then
    others alphabetically) to its :class:`StemScores`; ``files`` to its two files.
    ``start`` and ``stop`` are the compared samples ``[start, stop)`` at ``sample_rate``;
    ``segment`` is the window asked for in seconds (None: the whole song). ``mixture`` is the
    reference folder's mixture file, if any. ``notes`` lists what a reader should know: stems
    only in one folder, trimmed lengths, undefined scores.
    """

    reference_dir: Path
    estimate_dir: Path
    sample_rate: float
    start: int
    stop: int
    segment: tuple[float, float] | None
    stems: dict[str, StemScores]
    files: dict[str, StemFiles]
    mixture: Path | None
    notes: tuple[str, ...]

    @property
    def mean(self) -> StemScores:
        """Each score averaged over the stems where it is defined (NaN where it is nowhere)."""
        return StemScores(
            *(_mean([getattr(s, key) for s in self.stems.values()]) for key in METRICS)
        )

    @property
    def duration(self) -> float:
        """Seconds compared."""
        return (self.stop - self.start) / self.sample_rate

    def to_dict(self) -> dict:
        """The result as plain JSON types; NaN and infinities become None (see ``notes``)."""

        def scores(s: StemScores) -> dict:
            return {key: _json_number(getattr(s, key)) for key in METRICS}

        return {
            "reference": str(self.reference_dir),
            "estimate": str(self.estimate_dir),
            "sample_rate": self.sample_rate,
            "segment": list(self.segment) if self.segment is not None else None,
            "start_seconds": self.start / self.sample_rate,
            "end_seconds": self.stop / self.sample_rate,
            "metrics": dict(METRICS),
            "stems": {
                name: {
                    **scores(s),
                    "reference_file": str(self.files[name].reference),
                    "estimate_file": str(self.files[name].estimate),
                }
                for name, s in self.stems.items()
            },
            "mean": scores(self.mean),
            "notes": list(self.notes),
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as indented, strict JSON (no NaN tokens)."""
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"

    def write_json(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`to_json` to ``path`` atomically (a temporary name, then a rename)."""
        path = Path(path)
        try:
            with atomic_path(path) as temporary:
                temporary.write_text(self.to_json(), encoding="utf-8")
        except OSError as error:
            raise DestinationError(f"{path}: cannot write: {error.strerror or error}") from None
        return path

    def table(self) -> str:
        """A text table: one row per stem, a mean row, and the span compared."""
        span = "whole song" if self.segment is None else "window"
        headers = ("stem", "SDR (bss_eval, as the tutorial)", f"SDR (MDX, {span})", "SI-SDR")
        rows = [(name, s) for name, s in self.stems.items()] + [("mean", self.mean)]
        width = max(len(headers[0]), *(len(name) for name, _ in rows))
        lines = [
            "  ".join([headers[0].ljust(width), *headers[1:]]),
        ]
        for name, s in rows:
            cells = [
                _cell(value).rjust(len(header))
                for value, header in zip((s.sdr, s.mdx_sdr, s.si_sdr), headers[1:], strict=True)
            ]
            lines.append("  ".join([name.ljust(width), *cells]))
        start, end = self.start / self.sample_rate, self.stop / self.sample_rate
        lines.append(f"(dB; {start:.3f}–{end:.3f} s at {self.sample_rate:g} Hz)")
        return "\n".join(lines)


def evaluate_folders(
    reference_dir: str | os.PathLike[str],
    estimate_dir: str | os.PathLike[str],
    segment: tuple[float, float] | None = None,
) -> EvaluationResult:
    """Score the stems of ``estimate_dir`` against those of ``reference_dir``.

    Example::

        result = evaluate_folders("musdb/test/song", "out/song", segment=(150.0, 155.0))
        print(result.table())

    Stems are the files ``{stem}.{ext}`` with ``ext`` one of
    :data:`stemboard.audio.writing.SUPPORTED_FORMATS`
    (hidden files are skipped); those in both folders are scored, the others are listed in the
    notes; ``mixture`` in the reference folder is only plotted. ``segment`` is ``(start, end)``
    in seconds; without it the whole song is compared. Lengths differing by at most 1 % are
    compared over the shortest.

    Raises :class:`StemboardError` naming the folder or file for: a missing folder, no stem in
    common, two files for one stem, an unreadable file, different sample rates or channel
    counts, lengths differing by more than 1 %, a segment outside the audio, or NaN/infinite
    samples.
    """
    reference_dir, estimate_dir = Path(reference_dir), Path(estimate_dir)
    references, estimates = _stem_files(reference_dir), _stem_files(estimate_dir)
    mixture = references.pop(MIXTURE, None)
    notes = []
    if estimates.pop(MIXTURE, None) is not None:
        notes.append(f"{estimate_dir}: {MIXTURE} is not a stem; ignored")
    names = _ordered([name for name in references if name in estimates])
    if not names:
        raise StemboardError(
            f"no stems in common between {reference_dir} ({_listing(references)}) and "
            f"{estimate_dir} ({_listing(estimates)})"
        )
    for name in _ordered([n for n in estimates if n not in references]):
        notes.append(f"{name}: only in the estimate folder {estimate_dir}; not evaluated")
    for name in _ordered([n for n in references if n not in estimates]):
        notes.append(f"{name}: only in the reference folder {reference_dir}; not evaluated")
    files = {name: StemFiles(references[name], estimates[name]) for name in names}

    infos = _checked_infos(files, mixture)
    sample_rate = next(iter(infos.values())).sample_rate
    length = min(info.frames for info in infos.values())
    longest = max(info.frames for info in infos.values())
    if longest != length:
        notes.append(
            f"file lengths differ by up to {longest - length} samples; compared over the "
            f"shortest ({length} samples)"
        )
    start, stop = _window(segment, length, sample_rate)

    stems = {}
    for name, pair in files.items():
        reference = read_window(pair.reference, start, stop)
        estimate = read_window(pair.estimate, start, stop)
        stems[name] = score_stem(reference, estimate, name)
        notes.extend(stems[name].notes)
    return EvaluationResult(
        reference_dir=reference_dir,
        estimate_dir=estimate_dir,
        sample_rate=sample_rate,
        start=start,
        stop=stop,
        segment=None if segment is None else (float(segment[0]), float(segment[1])),
        stems=stems,
        files=files,
        mixture=mixture,
        notes=tuple(notes),
    )


def read_window(path: str | os.PathLike[str], start: int, stop: int) -> np.ndarray:
    """Samples ``[start, stop)`` of an audio file as float64 ``[channels, stop - start]``.

    Raises :class:`StemboardError` naming the file if it cannot be decoded, is shorter than
    ``stop``, or holds NaN or infinite samples.
    """
    path = Path(path)
    audio = read_span(path, start, stop)
    if audio.shape[1] != stop - start:
        raise StemboardError(
            f"{path}: expected {stop - start} samples from {start}, decoded {audio.shape[1]}"
        )
    return audio.astype(np.float64)


def _stem_files(directory: Path) -> dict[str, Path]:
    """``{stem: file}`` for the audio files of ``directory``."""
    if not directory.exists():
        raise StemboardError(f"{directory}: no such folder")
    if not directory.is_dir():
        raise StemboardError(f"{directory}: not a folder")
    found: dict[str, Path] = {}
    for path in sorted(directory.iterdir()):
        suffix = path.suffix.lower().removeprefix(".")
        if path.name.startswith(".") or suffix not in SUPPORTED_FORMATS or not path.is_file():
            continue
        if path.stem in found:
            raise StemboardError(
                f"{directory}: two files for {path.stem!r} ({found[path.stem].name} and "
                f"{path.name}); keep one"
            )
        found[path.stem] = path
    return found


def _ordered(names: list[str]) -> list[str]:
    """MUSDB's order (drums, bass, other, vocals), then any other names alphabetically."""
    known = [name for name in MUSDB_SOURCES if name in names]
    return known + sorted(name for name in names if name not in MUSDB_SOURCES)


def _listing(files: dict[str, Path]) -> str:
    if not files:
        return f"no {'/'.join(SUPPORTED_FORMATS)} files"
    return ", ".join(_ordered(list(files)))


def _checked_infos(files: dict[str, StemFiles], mixture: Path | None) -> dict[Path, AudioInfo]:
    """Every file's :class:`AudioInfo`, after checking rates, channels and lengths agree."""
    paths = [path for pair in files.values() for path in (pair.reference, pair.estimate)]
    if mixture is not None:
        paths.append(mixture)
    infos = {path: audio_info(path) for path in paths}
    first = paths[0]
    for path in paths[1:]:
        if infos[path].sample_rate != infos[first].sample_rate:
            raise StemboardError(
                f"sample rates differ: {first} is {infos[first].sample_rate:g} Hz, {path} is "
                f"{infos[path].sample_rate:g} Hz; resample one of them"
            )
    for pair in files.values():
        ours, theirs = infos[pair.reference].channels, infos[pair.estimate].channels
        if ours != theirs:
            raise StemboardError(
                f"channel counts differ: {pair.reference} has {ours}, {pair.estimate} has {theirs}"
            )
    shortest = min(paths, key=lambda p: infos[p].frames)
    longest = max(paths, key=lambda p: infos[p].frames)
    short, long = infos[shortest].frames, infos[longest].frames
    if short == 0:
        raise StemboardError(f"{shortest}: the file holds no audio")
    if long - short > LENGTH_TOLERANCE * long:
        raise StemboardError(
            f"lengths differ by more than {LENGTH_TOLERANCE:.0%}: {shortest} has {short} "
            f"samples, {longest} has {long}"
        )
    return infos


def _window(
    segment: tuple[float, float] | None, length: int, sample_rate: float
) -> tuple[int, int]:
    """The samples ``[start, stop)`` of ``segment`` (seconds), checked against ``length``."""
    if segment is None:
        return 0, length
    start_s, end_s = (float(x) for x in segment)
    duration = length / sample_rate
    if not (math.isfinite(start_s) and math.isfinite(end_s)) or start_s < 0:
        raise StemboardError(
            f"segment {start_s:g}–{end_s:g} s: start and end must be finite and start >= 0"
        )
    if end_s <= start_s:
        raise StemboardError(f"segment {start_s:g}–{end_s:g} s: end must be after start")
    start, stop = round(start_s * sample_rate), round(end_s * sample_rate)
    if stop > length:
        raise StemboardError(
            f"segment {start_s:g}–{end_s:g} s ends after the audio, which is {duration:.3f} s long"
        )
    if stop <= start:
        raise StemboardError(f"segment {start_s:g}–{end_s:g} s holds no whole sample")
    return start, stop


def _mean(values: list[float]) -> float:
    defined = [v for v in values if not math.isnan(v)]
    return float(np.mean(defined)) if defined else float("nan")


def _json_number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _cell(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}"
