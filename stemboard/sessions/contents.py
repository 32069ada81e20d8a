"""What a DAW session holds, whatever its format: the tracks a graph and its stems make.

:func:`session_contents` turns a :class:`~stemboard.graph.graph.StemGraph` and the stems it was
rendered from into a :class:`Session`: a flat list of :class:`SessionTrack` in the order a DAW
shows them, each an audio track (a stem, with its audio) or a group (a bus, holding the tracks
that feed it). Levels are the graph's own: gain in dB, pan, mute, solo.

Chains (``chains``):

- ``"printed"`` (the default): a stem's chain is rendered into its audio. A chain on a bus or
  on the master works on a sum, so no input track can hold it: its effect is printed as a
  track of its own — ``"<bus> chain"`` inside the bus's group, ``"master chain"`` at the top —
  holding what the chain adds to the sum it gets (its output minus its input), so the
  session's tracks add up to stemboard's mix exactly at the graph's levels. Mute that track to
  hear the bus dry.
- ``"dry"``: the stems are written as separated, and every chain is left to the DAW: its
  effects are listed in the track's comment and, where the format has a device of that kind,
  carried as one (see :func:`device_specs`).

Pan (``pan``): ``"fader"`` writes the graph's pan as the track's pan, for a format whose pan law
is the graph's (REAPER's, as stemboard sets it); ``"printed"`` multiplies the graph's pan into
the audio and leaves the track's pan at centre, for a format with no pan law of its own
(DAWproject): the graph's constant-power balance, ``[√2·cos θ, √2·sin θ]`` with ``θ = (pan +
1)·π/4``, is unity at centre, where every DAW's balance is too.

The stems are ``[sources, channels, samples]`` in the model's order, mono or stereo; a session
is stereo. Every clip is as long as the graph's render: the song plus ``tail_seconds``.

Example::

    session = session_contents(graph, stems, 44100)
    [track.name for track in session.tracks]    # ["drums", "bass", "other", "vocals"]
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from stemboard.audio.layout import match_channels
from stemboard.errors import InvalidValueError
from stemboard.graph.graph import MIX, StemGraph
from stemboard.graph.preset_model import SESSION_CHAINS
from stemboard.graph.strips import Channel
from stemboard.node.contracts import whole
from stemboard.sessions.colours import GROUP_COLOUR, stem_colours

CHAIN_MODES = SESSION_CHAINS
PAN_MODES = ("fader", "printed")

MAPPED_EFFECTS = {
    "Compressor": "Compressor",
    "NoiseGate": "NoiseGate",
    "Limiter": "Limiter",
    "BrickwallLimiter": "Limiter",
    "HighpassFilter": "Equalizer",
    "LowpassFilter": "Equalizer",
    "HighShelfFilter": "Equalizer",
    "LowShelfFilter": "Equalizer",
    "PeakFilter": "Equalizer",
}
"""pedalboard effects a format's built-in devices can stand for (DAWproject's): name -> device."""


@dataclass(frozen=True)
class SessionTrack:
    """One track of a session.

    ``kind`` is ``"audio"`` (``audio`` holds ``[2, samples]`` float32) or ``"group"`` (a bus:
    the tracks whose ``parent`` is its ``key`` play through it). ``pan`` is what the track's pan
    control holds (see the module); ``chain`` the effect specs of the chain the track stands for
    (printed, or to be mapped), ``comment`` the line a DAW shows with it.
    """

    key: str
    name: str
    kind: str
    parent: str | None
    colour: str
    gain_db: float = 0.0
    pan: float = 0.0
    mute: bool = False
    solo: bool = False
    audio: np.ndarray | None = field(default=None, repr=False, compare=False)
    chain: tuple[dict, ...] = ()
    comment: str = ""

    @property
    def depth(self) -> int:
        """0 at the top; one more inside each group (filled in by :class:`Session`)."""
        return self.key.count("/")


@dataclass(frozen=True)
class Session:
    """Every track in display order (a group before the tracks in it), the master chain's
    specs and comment, the sample rate and the length of every clip in samples."""

    name: str
    tracks: tuple[SessionTrack, ...]
    sample_rate: int
    samples: int
    chains: str
    master_chain: tuple[dict, ...] = ()
    master_comment: str = ""

    @property
    def seconds(self) -> float:
        return self.samples / self.sample_rate

    def children(self, key: str | None) -> list[SessionTrack]:
        """The tracks directly inside group ``key`` (``None``: the top level)."""
        return [track for track in self.tracks if track.parent == key]

    def audio_tracks(self) -> list[SessionTrack]:
        return [track for track in self.tracks if track.kind == "audio"]


def balance_gains(pan: float) -> np.ndarray:
    """``[2, 1]`` left/right gains of the graph's constant-power balance, unity at centre."""
    angle = (pan + 1.0) * math.pi / 4.0
    return math.sqrt(2.0) * np.array([[math.cos(angle)], [math.sin(angle)]])


def chain_specs(chain: Any) -> tuple[dict, ...]:
    """The specs of a strip's chain (a plugin, a ``Pedalboard``, a node), in order."""
    from stemboard.graph.effects import describe_plugin

    if chain is None:
        return ()
    plugins = list(chain) if hasattr(chain, "__iter__") else [chain]
    specs = []
    for plugin in plugins:
        try:
            specs.append(describe_plugin(plugin))
        except Exception:  # a stemboard node or an external plugin: named, not described
            specs.append({"plugin": type(plugin).__name__})
    return tuple(specs)


def describe_specs(specs: Sequence[dict]) -> str:
    """``Compressor(threshold_db=-12, ratio=4), Reverb(...)``: a chain in one line."""
    shown = []
    for spec in specs:
        values = ", ".join(
            f"{key}={_short(value)}" for key, value in spec.items() if key != "plugin"
        )
        shown.append(f"{spec['plugin']}({values})")
    return ", ".join(shown)


def _short(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


class _Sources:
    """A separator stand-in that only names its stems: a graph fed separated stems
    (``open_stream(..., separated=True)``) never asks it for more."""

    def __init__(self, sources: Sequence[str]):
        self.sources = tuple(sources)


def _run_chains(
    chains: dict[str, Any], signals: dict[str, np.ndarray], sample_rate: float
) -> dict[str, np.ndarray]:
    """Each signal through its chain alone, at unity level, as the graph runs a chain (same
    blocks, latency and tail handling), so the result is sample for sample the graph's."""
    names = list(chains)
    graph = StemGraph(_Sources(names), stems={name: Channel(chain=chains[name]) for name in names})
    stream = graph.open_stream(sample_rate, channels=2, separated=True)
    length = next(iter(signals.values())).shape[-1]
    done = whole(stream, np.stack([signals[name] for name in names]).astype(np.float32))
    return {name: done[name][:, :length] for name in names}


def session_contents(
    graph: StemGraph,
    stems: np.ndarray,
    sample_rate: float,
    *,
    name: str = "session",
    chains: str = "printed",
    pan: str = "fader",
) -> Session:
    """The session of ``graph`` rendered from ``stems`` (``[sources, channels, samples]``).

    Raises ``ValueError`` for an unknown ``chains`` or ``pan`` mode, stems that do not match
    the graph's sources, or no stems at all.
    """
    if chains not in CHAIN_MODES:
        raise InvalidValueError(
            f"unknown session chains {chains!r}; choose one of: {', '.join(CHAIN_MODES)}"
        )
    if pan not in PAN_MODES:
        raise InvalidValueError(f"unknown pan mode {pan!r}; choose one of: {', '.join(PAN_MODES)}")
    stems = np.asarray(stems, dtype=np.float32)
    if stems.ndim != 3 or len(stems) != len(graph.sources) or stems.shape[-1] == 0:
        raise InvalidValueError(
            f"a session needs the graph's {len(graph.sources)} stems "
            f"({', '.join(graph.sources)}) as [sources, channels, samples] with samples; "
            f"got {stems.shape}"
        )
    stereo = np.stack([match_channels(stem, 2) for stem in stems])
    rendered = whole(graph.open_stream(sample_rate, channels=2, separated=True), stereo)
    samples = rendered[MIX].shape[-1]
    padded = np.pad(stereo, ((0, 0), (0, 0), (0, samples - stereo.shape[-1])))
    dry = {source: padded[index] for index, source in enumerate(graph.sources)}
    printing = chains == "printed"
    stem_chains = {n: graph.channels[n].chain for n in graph.sources}
    if printing and any(chain is not None for chain in stem_chains.values()):
        audio = _run_chains(
            {n: c for n, c in stem_chains.items() if c is not None}, dry, sample_rate
        )
        audio = {n: audio.get(n, dry[n]) for n in graph.sources}
    else:
        audio = dry
    builder = _Builder(graph, rendered, audio, sample_rate, printing, pan == "printed")
    tracks = tuple(builder.tracks())
    master = chain_specs(graph.master)
    master_comment = ""
    if master:
        verb = "printed into the track 'master chain'" if printing else "for the DAW to add"
        master_comment = f"master chain {verb}: {describe_specs(master)}"
    return Session(
        name=name,
        tracks=tracks,
        sample_rate=round(sample_rate),
        samples=samples,
        chains=chains,
        master_chain=master,
        master_comment=master_comment,
    )


class _Builder:
    """Walks the graph's routing top down, making each track with its audio and levels."""

    def __init__(
        self,
        graph: StemGraph,
        rendered: dict[str, np.ndarray],
        audio: dict[str, np.ndarray],
        sample_rate: float,
        printing: bool,
        print_pan: bool,
    ):
        self.graph, self.rendered, self.audio = graph, rendered, audio
        self.sample_rate, self.printing, self.print_pan = sample_rate, printing, print_pan
        self.colours = stem_colours(graph.sources)
        self.soloed = any(channel.solo for channel in graph.channels.values())
        feeds = graph.routing.feeds
        self.top = [n for n in graph.sources if n not in feeds]
        self.top += [n for n in graph.routing.order if n not in feeds]
        self.effects = self._bus_effects() if printing else {}

    def _bus_effects(self) -> dict[str, np.ndarray]:
        """What each bus's chain adds to its input (output minus input), and the master's."""
        graph, rendered = self.graph, self.rendered
        sums = {
            name: sum(rendered[source] for source in bus.inputs)
            for name, bus in graph.buses.items()
            if bus.chain is not None
        }
        effects = {}
        if sums:
            chains = {name: graph.buses[name].chain for name in sums}
            outputs = _run_chains(chains, sums, self.sample_rate)
            effects = {name: outputs[name] - sums[name] for name in sums}
        if graph.master is not None:
            effects[MIX] = rendered[MIX] - sum(rendered[name] for name in self.top)
        return effects

    def tracks(self) -> Iterator[SessionTrack]:
        for name in self.top:
            yield from self._track(name, None, np.ones((2, 1)))
        if MIX in self.effects:
            yield self._effect_track(MIX, "master chain", None, np.ones((2, 1)), self.graph.master)

    def _track(self, name: str, parent: str | None, above: np.ndarray) -> Iterator[SessionTrack]:
        key = name if parent is None else f"{parent}/{name}"
        if name in self.graph.channels:
            channel = self.graph.channels[name]
            specs = chain_specs(channel.chain)
            track = SessionTrack(
                key=key,
                name=name,
                kind="audio",
                parent=parent,
                colour=self.colours[name],
                gain_db=channel.gain_db,
                pan=channel.pan,
                mute=channel.mute,
                solo=channel.solo,
                chain=specs,
                comment=self._chain_comment(specs),
            )
            yield self._panned(track, self.audio[name], above)
            return
        bus = self.graph.buses[name]
        specs = chain_specs(bus.chain)
        comment = self._chain_comment(specs)
        if specs and self.printing:
            comment = f"chain printed into the track '{name} chain': {describe_specs(specs)}"
        group = SessionTrack(
            key=key,
            name=name,
            kind="group",
            parent=parent,
            colour=GROUP_COLOUR,
            gain_db=bus.gain_db,
            pan=bus.pan,
            mute=bus.mute,
            chain=specs,
            comment=comment,
        )
        group = self._panned(group, None, above)
        yield group
        inner = above * balance_gains(bus.pan) if self.print_pan else above
        for source in bus.inputs:
            yield from self._track(source, key, inner)
        if name in self.effects:
            yield self._effect_track(name, f"{name} chain", key, inner, bus.chain)

    def _effect_track(
        self, name: str, title: str, parent: str | None, above: np.ndarray, chain: Any
    ) -> SessionTrack:
        key = title if parent is None else f"{parent}/{title}"
        specs = chain_specs(chain)
        track = SessionTrack(
            key=key,
            name=title,
            kind="audio",
            parent=parent,
            colour=GROUP_COLOUR,
            solo=self.soloed,  # heard whenever the sum it belongs to is
            chain=specs,
            comment=f"what {describe_specs(specs)} adds (printed); mute to hear it dry",
        )
        return replace(track, audio=(self.effects[name] * above).astype(np.float32))

    def _panned(
        self, track: SessionTrack, audio: np.ndarray | None, above: np.ndarray
    ) -> SessionTrack:
        """The track with the graph's pan on its control, or multiplied into its audio."""
        if not self.print_pan:
            if audio is not None:
                track = replace(track, audio=np.asarray(audio, np.float32))
            return track
        if track.pan:
            note = f"pan {track.pan:+.3g} printed into the audio"
            track = replace(track, comment="; ".join(filter(None, [track.comment, note])))
        gains = above * balance_gains(track.pan)
        if audio is not None:
            track = replace(track, audio=(audio * gains).astype(np.float32))
        return replace(track, pan=0.0)

    def _chain_comment(self, specs: Sequence[dict]) -> str:
        if not specs:
            return ""
        if self.printing:
            return f"chain printed: {describe_specs(specs)}"
        return f"chain: {describe_specs(specs)}"
