"""``StemGraph``: separator -> one chain per stem -> gain, pan, mute/solo -> buses -> master.

Everything runs as a stream of blocks, offline included (one block and a flush), so rendering a
file in blocks and rendering an array in memory give the same samples. Each branch of the graph
is a :class:`_Branch`: a chain run with pedalboard's ``reset=False`` and a FIFO of what it has
produced. Pedalboard keeps a plugin's output aligned with its input and returns fewer samples
while a plugin with latency fills up, so branches may be at different lengths; a mixing point
takes only the samples every input has produced, which keeps chains of different latency
time-aligned. At the end each branch is fed silence until it has produced as many samples as
went in, plus ``tail_seconds`` of effect tail.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from stemboard import io
from stemboard.errors import StemboardError

_CHANNELS = 2
_CHAIN_BLOCK = 8192
_MAX_FLUSH_BLOCKS = 1024  # a chain that never catches up is a bug, not a reason to loop forever


@dataclass
class Channel:
    """A stem's strip: its chain, gain in dB, pan (-1 left .. 1 right), mute and solo."""

    chain: object | None = None
    gain_db: float = 0.0
    pan: float = 0.0
    mute: bool = False
    solo: bool = False


@dataclass
class Bus:
    """A named group of stems and/or other buses, mixed and run through its own chain."""

    inputs: list[str] = field(default_factory=list)
    chain: object | None = None
    gain_db: float = 0.0
    pan: float = 0.0
    mute: bool = False


def _strip_gains(gain_db: float, pan: float, where: str) -> np.ndarray:
    """``[2, 1]`` left/right gains: dB gain times a constant-power pan, unity at centre."""
    if not math.isfinite(gain_db):
        raise StemboardError(f"{where}: gain_db must be a finite number, got {gain_db}")
    if not -1.0 <= pan <= 1.0:
        raise StemboardError(f"{where}: pan must be in [-1, 1], got {pan}")
    angle = (pan + 1.0) * math.pi / 4.0
    linear = 10.0 ** (gain_db / 20.0)
    return (linear * math.sqrt(2.0) * np.array([[math.cos(angle)], [math.sin(angle)]])).astype(
        np.float32
    )


class _Branch:
    """A chain fed in fixed-size blocks, with a FIFO of its aligned output ``[2, n]``.

    Pedalboard prepares a plugin again — losing its state — when a block is longer than any
    before it, so the chain only ever sees blocks of ``_CHAIN_BLOCK`` samples (the last one
    padded with the silence that follows the track anyway). Streaming output therefore never
    depends on how the caller cut the stream, at the cost of up to one block of delay.
    """

    def __init__(self, chain, sample_rate: float):
        self.chain = chain
        self.sample_rate = sample_rate
        self.waiting = np.zeros((_CHANNELS, 0), np.float32)
        self.produced: list[np.ndarray] = []  # joined only when taken: no quadratic copying
        self.count = 0

    def push(self, block: np.ndarray) -> None:
        if self.chain is None:
            self._append(block)
            return
        self.waiting = np.concatenate([self.waiting, block], axis=1)
        while self.waiting.shape[-1] >= _CHAIN_BLOCK:
            chunk, self.waiting = self.waiting[:, :_CHAIN_BLOCK], self.waiting[:, _CHAIN_BLOCK:]
            self._append(self.chain.process(chunk, self.sample_rate, reset=False))

    def _append(self, out: np.ndarray) -> None:
        self.produced.append(out.astype(np.float32, copy=False))
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
        raise StemboardError(f"chain {self.chain!r} did not produce its output when flushed")


class StemGraph:
    """Separate, put effects on every stem, mix through buses and a master chain.

    Example::

        from pedalboard import Pedalboard, Reverb, Compressor, Gain
        from stemboard import SeparatorNode
        from stemboard.graph import StemGraph, Bus

        graph = StemGraph(
            SeparatorNode("models/tiny.onnx"),
            stems={"vocals": Pedalboard([Reverb(room_size=0.6)]), "drums": Compressor()},
            buses={"rhythm": Bus(inputs=["drums", "bass"], chain=Gain(gain_db=2))},
            master=Pedalboard([Gain(gain_db=-1)]),
        )
        mix = graph(audio, 44100)                  # like any pedalboard Plugin

    ``stems`` maps a stem name to a chain (any pedalboard ``Plugin``/``Pedalboard``, or another
    stemboard node) or to a :class:`Channel`. Stems not named pass through unchanged. A stem or
    bus that feeds a bus goes only there; everything else goes to the master. ``solo`` on any
    stem silences the stems without it. ``tail_seconds`` of effect tail are rendered after the
    input ends (the output is that much longer).
    """

    def __init__(
        self,
        separator,
        stems: Mapping[str, object] | None = None,
        *,
        buses: Mapping[str, Bus] | None = None,
        master: object | None = None,
        tail_seconds: float = 0.0,
    ):
        self.separator = separator
        self.sources: tuple[str, ...] = tuple(separator.sources)
        self.channels = {
            name: value if isinstance(value, Channel) else Channel(chain=value)
            for name, value in (stems or {}).items()
        }
        unknown = [name for name in self.channels if name not in self.sources]
        if unknown:
            raise StemboardError(
                f"unknown stem {unknown[0]!r}; the separator has: {', '.join(self.sources)}"
            )
        for name in self.sources:
            self.channels.setdefault(name, Channel())
        self.buses = dict(buses or {})
        self.master = master
        if not (math.isfinite(tail_seconds) and 0.0 <= tail_seconds <= 60.0):
            raise StemboardError(f"tail_seconds must be in [0, 60], got {tail_seconds}")
        self.tail_seconds = tail_seconds
        self.order = self._check_routing()
        self._gains = {
            name: _strip_gains(channel.gain_db, channel.pan, f"stem {name!r}")
            for name, channel in self.channels.items()
        }
        self._gains.update(
            {
                name: _strip_gains(bus.gain_db, bus.pan, f"bus {name!r}")
                for name, bus in self.buses.items()
            }
        )
        for name in self._gains:  # muting, and solo on some other stem, is a gain of zero
            if not self._audible(name):
                self._gains[name] = np.zeros_like(self._gains[name])
        self._state: _GraphState | None = None
        self._last_layout: io.Layout | None = None

    def _check_routing(self) -> list[str]:
        """Buses in an order where every bus comes after the buses feeding it."""
        for name, bus in self.buses.items():
            if name in self.sources:
                raise StemboardError(f"bus {name!r} has the name of a stem")
            if not bus.inputs:
                raise StemboardError(f"bus {name!r} has no inputs")
            for source in bus.inputs:
                if source not in self.sources and source not in self.buses:
                    raise StemboardError(
                        f"bus {name!r}: unknown input {source!r} (stems: "
                        f"{', '.join(self.sources)}; buses: {', '.join(self.buses)})"
                    )
        feeders: dict[str, str] = {}
        for name, bus in self.buses.items():
            for source in bus.inputs:
                if source in feeders:
                    raise StemboardError(
                        f"{source!r} feeds both bus {feeders[source]!r} and bus {name!r}"
                    )
                feeders[source] = name
        order: list[str] = []
        state: dict[str, str] = {}

        def visit(name: str, path: list[str]) -> None:
            if state.get(name) == "done":
                return
            if state.get(name) == "visiting":
                cycle = [*path[path.index(name) :], name]
                raise StemboardError(f"buses form a cycle: {' -> '.join(cycle)}")
            state[name] = "visiting"
            for source in self.buses[name].inputs:
                if source in self.buses:
                    visit(source, [*path, name])
            state[name] = "done"
            order.append(name)

        for name in self.buses:
            visit(name, [])
        self._feeds = feeders
        return order

    def _audible(self, name: str) -> bool:
        if name in self.buses:
            return not self.buses[name].mute
        channel = self.channels[name]
        soloed = any(c.solo for c in self.channels.values())
        return not channel.mute and (channel.solo or not soloed)

    # -- the pedalboard-compatible surface ---------------------------------------------------

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
        return self._run(input_array, sample_rate, reset)["mix"]

    __call__ = process

    def render_stems(self, audio: np.ndarray, sample_rate: float) -> dict[str, np.ndarray]:
        """The processed stems and buses (after chain, gain, pan, mute), and the ``mix``."""
        return self._run(audio, sample_rate, reset=True)

    def flush(self) -> np.ndarray:
        """The rest of a stream, tails included; clears the state."""
        return self.flush_all()["mix"]

    def flush_all(self) -> dict[str, np.ndarray]:
        """Like :meth:`flush`, with every processed stem and bus as well as the mix."""
        state, self._state = self._state, None
        if state is None:
            return {"mix": np.zeros((0,), np.float32)}
        out = _to_layout(state.finish(), state.layout)
        self.reset()
        return out

    def reset(self) -> None:
        """Drop any stream in progress, including the separator's and the chains' state."""
        self._state = None
        self.separator.reset()
        for chain in self._chains():
            chain.reset()

    def stream(self, audio: np.ndarray, sample_rate: float) -> dict[str, np.ndarray]:
        """One block of a stream: everything ready, per stem, bus and ``mix``."""
        return self._run(audio, sample_rate, reset=False)

    def _chains(self) -> Iterable:
        for channel in self.channels.values():
            if channel.chain is not None:
                yield channel.chain
        for bus in self.buses.values():
            if bus.chain is not None:
                yield bus.chain
        if self.master is not None:
            yield self.master

    def stream_planar(self, block: np.ndarray, sample_rate: float) -> dict[str, np.ndarray]:
        """:meth:`stream` for a channels-first ``[channels, n]`` block (a file's), never guessed."""
        layout = io.Layout(one_dimensional=False, channels_last=False, channels=block.shape[0])
        return self._run(block, sample_rate, reset=False, layout=layout)

    def _run(
        self,
        audio: np.ndarray,
        sample_rate: float,
        reset: bool,
        layout: io.Layout | None = None,
    ) -> dict[str, np.ndarray]:
        model_audio, layout = io.to_model_channels(audio, _CHANNELS, layout or self._last_layout)
        self._last_layout = layout
        if reset:
            self.reset()
            state = _GraphState(self, sample_rate, layout)
            first = state.push(model_audio)
            rest = state.finish()
            whole = {k: np.concatenate([first[k], rest[k]], axis=-1) for k in first}
            return _to_layout(whole, layout)
        if self._state is None:
            self.reset()  # a stream starts from silence, whatever ran before
            self._state = _GraphState(self, sample_rate, layout)
        elif self._state.sample_rate != sample_rate:
            raise ValueError(
                f"sample rate changed from {self._state.sample_rate} to {sample_rate} within a "
                "stream; call flush() or reset() first"
            )
        return _to_layout(self._state.push(model_audio), layout)


def _to_layout(signals: Mapping[str, np.ndarray], layout: io.Layout) -> dict[str, np.ndarray]:
    return {name: io.from_model_channels(value, layout) for name, value in signals.items()}


class _GraphState:
    """One stream through a graph: a branch per stem, per bus and for the master."""

    def __init__(self, graph: StemGraph, sample_rate: float, layout: io.Layout):
        self.graph = graph
        self.sample_rate = sample_rate
        self.layout = layout
        self.received = 0
        self.stems = {n: _Branch(graph.channels[n].chain, sample_rate) for n in graph.sources}
        self.buses = {n: _Branch(graph.buses[n].chain, sample_rate) for n in graph.order}
        self.master = _Branch(graph.master, sample_rate)
        self.taken = dict.fromkeys([*self.stems, *self.buses], 0)
        self.master_taken = 0

    def push(self, audio: np.ndarray) -> dict[str, np.ndarray]:
        self.received += audio.shape[-1]
        separated = self.graph.separator.separate(audio, self.sample_rate, reset=False)
        return self._advance(separated, final=False)

    def finish(self) -> dict[str, np.ndarray]:
        separated = self.graph.separator.flush_stems()
        return self._advance(separated, final=True)

    def _advance(self, separated: Mapping[str, np.ndarray], final: bool) -> dict[str, np.ndarray]:
        graph = self.graph
        total = self.received + round(graph.tail_seconds * self.sample_rate)
        outputs: dict[str, np.ndarray] = {}
        for name, branch in self.stems.items():
            branch.push(np.ascontiguousarray(separated[name], dtype=np.float32))
            if final:
                branch.drain(total, self.taken[name])
        top_level: list[tuple[str, _Branch]] = []
        for name in graph.sources:
            if name not in graph._feeds:
                top_level.append((name, self.stems[name]))
        for name in graph.order:
            inputs = [(s, self._branch(s)) for s in graph.buses[name].inputs]
            mixed = self._mix(inputs, outputs, total if final else None)
            self.buses[name].push(mixed)
            if final:
                self.buses[name].drain(total, self.taken[name])
            if name not in graph._feeds:
                top_level.append((name, self.buses[name]))
        mixed = self._mix(top_level, outputs, total if final else None)
        self.master.push(mixed)
        if final:
            self.master.drain(total, self.master_taken)
        ready = self.master.available()
        if final:
            ready = total - self.master_taken
        self.master_taken += ready
        outputs["mix"] = self.master.take(ready)
        return outputs

    def _branch(self, name: str) -> _Branch:
        return self.stems[name] if name in self.stems else self.buses[name]

    def _mix(
        self,
        inputs: list[tuple[str, _Branch]],
        outputs: dict[str, np.ndarray],
        total: int | None,
    ) -> np.ndarray:
        """Sum what every input has produced, after its gain/pan (zero when inaudible).

        Inputs of one mixing point are always taken together, so they share a position; with
        ``total`` (at the end) nothing past it is taken.
        """
        count = min((branch.available() for _, branch in inputs), default=0)
        if total is not None and inputs:
            count = min(count, total - self.taken[inputs[0][0]])
        mixed = np.zeros((_CHANNELS, count), np.float32)
        for name, branch in inputs:
            signal = branch.take(count) * self.graph._gains[name]
            self.taken[name] += count
            outputs[name] = signal
            mixed += signal
        return mixed
