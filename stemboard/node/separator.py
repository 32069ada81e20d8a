"""``SeparatorNode``: an exported HDemucs behind pedalboard's ``Plugin.process`` interface.

Two faces over one engine. :meth:`SeparatorNode.open_stream` is the planar face the graph and
the file renderer use: ``[channels, n]`` blocks in, ``[sources, channels, m]`` stems out, no
guessing (:mod:`stemboard.node.stream`). ``process`` / ``separate`` are the pedalboard-style face
on top of it: they take audio in any of pedalboard's layouts, convert it once
(:mod:`stemboard.audio.layout`), run a stream, and convert back.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterable, Mapping

import numpy as np

from stemboard.audio.layout import Layout, from_planar, to_planar
from stemboard.errors import InvalidValueError
from stemboard.node.backend import Session
from stemboard.node.overlap_add import stride_for
from stemboard.node.session import open_session
from stemboard.node.stream import Normalisation, SeparationStream, shift_offsets
from stemboard.registry import model_path

MAX_GAIN = 1000.0
"""The largest linear stem gain ``gains`` accepts (+60 dB), either sign."""


def _gain_vector(
    sources: tuple[str, ...],
    stem: str | Iterable[str] | None,
    gains: Mapping[str, float] | None,
) -> np.ndarray:
    """Per-source gains: ``stem`` keeps only those (others 0), ``gains`` sets any of them."""
    known = ", ".join(sources)
    if stem is None:
        vector = {name: 1.0 for name in sources}
    else:
        chosen = [stem] if isinstance(stem, str) else list(stem)
        unknown = [name for name in chosen if name not in sources]
        if unknown or not chosen:
            name = unknown[0] if unknown else stem
            raise InvalidValueError(f"unknown stem {name!r}; the model has: {known}")
        vector = {name: float(name in chosen) for name in sources}
    for name, gain in (gains or {}).items():
        if name not in sources:
            raise InvalidValueError(f"unknown stem {name!r} in gains; the model has: {known}")
        try:
            gain = float(gain)
        except (TypeError, ValueError):
            raise InvalidValueError(f"gain for {name!r} must be a number, got {gain!r}") from None
        if not (math.isfinite(gain) and abs(gain) <= MAX_GAIN):
            raise InvalidValueError(
                f"gain for {name!r} must be a number in [-{MAX_GAIN:g}, {MAX_GAIN:g}] "
                f"(+60 dB), got {gain}"
            )
        vector[name] = gain
    return np.array([vector[name] for name in sources], dtype=np.float32)


class SeparatorNode:
    """Hybrid Demucs source separation as a pedalboard-style plugin.

    Example::

        from stemboard import SeparatorNode
        node = SeparatorNode("demo")                        # or a .onnx path
        stems = node.separate(audio, 44100)                 # {"drums": [2, n], "bass": ...}
        karaoke = SeparatorNode("demo", gains={"vocals": 0})
        backing = karaoke(audio, 44100)                     # like any pedalboard Plugin

    ``model``: a path to an exported ``.onnx`` or a known name (``demo``, or
    ``hdemucs_high_musdb_plus`` once exported: :func:`stemboard.models.ensure_model` or
    ``stemboard export`` makes it). ``device``: ``"auto"`` (the GPU when one works), ``"cuda"``
    or ``"cpu"``. ``overlap``: fraction of a segment shared with the next (default 0.25).
    ``batch_size``: segments per run (default 8 on the GPU; on the CPU as many as the session
    runs at once: 2 with OpenVINO on two cores or more, else 1). ``stem`` / ``gains``:
    what ``process`` returns, ``sum(gain[s] * stem[s])``. ``precision``: ``"auto"`` (the fastest
    path that passes the quality gate here: bf16 on a CPU with native bf16, fp32 otherwise),
    ``"fp32"``, ``"bf16"`` (CPU, OpenVINO) or ``"fp16"`` (the ``.fp16.onnx`` file beside the model,
    for the GPU); :meth:`describe` says what runs. ``fp16=True`` is the old spelling of
    ``precision="fp16"``. ``threads``: CPU threads per run (default: every core this process
    may use; nodes in one process share them without oversubscribing). ``backend``:
    ``"auto"``, ``"openvino"`` or ``"onnxruntime"``. ``shifts``: demucs' test-time shifts, the
    track separated that many more times, each delayed by a random offset under half a second,
    and averaged (``shifts`` times the work; ``seed`` makes the offsets repeatable).
    """

    def __init__(
        self,
        model: str | os.PathLike = "hdemucs_high_musdb_plus",
        device: str = "auto",
        overlap: float = 0.25,
        batch_size: int | None = None,
        stem: str | Iterable[str] | None = None,
        gains: Mapping[str, float] | None = None,
        fp16: bool = False,
        threads: int | None = None,
        precision: str = "auto",
        backend: str = "auto",
        shifts: int = 0,
        seed: int | None = 0,
    ):
        if isinstance(overlap, bool) or not (
            isinstance(overlap, int | float) and 0.0 <= overlap < 1.0
        ):
            raise InvalidValueError(f"overlap must be in [0, 1), got {overlap!r}")
        if batch_size is not None and (
            isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
        ):
            raise InvalidValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        if fp16:
            warnings.warn(
                "SeparatorNode(fp16=True) is deprecated; use precision='fp16'",
                DeprecationWarning,
                stacklevel=2,
            )
            if precision not in ("auto", "fp16"):
                raise InvalidValueError(f"fp16=True contradicts precision={precision!r}")
            precision = "fp16"
        path = model_path(model, fp16=precision == "fp16")
        self.session: Session = open_session(path, device, precision, threads, backend)
        self.model_path = self.session.path
        self.device = self.session.device
        self.overlap = float(overlap)
        self.batch_size = batch_size or (
            8 if self.device == "cuda" else self.session.parallel_segments
        )
        self.gains = _gain_vector(self.sources, stem, gains)
        self.shifts = shifts
        self.offsets = shift_offsets(shifts, seed, self.sample_rate)
        self._track: SeparationStream | None = None  # the stream of process(reset=False)
        self._stem_track: SeparationStream | None = None  # the stream of separate(reset=False)
        self._layouts: dict[str, Layout] = {}  # the layout of each face's stream
        self._last_layout: Layout | None = None  # pedalboard's layout memory, kept on reset

    @property
    def sources(self) -> tuple[str, ...]:
        """Stem names, in the model's output order."""
        return self.session.info.sources

    @property
    def sample_rate(self) -> int:
        """The model's sample rate; other rates are resampled to it and back."""
        return self.session.info.sample_rate

    @property
    def audio_channels(self) -> int:
        """The model's channel count (2); mono is separated as its stereo copy."""
        return self.session.info.audio_channels

    @property
    def segment_samples(self) -> int:
        return self.session.info.segment_samples

    @property
    def latency_samples(self) -> int:
        """Input samples (at the model rate) a stream holds before its first output: a batch of
        segments (one segment with ``batch_size=1``)."""
        stride, _ = stride_for(self.segment_samples, self.overlap)
        return self.segment_samples + (self.batch_size - 1) * stride

    @property
    def precision(self) -> str:
        """The arithmetic that runs: ``fp32``, ``bf16`` or ``fp16`` (never ``auto``)."""
        return self.session.precision

    def describe(self) -> str:
        """What runs this node, in one line: model, runtime, precision, device and why."""
        shifts = f", {self.shifts} shifts" if self.shifts else ""
        return (
            f"{self.session.describe()}; overlap {self.overlap:g}, batch {self.batch_size}{shifts}"
        )

    def __repr__(self) -> str:
        return (
            f"<stemboard.SeparatorNode model={self.model_path.name!r} device={self.device!r} "
            f"backend={self.session.backend!r} precision={self.precision!r} "
            f"sources={list(self.sources)} overlap={self.overlap} batch_size={self.batch_size}>"
        )

    # -- the planar face ---------------------------------------------------------------------

    def open_stream(
        self,
        sample_rate: float,
        *,
        channels: int | None = None,
        normalisation: Normalisation | None = None,
        mix: bool = False,
    ) -> SeparationStream:
        """A new stream of one track at ``sample_rate``: ``push([channels, n])`` returns the
        ready stems ``[sources, channels, m]``, ``finish()`` the rest.

        ``channels`` (1 or the model's) fixes the input's channel count up front; otherwise the
        first block does. ``normalisation`` gives the whole track's statistics (a file renderer
        measures them in a first pass); without it the first segment's are used. With ``mix``
        the stems are summed by the node's gains: ``[1, channels, m]``.
        """
        return SeparationStream(
            self.session,
            sample_rate,
            overlap=self.overlap,
            batch_size=self.batch_size,
            channels=channels,
            mix=self.gains if mix else None,
            normalisation=normalisation,
            offsets=self.offsets,
        )

    # -- the pedalboard face -----------------------------------------------------------------

    def separate(
        self, audio: np.ndarray, sample_rate: float, reset: bool = True
    ) -> dict[str, np.ndarray]:
        """Every stem of ``audio``: a dict name -> float32 array in the input's layout.

        ``audio`` is ``[channels, samples]`` or ``[samples, channels]`` (as pedalboard guesses)
        or 1-D mono; each stem comes back with the same shape and sample rate. With
        ``reset=False`` the call is one block of a stream, as in :meth:`process`; the rest
        comes from :meth:`flush_stems`.
        """
        planar, layout = self._to_planar(audio)
        if reset:
            self._stem_track = None
            stems = self._offline(planar, sample_rate, mix=False)
        else:
            self._stem_track = self._continue("stems", self._stem_track, sample_rate, layout)
            stems = self._stem_track.push(planar)
        return self._as_stems(stems, layout)

    def flush_stems(self) -> dict[str, np.ndarray]:
        """The rest of a stream started with ``separate(..., reset=False)``; clears the state."""
        track, self._stem_track = self._stem_track, None
        if track is None:
            empty = np.zeros((0,), np.float32)
            return {name: empty for name in self.sources}
        return self._as_stems(track.finish(), self._layouts["stems"])

    def process(
        self,
        input_array: np.ndarray,
        sample_rate: float,
        buffer_size: int = 8192,
        reset: bool = True,
    ) -> np.ndarray:
        """``sum(gain[s] * stem[s])`` for ``input_array``, in its layout, as float32.

        With ``reset=True`` (the default) the call is one whole track. With ``reset=False``
        the call is one block of a stream: it returns the samples that are ready (fewer than
        given while the node fills up, aligned with the input), and :meth:`flush` returns the
        rest. ``buffer_size`` is accepted for pedalboard compatibility; segments are set by the
        model, so it does not change the result.
        """
        del buffer_size
        planar, layout = self._to_planar(input_array)
        if reset:
            self._track = None
            return from_planar(self._offline(planar, sample_rate, mix=True)[0], layout)
        self._track = self._continue("mix", self._track, sample_rate, layout, mix=True)
        return from_planar(self._track.push(planar)[0], layout)

    __call__ = process

    def flush(self) -> np.ndarray:
        """The rest of a stream started with ``process(..., reset=False)``; clears the state."""
        track, self._track = self._track, None
        if track is None:
            return np.zeros((0,), np.float32)
        return from_planar(track.finish()[0], self._layouts["mix"])

    def reset(self) -> None:
        """Drop any stream in progress."""
        self._track = None
        self._stem_track = None

    def _as_stems(self, stems: np.ndarray, layout: Layout) -> dict[str, np.ndarray]:
        return {name: from_planar(stems[i], layout) for i, name in enumerate(self.sources)}

    def _continue(
        self,
        face: str,
        track: SeparationStream | None,
        sample_rate: float,
        layout: Layout,
        mix: bool = False,
    ) -> SeparationStream:
        """The stream ``track`` for one more block, opened when there is none."""
        if track is None:
            self._layouts[face] = layout
            return self.open_stream(sample_rate, channels=layout.channels, mix=mix)
        if sample_rate != track.sample_rate:
            raise InvalidValueError(
                f"sample rate changed from {track.sample_rate} to {sample_rate} within a stream; "
                "call reset() or flush() first"
            )
        if self._layouts[face] != layout:
            raise InvalidValueError(
                "channel layout changed within a stream; call reset() or flush() first"
            )
        return track

    def _to_planar(self, audio: np.ndarray) -> tuple[np.ndarray, Layout]:
        planar, layout = to_planar(audio, self._last_layout)
        self._last_layout = layout
        if layout.channels not in (1, self.audio_channels):
            raise InvalidValueError(
                f"audio has {layout.channels} channels; the model takes at most "
                f"{self.audio_channels} (shape {audio.shape})"
            )
        return planar, layout

    def _offline(self, planar: np.ndarray, sample_rate: float, mix: bool) -> np.ndarray:
        """``[channels, n]`` -> ``[sources or 1, channels, n]`` in one pass, whole-track stats."""
        stream = self.open_stream(
            sample_rate, channels=len(planar), normalisation=Normalisation.of(planar), mix=mix
        )
        return np.concatenate([stream.push(planar), stream.finish()], axis=-1)
