"""``SeparatorNode``: an exported HDemucs behind pedalboard's ``Plugin.process`` interface.

Two faces over one engine. :meth:`SeparatorNode.open_stream` is the planar face the graph and
the file renderer use: ``[channels, n]`` blocks in, ``[sources, channels, m]`` stems out, no
guessing (:mod:`stemboard.node.stream`). ``process`` / ``separate`` are the pedalboard-style face
on top of it: they take audio in any of pedalboard's layouts, convert it once
(:mod:`stemboard.audio.layout`), run a stream, and convert back.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Mapping

import numpy as np

from stemboard.audio.layout import Layout, from_planar
from stemboard.errors import InvalidValueError
from stemboard.node.backend import Session
from stemboard.node.contracts import whole
from stemboard.node.face import StreamFaces
from stemboard.node.overlap_add import stride_for
from stemboard.node.session import open_session
from stemboard.node.settings import DEFAULT_MODEL, DEFAULT_OVERLAP, NodeSettings, fp16_alias
from stemboard.node.stream import Normalisation, SeparationStream, shift_offsets
from stemboard.registry import model_path

log = logging.getLogger(__name__)

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
        model: str | os.PathLike = DEFAULT_MODEL,
        device: str = "auto",
        overlap: float = DEFAULT_OVERLAP,
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
        given = None if precision == "auto" else precision  # the default: not given
        precision = fp16_alias(given, fp16, alias="fp16=True", spell="precision={!r}") or "auto"
        settings = NodeSettings(model, device, overlap, batch_size, precision, shifts, seed)
        self.settings = settings
        """What was asked for (a precision of ``auto`` stays ``auto``; :attr:`precision` is
        what runs)."""
        path = model_path(settings.name, fp16=settings.fp16)
        self.session: Session = open_session(
            path, settings.device, settings.precision, threads, backend
        )
        self.model_path = self.session.path
        self.device = self.session.device
        self.overlap = settings.overlap
        self.batch_size = settings.batch_size or (
            8 if self.device == "cuda" else self.session.parallel_segments
        )
        self.gains = _gain_vector(self.sources, stem, gains)
        self.shifts = settings.shifts
        self.offsets = shift_offsets(settings.shifts, settings.seed, self.sample_rate)
        # process/separate(reset=False) streams and the layout memory
        self._faces = StreamFaces(self.audio_channels, "the model")
        log.info("%s", self.describe())  # what runs, and why (``stemboard -v``)

    @classmethod
    def from_settings(
        cls,
        settings: NodeSettings,
        *,
        threads: int | None = None,
        backend: str = "auto",
        stem: str | Iterable[str] | None = None,
        gains: Mapping[str, float] | None = None,
    ) -> SeparatorNode:
        """The node these settings describe (a preset's ``model:``, a command's options);
        ``threads``, ``backend``, ``stem`` and ``gains`` are the node's own, as in the
        constructor.

        Example::

            node = SeparatorNode.from_settings(NodeSettings("demo", precision="fp32"))
        """
        return cls(
            settings.name,
            device=settings.device,
            overlap=settings.overlap,
            batch_size=settings.batch_size,
            stem=stem,
            gains=gains,
            threads=threads,
            precision=settings.precision,
            backend=backend,
            shifts=settings.shifts,
            seed=settings.seed,
        )

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
        planar, layout = self._faces.planar(audio)
        if reset:
            self._faces.drop("stems")
            return self._as_stems(self._offline(planar, sample_rate, mix=False), layout)
        stream = self._faces.continued(
            "stems",
            sample_rate,
            layout,
            lambda: self.open_stream(sample_rate, channels=layout.channels),
        )
        return self._as_stems(stream.push(planar), layout)

    def flush_stems(self) -> dict[str, np.ndarray]:
        """The rest of a stream started with ``separate(..., reset=False)``; clears the state."""
        taken = self._faces.take("stems")
        if taken is None:
            empty = np.zeros((0,), np.float32)
            return {name: empty for name in self.sources}
        stream, layout = taken
        return self._as_stems(stream.finish(), layout)

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
        planar, layout = self._faces.planar(input_array)
        if reset:
            self._faces.drop("mix")
            return from_planar(self._offline(planar, sample_rate, mix=True)[0], layout)
        stream = self._faces.continued(
            "mix",
            sample_rate,
            layout,
            lambda: self.open_stream(sample_rate, channels=layout.channels, mix=True),
        )
        return from_planar(stream.push(planar)[0], layout)

    __call__ = process

    def flush(self) -> np.ndarray:
        """The rest of a stream started with ``process(..., reset=False)``; clears the state."""
        taken = self._faces.take("mix")
        if taken is None:
            return np.zeros((0,), np.float32)
        stream, layout = taken
        return from_planar(stream.finish()[0], layout)

    def reset(self) -> None:
        """Drop any stream in progress."""
        self._faces.drop()

    def _as_stems(self, stems: np.ndarray, layout: Layout) -> dict[str, np.ndarray]:
        return {name: from_planar(stems[i], layout) for i, name in enumerate(self.sources)}

    def _offline(self, planar: np.ndarray, sample_rate: float, mix: bool) -> np.ndarray:
        """``[channels, n]`` -> ``[sources or 1, channels, n]`` in one pass, whole-track stats."""
        stream = self.open_stream(
            sample_rate, channels=len(planar), normalisation=Normalisation.of(planar), mix=mix
        )
        return whole(stream, planar)
