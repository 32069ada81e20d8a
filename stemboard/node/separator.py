"""``SeparatorNode``: an exported HDemucs behind pedalboard's ``Plugin.process`` interface.

The steps for one track: bring the audio to the model's channels and sample rate; normalise
by the mean and standard deviation of the mono mix (the torchaudio tutorial's track-level
normalisation); cut, run and overlap-add segments (:mod:`stemboard.node.overlap_add`); undo the
normalisation; mix the stems by their gains; go back to the caller's sample rate and layout.

Streaming (``reset=False``) runs the very same steps block by block. The only difference: the
whole track is not known yet, so the normalisation statistics are taken from the first segment
(about 10 s). HDemucs normalises its own input again inside the network, which makes the result
all but independent of these statistics: streamed and offline output agree to about 1e-6.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stemboard import io
from stemboard.errors import StemboardError
from stemboard.node.models import resolve_model
from stemboard.node.overlap_add import OverlapAdd
from stemboard.node.session import ModelSession

_SILENCE_STD = 1e-8


@dataclass(frozen=True)
class Normalisation:
    """Track statistics: ``(audio - mean) / std`` before the model, the inverse after."""

    mean: float = 0.0
    std: float = 1.0

    @classmethod
    def of(cls, audio: np.ndarray) -> Normalisation:
        """Statistics of the mono mix of ``audio [channels, samples]`` (silence: identity)."""
        if audio.shape[-1] < 2:
            return cls()
        mono = audio.mean(axis=0, dtype=np.float64)
        std = float(mono.std(ddof=1))
        if not std > _SILENCE_STD:
            return cls(float(mono.mean()), 1.0)
        return cls(float(mono.mean()), std)


class _Track:
    """The state of one track going through the node (one ``reset`` span).

    ``mix`` (``[sources]`` gains) folds the stems into one signal as soon as they leave the
    model; without it every stem is kept.
    """

    def __init__(
        self,
        node: SeparatorNode,
        sample_rate: float,
        mix: np.ndarray | None,
        normalisation: Normalisation | None = None,
    ):
        info = node.session.info
        self.session = node.session
        self.sample_rate = sample_rate
        self.mix = mix
        self.normalisation = normalisation
        self.engine = OverlapAdd(
            self._run,
            segment=info.segment_samples,
            sources=len(info.sources),
            channels=info.audio_channels,
            overlap=node.overlap,
            batch_size=node.batch_size,
            before_first_run=self._first_segment,
        )
        self.resampled = sample_rate != info.sample_rate
        if self.resampled:
            channels = info.audio_channels
            width = 1 if mix is not None else len(info.sources)
            self.into_model = io.StreamingResampler(sample_rate, info.sample_rate, channels)
            self.out_of_model = io.StreamingResampler(
                info.sample_rate, sample_rate, width * channels
            )
        self.layout: io.Layout | None = None
        self.received = 0  # input samples, at the caller's rate
        self.emitted = 0
        self.pending: np.ndarray | None = None

    def _first_segment(self, audio: np.ndarray) -> None:
        if self.normalisation is None:
            self.normalisation = Normalisation.of(audio)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        norm = self.normalisation
        stems = self.session.run((batch - norm.mean) / norm.std)
        return stems * norm.std + norm.mean

    def push(self, audio: np.ndarray) -> np.ndarray:
        """Model-channel ``audio [channels, n]`` in; ``[sources or 1, channels, m]`` out."""
        self.received += audio.shape[-1]
        if self.resampled:
            audio = self.into_model.process(audio)
        return self._leave(self.engine.push(audio), final=False)

    def finish(self) -> np.ndarray:
        """Everything still inside the node; the track is over."""
        if self.resampled:
            head = self.engine.push(self.into_model.flush())
            stems = np.concatenate([head, self.engine.finish()], axis=-1)
        else:
            stems = self.engine.finish()
        return self._leave(stems, final=True)

    def _leave(self, stems: np.ndarray, final: bool) -> np.ndarray:
        """Mix, resample back, and keep the output no longer than the input so far."""
        if self.mix is not None:
            stems = np.tensordot(self.mix, stems, axes=(0, 0))[None].astype(np.float32)
        if self.resampled:
            width, channels = stems.shape[0], stems.shape[1]
            flat = self.out_of_model.process(stems.reshape(width * channels, -1))
            if final:
                flat = np.concatenate([flat, self.out_of_model.flush()], axis=-1)
            stems = flat.reshape(width, channels, -1)
        if self.pending is not None:
            stems = np.concatenate([self.pending, stems], axis=-1)
        allowed = self.received - self.emitted
        if final and stems.shape[-1] < allowed:  # resampling may come out a sample short
            stems = np.pad(stems, ((0, 0), (0, 0), (0, allowed - stems.shape[-1])))
        out, self.pending = stems[..., :allowed], stems[..., allowed:]
        self.emitted += out.shape[-1]
        return out


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
            raise ValueError(f"unknown stem {name!r}; the model has: {known}")
        vector = {name: float(name in chosen) for name in sources}
    for name, gain in (gains or {}).items():
        if name not in sources:
            raise ValueError(f"unknown stem {name!r} in gains; the model has: {known}")
        gain = float(gain)
        if not np.isfinite(gain):
            raise ValueError(f"gain for {name!r} must be a finite number, got {gain}")
        vector[name] = gain
    return np.array([vector[name] for name in sources], dtype=np.float32)


class SeparatorNode:
    """Hybrid Demucs source separation as a pedalboard-style plugin.

    Example::

        from stemboard import SeparatorNode
        node = SeparatorNode("models/tiny.onnx")           # or "hdemucs_high_musdb_plus"
        stems = node.separate(audio, 44100)                 # {"drums": [2, n], "bass": ...}
        karaoke = SeparatorNode("models/tiny.onnx", gains={"vocals": 0})
        backing = karaoke(audio, 44100)                     # like any pedalboard Plugin

    ``model``: a path to an exported ``.onnx`` or a known name. ``device``: ``"auto"`` (the GPU
    when one works), ``"cuda"`` or ``"cpu"``. ``overlap``: fraction of a segment shared with the
    next (default 0.25). ``batch_size``: segments per run (default 1 on the CPU, 8 on the GPU).
    ``stem`` / ``gains``: what ``process`` returns, ``sum(gain[s] * stem[s])``. ``fp16``: use the
    ``.fp16.onnx`` file beside the model (for the GPU).
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
    ):
        if not 0.0 <= overlap < 1.0:
            raise ValueError(f"overlap must be in [0, 1), got {overlap}")
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.session = ModelSession.open(resolve_model(model, fp16=fp16), device)
        info = self.session.info
        self.model_path = self.session.path
        self.device = self.session.device
        self.overlap = overlap
        self.batch_size = batch_size or (8 if self.device == "cuda" else 1)
        self.gains = _gain_vector(info.sources, stem, gains)
        self._track: _Track | None = None  # the stream of process(reset=False)
        self._stem_track: _Track | None = None  # the stream of separate(reset=False)
        self._last_layout: io.Layout | None = None  # pedalboard's layout memory, kept on reset

    @property
    def sources(self) -> tuple[str, ...]:
        """Stem names, in the model's output order."""
        return self.session.info.sources

    @property
    def sample_rate(self) -> int:
        """The model's sample rate; other rates are resampled to it and back."""
        return self.session.info.sample_rate

    @property
    def segment_samples(self) -> int:
        return self.session.info.segment_samples

    @property
    def latency_samples(self) -> int:
        """Input samples a stream holds before its first output (one segment, at the model rate)."""
        return self.session.info.segment_samples

    def __repr__(self) -> str:
        return (
            f"<stemboard.SeparatorNode model={self.model_path.name!r} device={self.device!r} "
            f"sources={list(self.sources)} overlap={self.overlap} batch_size={self.batch_size}>"
        )

    def separate(
        self, audio: np.ndarray, sample_rate: float, reset: bool = True
    ) -> dict[str, np.ndarray]:
        """Every stem of ``audio``: a dict name -> float32 array in the input's layout.

        ``audio`` is ``[channels, samples]`` or ``[samples, channels]`` (as pedalboard guesses)
        or 1-D mono; each stem comes back with the same shape and sample rate. With
        ``reset=False`` the call is one block of a stream, as in :meth:`process`; the rest
        comes from :meth:`flush_stems`.
        """
        model_audio, layout = self._to_model(audio)
        if reset:
            self._stem_track = None
            stems = self._offline(model_audio, sample_rate, mix=None)
        else:
            self._stem_track = self._continue(self._stem_track, sample_rate, layout, mix=None)
            stems = self._stem_track.push(model_audio)
        return self._as_stems(stems, layout)

    def flush_stems(self) -> dict[str, np.ndarray]:
        """The rest of a stream started with ``separate(..., reset=False)``; clears the state."""
        track, self._stem_track = self._stem_track, None
        if track is None or track.layout is None:
            empty = np.zeros((0,), np.float32)
            return {name: empty for name in self.sources}
        return self._as_stems(track.finish(), track.layout)

    def _as_stems(self, stems: np.ndarray, layout: io.Layout) -> dict[str, np.ndarray]:
        return {
            name: io.from_model_channels(stems[i], layout) for i, name in enumerate(self.sources)
        }

    def _continue(
        self,
        track: _Track | None,
        sample_rate: float,
        layout: io.Layout,
        mix: np.ndarray | None,
    ) -> _Track:
        """The stream ``track`` for one more block, started when there is none."""
        if track is None:
            track = _Track(self, sample_rate, mix)
        elif sample_rate != track.sample_rate:
            raise ValueError(
                f"sample rate changed from {track.sample_rate} to {sample_rate} within a stream; "
                "call reset() or flush() first"
            )
        elif track.layout != layout:
            raise ValueError(
                "channel layout changed within a stream; call reset() or flush() first"
            )
        track.layout = layout
        return track

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
        model_audio, layout = self._to_model(input_array)
        if reset:
            self._track = None
            mixed = self._offline(model_audio, sample_rate, mix=self.gains)
            return io.from_model_channels(mixed[0], layout)
        self._track = self._continue(self._track, sample_rate, layout, mix=self.gains)
        return io.from_model_channels(self._track.push(model_audio)[0], layout)

    __call__ = process

    def flush(self) -> np.ndarray:
        """The rest of a stream started with ``process(..., reset=False)``; clears the state."""
        track, self._track = self._track, None
        if track is None or track.layout is None:
            return np.zeros((0,), np.float32)
        return io.from_model_channels(track.finish()[0], track.layout)

    def reset(self) -> None:
        """Drop any stream in progress."""
        self._track = None
        self._stem_track = None

    def separate_file(
        self,
        path: str | os.PathLike,
        out_dir: str | os.PathLike,
        *,
        stems: Iterable[str] | None = None,
        format: str = "wav",
        bit_depth: int = 16,
        overwrite: bool = False,
        block_frames: int = 1 << 18,
        progress: Callable[[float], None] | None = None,
    ) -> dict[str, Path]:
        """Separate an audio file into ``out_dir/<track>/<stem>.<format>``, in bounded memory.

        The file is read and the stems written block by block (two passes: the first only
        measures the track's normalisation statistics). Each stem is written under a temporary
        name and renamed when complete, so an error never leaves a half-written file. Returns
        stem name -> written path. ``progress``, if given, is called with the fraction done.
        """
        path = Path(path)
        wanted = list(self.sources) if stems is None else list(stems)
        unknown = [name for name in wanted if name not in self.sources]
        if unknown or not wanted:
            raise StemboardError(
                f"unknown stem {unknown[0] if unknown else ''!r}; the model has: "
                + ", ".join(self.sources)
            )
        io.check_output_format(format, bit_depth)
        info = io.audio_info(path)
        target_dir = Path(out_dir) / path.stem
        targets = {name: target_dir / f"{name}.{format}" for name in wanted}
        existing = [str(p) for p in targets.values() if p.exists()]
        if existing and not overwrite:
            raise StemboardError(
                f"{existing[0]} already exists (use --overwrite / overwrite=True to replace it)"
            )
        channels = self.session.info.audio_channels
        if info.channels not in (1, channels):
            raise StemboardError(
                f"{path} has {info.channels} channels; "
                f"the model takes mono or {channels}-channel audio"
            )
        normalisation = _file_statistics(path, channels, block_frames)
        track = _Track(self, info.sample_rate, None, normalisation)
        indices = [self.sources.index(name) for name in wanted]
        target_dir.mkdir(parents=True, exist_ok=True)
        done = 0
        with contextlib.ExitStack() as writers:
            files = [
                writers.enter_context(
                    io.AtomicAudioWriter(
                        targets[name], info.sample_rate, info.channels, format, bit_depth
                    )
                )
                for name in wanted
            ]

            def write(out: np.ndarray) -> None:
                for file, index in zip(files, indices, strict=True):
                    stem = out[index]
                    file.write(stem.mean(axis=0, keepdims=True) if info.channels == 1 else stem)

            for block in io.read_blocks(path, block_frames):
                write(track.push(_file_to_model_channels(block, channels, path)))
                done += block.shape[-1]
                if progress is not None:
                    progress(min(1.0, done / max(info.frames, 1)))
            write(track.finish())
        if progress is not None:
            progress(1.0)
        return targets

    def _to_model(self, audio: np.ndarray) -> tuple[np.ndarray, io.Layout]:
        channels = self.session.info.audio_channels
        model_audio, layout = io.to_model_channels(audio, channels, self._last_layout)
        self._last_layout = layout
        return model_audio, layout

    def _offline(self, audio: np.ndarray, sample_rate: float, mix: np.ndarray | None) -> np.ndarray:
        """``audio [channels, n]`` -> ``[sources or 1, channels, n]`` in one pass."""
        track = _Track(self, sample_rate, mix, Normalisation.of(audio))
        return np.concatenate([track.push(audio), track.finish()], axis=-1)


def _file_to_model_channels(block: np.ndarray, channels: int, path: Path) -> np.ndarray:
    """A channels-first file block ``[file channels, n]`` -> ``[channels, n]``."""
    if block.shape[0] == channels:
        return block
    if block.shape[0] == 1:
        return np.repeat(block, channels, axis=0)
    raise StemboardError(
        f"{path} has {block.shape[0]} channels; the model takes mono or {channels}-channel audio"
    )


def _file_statistics(path: Path, channels: int, block_frames: int) -> Normalisation:
    """The track's normalisation, from one streaming pass over the file (float64 sums)."""
    count, total, squares = 0, 0.0, 0.0
    for block in io.read_blocks(path, block_frames):
        mono = _file_to_model_channels(block, channels, path).mean(axis=0, dtype=np.float64)
        count += mono.size
        total += float(mono.sum())
        squares += float(np.dot(mono, mono))
    if count < 2:
        return Normalisation()
    mean = total / count
    variance = max(0.0, (squares - count * mean * mean) / (count - 1))
    std = variance**0.5
    return Normalisation(mean, std if std > _SILENCE_STD else 1.0)
