"""``StemGraph``: separator -> one chain per stem -> gain, pan, mute/solo -> buses -> master.

Two faces over one engine, as for the node. :meth:`StemGraph.open_stream` is planar: a
:class:`GraphStream` takes ``[channels, n]`` blocks (or already separated stems) and returns
every processed stem, bus and the ``mix`` as ``[channels, m]``; the file renderer uses it. The
pedalboard-style ``process`` converts the caller's layout once, at this edge, and runs a stream.
Inside, the graph works in stereo: mono comes in as its stereo copy and goes out as the mean.

Each branch of the graph is a :class:`_Branch`: a chain run with pedalboard's ``reset=False``
and a FIFO of what it has produced. Pedalboard keeps a plugin's output aligned with its input
and returns fewer samples while a plugin with latency fills up, so branches may be at different
lengths; a mixing point takes only the samples every input has produced, which keeps chains of
different latency time-aligned. At the end each branch is fed silence until it has produced as
many samples as went in, plus ``tail_seconds`` of effect tail.

Levels (gain, pan, mute, solo of stems and buses) are read at every block, so a change takes
effect at the next block; chains are taken when a stream starts (see
:mod:`stemboard.graph.strips`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from stemboard.audio.layout import (
    Layout,
    first_non_finite,
    fit_channels,
    from_planar,
    match_channels,
)
from stemboard.errors import AudioTypeError, GraphError, InvalidValueError
from stemboard.graph.rules import (
    at,
    check_chain,
    check_stem_names,
    check_tail_seconds,
    plan_routing,
)
from stemboard.graph.strips import Bus, Channel
from stemboard.node.contracts import Separator, whole
from stemboard.node.face import StreamFaces
from stemboard.node.stream import Normalisation

_CHANNELS = 2
_CHAIN_BLOCK = 8192
_MAX_FLUSH_BLOCKS = 1024  # a chain that never catches up is a bug, not a reason to loop forever
MIX = "mix"


def _strip_gains(gain_db: float, pan: float) -> np.ndarray:
    """``[2, 1]`` left/right gains: dB gain times a constant-power pan, unity at centre."""
    angle = (pan + 1.0) * math.pi / 4.0
    linear = 10.0 ** (gain_db / 20.0)
    return (linear * math.sqrt(2.0) * np.array([[math.cos(angle)], [math.sin(angle)]])).astype(
        np.float32
    )


class StemGraph:
    """Separate, put effects on every stem, mix through buses and a master chain.

    Example::

        from pedalboard import Pedalboard, Reverb, Compressor, Gain
        from stemboard import Bus, SeparatorNode, StemGraph

        graph = StemGraph(
            SeparatorNode("demo"),
            stems={"vocals": Pedalboard([Reverb(room_size=0.6)]), "drums": Compressor()},
            buses={"rhythm": Bus(inputs=["drums", "bass"], chain=Gain(gain_db=2))},
            master=Pedalboard([Gain(gain_db=-1)]),
        )
        mix = graph(audio, 44100)                  # like any pedalboard Plugin
        graph.channels["vocals"].gain_db = -6      # takes effect at the next block

    ``stems`` maps a stem name to a chain (any pedalboard ``Plugin``/``Pedalboard``, or another
    stemboard node) or to a :class:`Channel`. Stems not named pass through unchanged. A stem or
    bus that feeds a bus goes only there; everything else goes to the master. ``solo`` on any
    stem silences the stems without it. ``tail_seconds`` of effect tail are rendered after the
    input ends (the output is that much longer). Every setting follows the rules of
    :mod:`stemboard.graph.rules`; a broken one is a :class:`~stemboard.errors.GraphError`.
    """

    def __init__(
        self,
        separator: Separator,
        stems: Mapping[str, Any] | None = None,
        *,
        buses: Mapping[str, Bus] | None = None,
        master: Any = None,
        tail_seconds: float = 0.0,
    ):
        self.separator = separator
        self.sources: tuple[str, ...] = tuple(separator.sources)
        channels: dict[str, Channel] = {}
        for name, value in (stems or {}).items():
            if isinstance(value, Channel):
                channels[name] = value
            else:
                try:
                    channels[name] = Channel(chain=value)
                except GraphError as error:
                    raise at(f"stems.{name}", error) from None
        check_stem_names(list(channels), self.sources, "stems")
        for name in self.sources:
            channels.setdefault(name, Channel())
        self._channels = {name: channels[name] for name in self.sources}
        for name, bus in (buses or {}).items():
            if not isinstance(bus, Bus):
                raise GraphError(f"buses.{name}: expected a Bus, got {type(bus).__name__}")
        self._buses = dict(buses or {})
        self.routing = plan_routing(
            {name: bus.inputs for name, bus in self._buses.items()}, self.sources
        )
        self.master = master
        self.tail_seconds = tail_seconds
        # process/stream(reset=False) and the layout memory
        self._faces = StreamFaces(_CHANNELS, "the graph")

    @property
    def channels(self) -> Mapping[str, Channel]:
        """Every stem's :class:`Channel`, in the model's order (read-only mapping; the channels
        themselves can be changed)."""
        return MappingProxyType(self._channels)

    @property
    def buses(self) -> Mapping[str, Bus]:
        """Every :class:`Bus` by name (read-only mapping; the buses' levels can be changed)."""
        return MappingProxyType(self._buses)

    @property
    def master(self) -> Any:
        """The master chain or None; a new one takes effect when the next stream starts."""
        return self._master

    @master.setter
    def master(self, value: Any) -> None:
        self._master = check_chain(value, "master")

    @property
    def tail_seconds(self) -> float:
        """Seconds of effect tail rendered after the input ends, in [0, 60]."""
        return self._tail_seconds

    @tail_seconds.setter
    def tail_seconds(self, value: float) -> None:
        self._tail_seconds = check_tail_seconds(value)

    def __repr__(self) -> str:
        return (
            f"<stemboard.StemGraph sources={list(self.sources)} buses={list(self._buses)} "
            f"tail_seconds={self.tail_seconds}>"
        )

    def levels(self) -> dict[str, np.ndarray]:
        """The ``[2, 1]`` left/right gain of every stem and bus now: gain and pan, zero when
        muted or when another stem is soloed."""
        soloed = any(channel.solo for channel in self._channels.values())
        gains = {}
        for name, channel in self._channels.items():
            audible = not channel.mute and (channel.solo or not soloed)
            gains[name] = _strip_gains(channel.gain_db, channel.pan) * audible
        for name, bus in self._buses.items():
            gains[name] = _strip_gains(bus.gain_db, bus.pan) * (not bus.mute)
        return gains

    def chains(self) -> Iterator[Any]:
        """Every chain in the graph: the stems', the buses', the master's."""
        for strip in [*self._channels.values(), *self._buses.values()]:
            if strip.chain is not None:
                yield strip.chain
        if self.master is not None:
            yield self.master

    # -- the planar face ---------------------------------------------------------------------

    def open_stream(
        self,
        sample_rate: float,
        *,
        channels: int | None = None,
        normalisation: Normalisation | None = None,
        separated: bool = False,
    ) -> GraphStream:
        """A new stream of one track: every chain starts from silence.

        ``push([channels, n])`` returns what is ready of every stem, bus and the ``"mix"``, as
        ``{name: [channels, m]}``; ``finish()`` the rest, tails included. ``channels`` (1 or 2)
        fixes the input's channel count up front; otherwise the first block does.
        ``normalisation`` is handed to the separator's stream (see
        :meth:`stemboard.node.SeparatorNode.open_stream`). With ``separated`` the graph skips
        the separator: ``push`` takes stems that are already separated, ``[sources, channels,
        n]`` in the model's order, and the result equals running the graph on the mix that
        gave them.
        """
        return GraphStream(
            self, sample_rate, channels=channels, normalisation=normalisation, separated=separated
        )

    # -- the pedalboard face -----------------------------------------------------------------

    def process(
        self,
        input_array: np.ndarray,
        sample_rate: float,
        buffer_size: int = 8192,
        reset: bool = True,
    ) -> np.ndarray:
        """The mix of ``input_array``, in its layout, as float32.

        ``reset=True``: one whole track (plus ``tail_seconds``). ``reset=False``: one block of a
        stream; returns what is ready, :meth:`flush` the rest.
        """
        del buffer_size
        return self._run(input_array, sample_rate, reset)[MIX]

    __call__ = process

    def render_stems(self, audio: np.ndarray, sample_rate: float) -> dict[str, np.ndarray]:
        """The processed stems and buses (after chain, gain, pan, mute), and the ``mix``."""
        return self._run(audio, sample_rate, reset=True)

    def stream(self, audio: np.ndarray, sample_rate: float) -> dict[str, np.ndarray]:
        """One block of a stream: everything ready, per stem, bus and ``mix``."""
        return self._run(audio, sample_rate, reset=False)

    def flush(self) -> np.ndarray:
        """The rest of a stream, tails included; clears the state."""
        return self.flush_all()[MIX]

    def flush_all(self) -> dict[str, np.ndarray]:
        """Like :meth:`flush`, with every processed stem and bus as well as the mix."""
        taken = self._faces.take("graph")
        if taken is None:
            return {MIX: np.zeros((0,), np.float32)}
        stream, layout = taken
        return _to_layout(stream.finish(), layout)

    def reset(self) -> None:
        """Drop any stream in progress."""
        self._faces.drop()

    def _run(self, audio: np.ndarray, sample_rate: float, reset: bool) -> dict[str, np.ndarray]:
        planar, layout = self._faces.planar(audio)
        if reset:
            self._faces.drop()
            stream = self.open_stream(
                sample_rate, channels=layout.channels, normalisation=Normalisation.of(planar)
            )
            return _to_layout(whole(stream, planar), layout)
        stream = self._faces.continued(
            "graph",
            sample_rate,
            layout,
            lambda: self.open_stream(sample_rate, channels=layout.channels),
        )
        return _to_layout(stream.push(planar), layout)


def _to_layout(signals: Mapping[str, np.ndarray], layout: Layout) -> dict[str, np.ndarray]:
    return {name: from_planar(value, layout) for name, value in signals.items()}


class _Branch:
    """A chain fed in fixed-size blocks, with a FIFO of its aligned output ``[2, n]``.

    Pedalboard prepares a plugin again — losing its state — when a block is longer than any
    before it, so the chain only ever sees blocks of ``_CHAIN_BLOCK`` samples (the last one
    padded with the silence that follows the track anyway). Streaming output therefore never
    depends on how the caller cut the stream, at the cost of up to one block of delay.
    """

    def __init__(self, chain: Any, sample_rate: float):
        self.chain = chain
        self.sample_rate = sample_rate
        self.waiting = np.zeros((_CHANNELS, 0), np.float32)
        self.produced: list[np.ndarray] = []  # joined only when taken: no quadratic copying
        self.count = 0
        if chain is not None:
            chain.reset()

    def push(self, block: np.ndarray) -> None:
        if self.chain is None:
            self._append(block)
            return
        self.waiting = np.concatenate([self.waiting, block], axis=1)
        while self.waiting.shape[-1] >= _CHAIN_BLOCK:
            chunk, self.waiting = self.waiting[:, :_CHAIN_BLOCK], self.waiting[:, _CHAIN_BLOCK:]
            self._append(self.chain.process(chunk, self.sample_rate, reset=False))

    def _append(self, out: np.ndarray) -> None:
        self.produced.append(np.asarray(out, dtype=np.float32))
        self.count += out.shape[-1]

    def available(self) -> int:
        return self.count

    def take(self, count: int) -> np.ndarray:
        joined = np.concatenate(self.produced, axis=1) if self.produced else self.waiting[:, :0]
        out, rest = joined[:, :count], joined[:, count:]
        self.produced = [rest] if rest.shape[-1] else []
        self.count = rest.shape[-1]
        return out

    def drain(self, total: int, already_taken: int) -> None:
        """Feed silence until ``total`` samples have come out (``already_taken`` included)."""
        for _ in range(_MAX_FLUSH_BLOCKS):
            if total - already_taken - self.available() <= 0:
                return
            missing = _CHAIN_BLOCK - self.waiting.shape[-1]
            self.push(np.zeros((_CHANNELS, missing), np.float32))
        raise GraphError(f"chain {self.chain!r} did not produce its output when flushed")


class GraphStream:
    """One track through a :class:`StemGraph`, planar: made by :meth:`StemGraph.open_stream`.

    ``push`` returns ``{name: [channels, m]}`` for every stem, every bus and ``"mix"``, all of
    the same length; ``finish`` returns the rest (tails included) and ends the stream.
    """

    def __init__(
        self,
        graph: StemGraph,
        sample_rate: float,
        *,
        channels: int | None,
        normalisation: Normalisation | None,
        separated: bool,
    ):
        self.graph = graph
        self.sample_rate = float(sample_rate)
        self.channels = channels
        if channels is not None and channels not in (1, _CHANNELS):
            raise InvalidValueError(
                f"audio has {channels} channels; the graph takes mono or stereo"
            )
        self.separated = separated
        self.separation = (
            None
            if separated
            else graph.separator.open_stream(
                sample_rate, channels=_CHANNELS, normalisation=normalisation
            )
        )
        self.received = 0
        self.finished = False
        routing = graph.routing
        self.stems = {n: _Branch(graph.channels[n].chain, sample_rate) for n in graph.sources}
        self.buses = {n: _Branch(graph.buses[n].chain, sample_rate) for n in routing.order}
        self.master = _Branch(graph.master, sample_rate)
        self.taken = dict.fromkeys([*self.stems, *self.buses], 0)
        self.master_taken = 0

    def push(self, block: np.ndarray) -> dict[str, np.ndarray]:
        """``[channels, n]`` audio (or ``[sources, channels, n]`` stems with ``separated``) in."""
        if self.finished:
            raise InvalidValueError("this stream is finished; open a new one")
        stems = self._separate(block)
        return self._advance(stems, final=False)

    def finish(self) -> dict[str, np.ndarray]:
        """Everything still in the graph, tails included; the stream is over."""
        if self.finished:
            raise InvalidValueError("this stream is finished; open a new one")
        self.finished = True
        if self.separation is not None:
            stems = self.separation.finish()
        else:
            stems = np.zeros((len(self.graph.sources), _CHANNELS, 0), np.float32)
        return self._advance(stems, final=True)

    def _separate(self, block: np.ndarray) -> np.ndarray:
        expected = 3 if self.separated else 2
        if not isinstance(block, np.ndarray) or block.dtype.kind != "f" or block.ndim != expected:
            shape = getattr(block, "shape", type(block).__name__)
            what = "stems [sources, channels, samples]" if self.separated else "[channels, samples]"
            raise AudioTypeError(f"expected float audio {what}, got {shape}")
        if self.separated and len(block) != len(self.graph.sources):
            raise InvalidValueError(
                f"expected {len(self.graph.sources)} stems ({', '.join(self.graph.sources)}), "
                f"got {len(block)}"
            )
        channels = block.shape[-2]
        if channels not in (1, _CHANNELS):
            raise InvalidValueError(
                f"audio has {channels} channels; the graph takes mono or stereo"
            )
        if self.channels is None:
            self.channels = channels
        elif channels != self.channels and not self.separated:
            raise InvalidValueError(
                f"a block of {channels} channels in a stream of {self.channels}-channel audio"
            )
        block = np.ascontiguousarray(block, dtype=np.float32)
        self.received += block.shape[-1]
        if self.separated:
            problem = first_non_finite(block.reshape(len(block) * channels, -1))
            if problem is not None:
                raise InvalidValueError(f"stems contain {problem[0]} NaN or infinite values")
            return np.stack([match_channels(stem, _CHANNELS) for stem in block])
        return self.separation.push(match_channels(block, _CHANNELS))

    def _advance(self, separated: np.ndarray, final: bool) -> dict[str, np.ndarray]:
        graph = self.graph
        levels = graph.levels()
        total = self.received + round(graph.tail_seconds * self.sample_rate)
        outputs: dict[str, np.ndarray] = {}
        for index, (name, branch) in enumerate(self.stems.items()):
            branch.push(np.ascontiguousarray(separated[index], dtype=np.float32))
            if final:
                branch.drain(total, self.taken[name])
        feeds = graph.routing.feeds
        top_level = [(name, self.stems[name]) for name in graph.sources if name not in feeds]
        for name in graph.routing.order:
            inputs = [(s, self._branch(s)) for s in graph.buses[name].inputs]
            mixed = self._mix(inputs, levels, outputs, total if final else None)
            self.buses[name].push(mixed)
            if final:
                self.buses[name].drain(total, self.taken[name])
            if name not in feeds:
                top_level.append((name, self.buses[name]))
        mixed = self._mix(top_level, levels, outputs, total if final else None)
        self.master.push(mixed)
        if final:
            self.master.drain(total, self.master_taken)
        ready = total - self.master_taken if final else self.master.available()
        self.master_taken += ready
        outputs[MIX] = self.master.take(ready)
        channels = self.channels or _CHANNELS
        return {name: fit_channels(signal, channels) for name, signal in outputs.items()}

    def _branch(self, name: str) -> _Branch:
        return self.stems[name] if name in self.stems else self.buses[name]

    def _mix(
        self,
        inputs: list[tuple[str, _Branch]],
        levels: Mapping[str, np.ndarray],
        outputs: dict[str, np.ndarray],
        total: int | None,
    ) -> np.ndarray:
        """Sum what every input has produced, after its level (zero when inaudible).

        Inputs of one mixing point are always taken together, so they share a position; with
        ``total`` (at the end) nothing past it is taken.
        """
        count = min((branch.available() for _, branch in inputs), default=0)
        if total is not None and inputs:
            count = min(count, total - self.taken[inputs[0][0]])
        mixed = np.zeros((_CHANNELS, count), np.float32)
        for name, branch in inputs:
            signal = branch.take(count) * levels[name]
            self.taken[name] += count
            outputs[name] = signal
            mixed += signal
        return mixed
