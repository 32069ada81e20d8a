"""Audio files through a node or a graph into files: stemboard's one file pipeline.

``stemboard separate``, ``stemboard render``, the demo and the batch layer all come here, so
they share one set of rules:

- **Plan first.** Every input's output files come from a template (:mod:`stemboard.templates`)
  inside the output folder. Before anything runs, the folder is checked (a folder, writable —
  tried, not guessed), outputs that would collide (``a/01.wav`` and ``b/01.wav`` both writing
  ``out/01/vocals.wav``) are refused naming both inputs, and existing files are refused unless
  ``overwrite``. Inputs are never given distinct folders silently: rename them or render them
  into different folders.
- **Read in blocks, twice.** A first pass decodes and checks the whole input (undecodable,
  content that contradicts its name, NaN/infinite samples, more than two channels) and measures
  the track's normalisation; the second pass streams it through the node or the graph, so
  memory stays bounded and the output equals processing the whole array at once.
- **Channels.** Mono or stereo in; each output has the input's channels (mono outputs are the
  mean of the stereo result) and its sample rate and length (plus a graph's tail).
- **Write whole or not at all.** Every output goes to a temporary name and all of a track's
  files are renamed together when the whole render succeeded; an error, Ctrl-C or SIGTERM
  leaves none of them and removes the folders the render made. No file holding NaN or
  infinity is ever renamed into place; samples beyond full scale follow ``clip_mode``.

Example::

    from stemboard import SeparatorNode, load_graph
    from stemboard.render import render_file, separate_file

    separate_file(SeparatorNode("demo"), "song.wav", "out/")        # out/song/<stem>.wav
    render_file(load_graph("karaoke", model="demo"), "song.wav", "out/")
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stemboard.atomic import AtomicFiles
from stemboard.audio.layout import fit_channels, match_channels
from stemboard.audio.reading import (
    DEFAULT_BLOCK_FRAMES,
    AudioInfo,
    audio_info,
    display,
    read_blocks,
)
from stemboard.audio.writing import AudioWriter, check_clip_mode, check_output_format, format_name
from stemboard.choices import DEFAULT_CLIP_MODE
from stemboard.errors import (
    AudioFileError,
    DestinationError,
    InvalidValueError,
    OutputExistsError,
)
from stemboard.graph.graph import MIX, StemGraph
from stemboard.graph.preset_model import OutputSettings
from stemboard.graph.presets import load_graph
from stemboard.node.contracts import Separator, Stream, whole
from stemboard.node.stream import Normalisation, TrackStatistics
from stemboard.templates import DEFAULT_TEMPLATE, check_inside, check_template, output_path

MAX_INPUT_CHANNELS = 2

ProgressCallback = Callable[[float], None]
"""Called with the fraction of a track done, from 0.0 to 1.0."""


@dataclass(frozen=True)
class OutputFormat:
    """How the files are written: format, bit depth, lossy quality, and the clip mode."""

    format: str = "wav"
    bit_depth: int = 24
    quality: str | None = None
    clip_mode: str = DEFAULT_CLIP_MODE

    def __post_init__(self) -> None:
        check_output_format(self.format, self.bit_depth)
        check_clip_mode(self.clip_mode)
        object.__setattr__(self, "format", format_name(self.format))


@dataclass(frozen=True)
class Track:
    """One input and the files its render writes: output key -> path."""

    input: Path
    targets: Mapping[Hashable, Path]


def check_destination(out_dir: str | os.PathLike) -> None:
    """Refuse an output folder that cannot be written, before any work: one that is a file, lies
    under a file, or where a file cannot be created (read-only file system, no permission —
    tried by creating and removing a file, since permission bits say nothing for root). A
    folder that does not exist yet is fine if its nearest existing parent passes."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise DestinationError(f"{display(out_dir)}: the output folder is a file")
    existing = out_dir
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise DestinationError(f"{display(out_dir)}: cannot be made, {display(existing)} is a file")
    try:
        with tempfile.TemporaryFile(dir=existing, prefix=".stemboard-probe-"):
            pass
    except OSError as error:
        raise DestinationError(
            f"{display(out_dir)}: cannot write in {display(existing)}: {error.strerror or error}"
        ) from None


class OutputClaims:
    """Which input writes each output file, so that two inputs writing one file are refused
    before any work, naming both; ``remedy`` says what to do about it (the batch layer's
    differs from a command's).

    Example::

        claims = OutputClaims("rename one")
        claims.claim(Path("a/01.wav"), [Path("out/01/vocals.wav")])
        claims.claim(Path("b/01.wav"), [Path("out/01/vocals.wav")])   # InvalidValueError
    """

    def __init__(self, remedy: str):
        self.remedy = remedy
        self.owners: dict[Path, Path] = {}

    def claim(self, path: Path, targets: Iterable[Path]) -> None:
        """Record ``path`` as the writer of ``targets``; raises ``InvalidValueError`` for a file
        another input writes, or for the same input given twice."""
        for target in targets:
            resolved = target.resolve()
            first = self.owners.get(resolved)
            if first is None:
                self.owners[resolved] = path
                continue
            if first.resolve() == path.resolve():
                raise InvalidValueError(f"{display(path)} is given twice")
            raise InvalidValueError(
                f"{display(first)} and {display(path)} would both write {display(target)}; "
                f"{self.remedy}"
            )


def check_file_destination(option: str, file: str | os.PathLike) -> None:
    """Refuse ``file`` as an output file (a report, a score table) before any work: a folder,
    or in a folder that is missing or cannot be written (tried, not guessed). ``option``
    names it in the message (``--json``)."""
    file = Path(file)
    if file.is_dir():
        raise DestinationError(f"{option} {display(file)}: is a folder, not a file")
    folder = file.parent
    if not folder.is_dir():
        raise DestinationError(
            f"{option} {display(file)}: the folder {display(folder)} does not exist"
        )
    try:
        check_destination(folder)
    except DestinationError as error:
        raise DestinationError(f"{option} {display(file)}: {error}") from None


def check_input(path: Path) -> AudioInfo:
    """The input's facts, if stemboard can take it (decodable, mono or stereo)."""
    info = audio_info(path)
    if info.channels > MAX_INPUT_CHANNELS:
        raise AudioFileError(
            f"{display(path)}: has {info.channels} channels; stemboard takes mono or stereo"
        )
    return info


@dataclass(frozen=True)
class OutputPlan:
    """The files each input renders to: the output names, their format, the file-name template
    and the preset's name (for ``{preset}``). Made without a model: the stem names are enough,
    so the batch layer plans a catalogue with the very rules a render writes by.

    Example::

        plan = OutputPlan.of_stems(("drums", "bass", "other", "vocals"), ["vocals"])
        plan.targets(Path("song.wav"), Path("out"))   # {"vocals": out/song/vocals.wav}
    """

    names: tuple[str, ...]
    format: OutputFormat
    template: str = DEFAULT_TEMPLATE
    preset: str = ""
    sessions: tuple[str, ...] = ()
    session_chains: str = "printed"

    def __post_init__(self) -> None:
        from stemboard.sessions.writing import check_chains, check_session_kinds

        object.__setattr__(self, "sessions", check_session_kinds(self.sessions))
        check_chains(self.session_chains)
        if not self.names and not self.sessions:
            raise InvalidValueError("nothing to write: no mix, stems, buses or sessions selected")
        object.__setattr__(self, "names", tuple(self.names))
        checked = check_template(self.template, self.format.format, len(self.names))
        object.__setattr__(self, "template", checked)

    @classmethod
    def of_stems(
        cls,
        sources: Sequence[str],
        stems: Sequence[str] | None = None,
        format: OutputFormat | None = None,
        template: str = DEFAULT_TEMPLATE,
    ) -> OutputPlan:
        """A separation's files: ``stems`` (default every one of the model's ``sources``)."""
        wanted = list(sources) if stems is None else list(stems)
        unknown = [name for name in wanted if name not in sources]
        if unknown or not wanted:
            named = ", ".join(map(repr, unknown or [""]))
            raise InvalidValueError(
                f"unknown stem{'s' if len(unknown) > 1 else ''} {named}; the model has: "
                + ", ".join(sources)
            )
        return cls(tuple(wanted), format or OutputFormat(bit_depth=16), template)

    @classmethod
    def of_graph(
        cls,
        outputs: OutputSettings,
        sources: Sequence[str],
        buses: Iterable[str],
        preset: str = "",
        *,
        clip_mode: str | None = None,
        sessions: Sequence[str] | None = None,
        session_chains: str | None = None,
    ) -> OutputPlan:
        """A graph's files, as a preset's ``outputs`` name them (``clip_mode`` overrides its;
        ``sessions`` and ``session_chains`` too)."""
        names = outputs.file_names(sources)
        buses = list(buses)
        known = {MIX, *sources, *buses}
        unknown = [name for name in names if name not in known]
        if unknown:
            raise InvalidValueError(
                f"unknown output {unknown[0]!r}; stems: {', '.join(sources)}; "
                f"buses: {', '.join(buses) or 'none'}"
            )
        format = OutputFormat(
            outputs.format,
            outputs.bit_depth,
            clip_mode=clip_mode if clip_mode is not None else outputs.clip_mode,
        )
        return cls(
            tuple(names),
            format,
            outputs.template,
            preset,
            tuple(outputs.sessions if sessions is None else sessions),
            outputs.session_chains if session_chains is None else session_chains,
        )

    def targets(self, path: Path, out_dir: Path) -> dict[Hashable, Path]:
        """The files ``path`` renders to in ``out_dir``, by output name; a session's file is
        keyed ``session:<kind>`` (:func:`session_key`) and lies in ``out_dir/<track>/``, named
        after the preset."""
        fields = {"track": path.stem, "ext": self.format.format, "preset": self.preset}
        targets: dict[Hashable, Path] = {
            name: output_path(out_dir, self.template, name=name, **fields) for name in self.names
        }
        if self.sessions:
            from stemboard.sessions.writing import session_files

            folder = output_path(out_dir, "{track}/{name}", track=path.stem, name="session")
            found = session_files(folder.parent, self.preset or "session", self.sessions)
            for kind, target in found.items():
                targets[session_key(kind)] = check_inside(out_dir, target)
        return targets


class RenderJob:
    """What to make of each input (its :class:`OutputPlan`) and how (``_open``).

    :meth:`plan` checks a list of inputs against an output folder and returns a :class:`Track`
    for each; :meth:`run` renders one. Subclasses say how a track is processed (``_open``).
    """

    def __init__(self, outputs: OutputPlan):
        self.outputs = outputs
        self.names = list(outputs.names)
        self.format = outputs.format

    tail_seconds = 0.0

    def output_channels(self, input_channels: int) -> int:
        """The channels of every output file: the input's."""
        return input_channels

    def format_of(self, key: Hashable) -> OutputFormat:
        """The format of output ``key``'s file."""
        return self.format

    def targets(self, path: Path, out_dir: Path) -> dict[Hashable, Path]:
        """The files ``path`` renders to, by output key."""
        return self.outputs.targets(path, out_dir)

    def plan(
        self,
        inputs: Iterable[str | os.PathLike],
        out_dir: str | os.PathLike,
        *,
        overwrite: bool = False,
    ) -> list[Track]:
        """A :class:`Track` per input, once the whole set is known to be writable.

        Raises before anything is written: :class:`~stemboard.errors.DestinationError` for an
        output folder that cannot be written, ``ValueError`` for two inputs whose outputs would
        be the same file (naming both) or an input given twice, and
        :class:`~stemboard.errors.OutputExistsError` for an existing output without
        ``overwrite``.
        """
        out_dir = Path(out_dir)
        check_destination(out_dir)
        tracks: list[Track] = []
        claims = OutputClaims("rename one, or render them into different output folders")
        for given in inputs:
            path = Path(given)
            targets = self.targets(path, out_dir)
            claims.claim(path, targets.values())
            tracks.append(Track(path, targets))
        if not overwrite:
            for track in tracks:
                for target in track.targets.values():
                    if target.exists():
                        raise OutputExistsError(
                            f"{display(target)} already exists (use --overwrite / "
                            "overwrite=True to replace it)"
                        )
        return tracks

    def run(
        self,
        track: Track,
        *,
        progress: ProgressCallback | None = None,
        block_frames: int = DEFAULT_BLOCK_FRAMES,
    ) -> dict[Hashable, Path]:
        """Render ``track`` into its files; returns them by output key (see the module)."""
        info = check_input(track.input)
        statistics = TrackStatistics()
        for block in read_blocks(track.input, block_frames):
            statistics.add(block)
        expected = max(1, info.frames + round(self.tail_seconds * info.sample_rate))
        made = _missing_folders(track.targets.values())
        try:
            with AtomicFiles() as files, contextlib.ExitStack() as stack:
                for folder in reversed(made):
                    folder.mkdir(exist_ok=True)
                writers = {
                    key: stack.enter_context(
                        AudioWriter(
                            target,
                            info.sample_rate,
                            self.output_channels(info.channels),
                            self.format_of(key).format,
                            self.format_of(key).bit_depth,
                            self.format_of(key).quality,
                            clip_mode=self.format_of(key).clip_mode,
                            files=files,
                        )
                    )
                    for key, target in track.targets.items()
                    if not _is_session(key)
                }
                stream = self._open(info.sample_rate, info.channels, statistics.result())
                done = 0
                if progress is not None:
                    progress(0.0)
                for block in read_blocks(track.input, block_frames):
                    _write(writers, stream.push(block))
                    done += block.shape[-1]
                    if progress is not None:
                        progress(min(1.0, done / expected))
                _write(writers, stream.finish())
                self._complete(stream, track, info.sample_rate, files)
        except BaseException:
            for folder in made:
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only when empty: nothing of the user's is removed
            raise
        if progress is not None:
            progress(1.0)
        return dict(track.targets)

    def _open(
        self, sample_rate: float, channels: int, normalisation: Normalisation
    ) -> Stream[Mapping[Hashable, np.ndarray]]:
        """A stream for one track: ``push([channels, n])`` and ``finish()`` return
        ``{output key: [channels, m]}``."""
        raise NotImplementedError

    def _complete(
        self, stream: Stream, track: Track, sample_rate: float, files: AtomicFiles
    ) -> None:
        """Write what the stream's audio files do not hold (a graph's DAW sessions) into
        ``files``, committed with them."""


SESSION_KEY = "session:"


def session_key(kind: str) -> str:
    """The output key of a track's session of ``kind``: ``session:rpp`` (a colon, which no
    bus name holds, keeps it apart from the graph's outputs)."""
    return SESSION_KEY + kind


def _is_session(key: Hashable) -> bool:
    return isinstance(key, str) and key.startswith(SESSION_KEY)


def _missing_folders(targets: Iterable[Path]) -> list[Path]:
    """The folders that must be made for ``targets``, deepest first."""
    missing: set[Path] = set()
    for target in targets:
        folder = target.parent
        while not folder.exists() and folder != folder.parent:
            missing.add(folder)
            folder = folder.parent
    return sorted(missing, key=lambda p: len(p.parts), reverse=True)


def _write(writers: Mapping[Hashable, AudioWriter], signals: Mapping[Hashable, np.ndarray]) -> None:
    for key, writer in writers.items():
        writer.write(signals[key])


class Separation(RenderJob):
    """A node's stems into files: ``out/<track>/<stem>.<format>`` by default."""

    def __init__(
        self,
        node: Separator,
        stems: Sequence[str] | None = None,
        format: OutputFormat | None = None,
        template: str = DEFAULT_TEMPLATE,
    ):
        super().__init__(OutputPlan.of_stems(node.sources, stems, format, template))
        self.node = node

    def _open(
        self, sample_rate: float, channels: int, normalisation: Normalisation
    ) -> Stream[Mapping[Hashable, np.ndarray]]:
        stream = self.node.open_stream(sample_rate, channels=channels, normalisation=normalisation)
        return _Named(stream, {name: self.node.sources.index(name) for name in self.names})


class _Named:
    """A node stream whose stems come out by name."""

    def __init__(self, stream: Stream[np.ndarray], indices: Mapping[str, int]):
        self.stream, self.indices = stream, indices

    def push(self, block: np.ndarray) -> dict[str, np.ndarray]:
        return self._named(self.stream.push(block))

    def finish(self) -> dict[str, np.ndarray]:
        return self._named(self.stream.finish())

    def _named(self, stems: np.ndarray) -> dict[str, np.ndarray]:
        return {name: stems[index] for name, index in self.indices.items()}


class GraphRender(RenderJob):
    """A graph's mix, processed stems and buses into files, as its preset says (a graph without
    a preset writes its mix as ``out/<track>/mix.wav``), and the DAW sessions it asks for
    (``sessions`` and ``session_chains`` override the preset's; see :mod:`stemboard.sessions`).
    """

    def __init__(
        self,
        graph: StemGraph,
        outputs: OutputSettings | None = None,
        *,
        clip_mode: str | None = None,
        sessions: Sequence[str] | None = None,
        session_chains: str | None = None,
    ):
        preset = getattr(graph, "preset", None)
        if outputs is None:
            outputs = preset.outputs if preset is not None else OutputSettings()
        name = preset.name if preset is not None else ""
        super().__init__(
            OutputPlan.of_graph(
                outputs,
                graph.sources,
                graph.buses,
                name,
                clip_mode=clip_mode,
                sessions=sessions,
                session_chains=session_chains,
            )
        )
        self.graph = graph

    @property
    def tail_seconds(self) -> float:
        return self.graph.tail_seconds

    def _open(
        self, sample_rate: float, channels: int, normalisation: Normalisation
    ) -> Stream[Mapping[Hashable, np.ndarray]]:
        if not self.outputs.sessions:
            return self.graph.open_stream(
                sample_rate, channels=channels, normalisation=normalisation
            )
        # A session needs the separated stems: separate once, keep them, feed the graph.
        node = self.graph.separator
        stems = node.open_stream(sample_rate, channels=2, normalisation=normalisation)
        graph = self.graph.open_stream(sample_rate, channels=channels, separated=True)
        return _KeepingStems(stems, graph)

    def _complete(
        self, stream: Stream, track: Track, sample_rate: float, files: AtomicFiles
    ) -> None:
        if not self.outputs.sessions:
            return
        from stemboard.sessions.writing import write_session

        targets = {
            key.removeprefix(SESSION_KEY): path
            for key, path in track.targets.items()
            if _is_session(key)
        }
        if not targets:  # a batch making a track's other missing files only
            return
        write_session(
            self.graph,
            stream.stems(),
            sample_rate,
            next(iter(targets.values())).parent,
            list(targets),
            name=self.outputs.preset or "session",
            chains=self.outputs.session_chains,
            files=files,
        )


class _KeepingStems:
    """A node stream feeding a graph stream, keeping every separated block for a session."""

    def __init__(self, stems: Stream[np.ndarray], graph: Stream[Mapping[str, np.ndarray]]):
        self.node, self.graph = stems, graph
        self.kept: list[np.ndarray] = []

    def push(self, block: np.ndarray) -> Mapping[str, np.ndarray]:
        stems = self.node.push(match_channels(block, 2))
        self.kept.append(stems)
        return self.graph.push(stems)

    def finish(self) -> Mapping[str, np.ndarray]:
        stems = self.node.finish()
        self.kept.append(stems)
        return whole(self.graph, stems)

    def stems(self) -> np.ndarray:
        """Every separated stem of the track, ``[sources, 2, samples]``."""
        return np.concatenate(self.kept, axis=-1)


class SeparationAndRender(RenderJob):
    """One separation feeding two sets of files: a :class:`Separation`'s stems and a
    :class:`GraphRender`'s outputs, the graph running on the stems already separated (so the
    model runs once). Output keys are ``("stems", name)`` and ``("graph", name)``; each set
    keeps its own format."""

    def __init__(self, separation: Separation, render: GraphRender):
        self.separation, self.render = separation, render
        self.format = separation.format
        self.names = [*separation.names, *render.names]

    @property
    def tail_seconds(self) -> float:
        return self.render.tail_seconds

    def format_of(self, key: Hashable) -> OutputFormat:
        return self.separation.format if key[0] == "stems" else self.render.format

    def targets(self, path: Path, out_dir: Path) -> dict[Hashable, Path]:
        stems = self.separation.targets(path, out_dir)
        rendered = self.render.targets(path, out_dir)
        return {
            **{("stems", key): target for key, target in stems.items()},
            **{("graph", key): target for key, target in rendered.items()},
        }

    def _open(
        self, sample_rate: float, channels: int, normalisation: Normalisation
    ) -> Stream[Mapping[Hashable, np.ndarray]]:
        # Both in stereo, as the graph separates a mono track (exact for mono files too).
        node = self.separation.node
        stems = node.open_stream(sample_rate, channels=2, normalisation=normalisation)
        graph = self.render.graph.open_stream(sample_rate, channels=channels, separated=True)
        wanted = {name: node.sources.index(name) for name in self.separation.names}
        return _Both(stems, graph, wanted, channels)


class _Both:
    """A node stream whose stems are written and also fed to a graph stream."""

    def __init__(
        self,
        stems: Stream[np.ndarray],
        graph: Stream[Mapping[str, np.ndarray]],
        wanted: Mapping[str, int],
        channels: int,
    ):
        self.stems, self.graph, self.wanted, self.channels = stems, graph, wanted, channels

    def push(self, block: np.ndarray) -> dict[Hashable, np.ndarray]:
        stems = self.stems.push(match_channels(block, 2))
        return self._both(stems, self.graph.push(stems))

    def finish(self) -> dict[Hashable, np.ndarray]:
        stems = self.stems.finish()
        return self._both(stems, whole(self.graph, stems))

    def _both(
        self, stems: np.ndarray, rendered: Mapping[str, np.ndarray]
    ) -> dict[Hashable, np.ndarray]:
        out: dict[Hashable, np.ndarray] = {
            ("stems", name): fit_channels(stems[index], self.channels)
            for name, index in self.wanted.items()
        }
        out.update({("graph", name): signal for name, signal in rendered.items()})
        return out


# -- the entry points --------------------------------------------------------------------------


def separate_file(
    node: Separator,
    path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    stems: Sequence[str] | None = None,
    format: str = "wav",
    bit_depth: int = 16,
    clip_mode: str = DEFAULT_CLIP_MODE,
    template: str = DEFAULT_TEMPLATE,
    overwrite: bool = False,
    block_frames: int = DEFAULT_BLOCK_FRAMES,
    progress: ProgressCallback | None = None,
) -> dict[str, Path]:
    """Separate an audio file into ``out_dir/<track>/<stem>.<format>``, in bounded memory.

    Example::

        separate_file(SeparatorNode("demo"), "song.wav", "out/")   # out/song/drums.wav, ...

    ``stems`` picks some of the model's stems (default all). Returns stem name -> written path.
    ``progress``, if given, is called with the fraction done.
    """
    job = Separation(node, stems, OutputFormat(format, bit_depth, clip_mode=clip_mode), template)
    (track,) = job.plan([path], out_dir, overwrite=overwrite)
    return job.run(track, progress=progress, block_frames=block_frames)


def render_file(
    graph_or_preset: StemGraph | str | os.PathLike,
    path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    overwrite: bool = False,
    model: str | os.PathLike | None = None,
    device: str | None = None,
    precision: str | None = None,
    shifts: int | None = None,
    seed: int | None = None,
    allow_external_plugins: bool = False,
    clip_mode: str | None = None,
    block_frames: int = DEFAULT_BLOCK_FRAMES,
    progress: ProgressCallback | None = None,
) -> dict[str, Path]:
    """Render an audio file through a graph or a preset into the files its outputs name.

    Example::

        render_file("karaoke", "song.wav", "out/", model="demo")   # out/song/karaoke.wav

    A preset (a file or a shipped preset's name) is loaded with ``model``, ``device``,
    ``precision``, ``shifts`` and ``seed`` overriding its ``model:`` settings
    (:func:`~stemboard.graph.presets.load_graph`); a graph is used as it is (they do not apply
    to it). A graph without a preset writes its mix as ``out/<track>/mix.wav``. ``clip_mode``
    overrides the preset's ``outputs.clip_mode``. Returns output name -> written path.
    """
    overrides = {
        "model": model,
        "device": device,
        "precision": precision,
        "shifts": shifts,
        "seed": seed,
    }
    if isinstance(graph_or_preset, StemGraph):
        given = [key for key, value in overrides.items() if value is not None]
        if given:
            raise InvalidValueError(
                f"{', '.join(given)} apply to a preset; this graph already has its separator"
            )
        graph = graph_or_preset
    else:
        graph = load_graph(
            graph_or_preset, **overrides, allow_external_plugins=allow_external_plugins
        )
    job = GraphRender(graph, clip_mode=clip_mode)
    (track,) = job.plan([path], out_dir, overwrite=overwrite)
    return job.run(track, progress=progress, block_frames=block_frames)
