"""The two contracts the layers above the node rely on: a stream, and a separator.

A :class:`Stream` takes one track in blocks — ``push(block)`` returns what is ready, ``finish()``
the rest — whatever it returns (stems ``[sources, channels, m]`` from a node,
``{name: [channels, m]}`` from a graph or a file job). A :class:`Separator` is what a graph
and a file job need of a node: its stem names, its sample rate, and a stream of one track.
:class:`~stemboard.node.separator.SeparatorNode` is the one stemboard ships; anything with the
same face (another model, a test's stand-in) fits where a node does.

Example::

    stems = whole(node.open_stream(44100), audio)       # push the whole track, then finish
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, TypeVar

import numpy as np

from stemboard.node.stream import Normalisation

Out = TypeVar("Out", covariant=True)


class Stream(Protocol[Out]):
    """One track, block by block: ``push`` what came in, ``finish`` once at the end."""

    def push(self, block: np.ndarray) -> Out:
        """One more block (``[channels, n]``, or ``[sources, channels, n]`` stems for a graph
        fed separated stems); what is ready."""
        ...

    def finish(self) -> Out:
        """Everything still held (tails included); the stream is over."""
        ...


class Separator(Protocol):
    """What a graph and a file job need of a separator node."""

    @property
    def sources(self) -> tuple[str, ...]:
        """The stem names, in the model's output order."""
        ...

    @property
    def sample_rate(self) -> int:
        """The model's sample rate."""
        ...

    def open_stream(
        self,
        sample_rate: float,
        *,
        channels: int | None = None,
        normalisation: Normalisation | None = None,
        mix: bool = False,
    ) -> Stream[np.ndarray]:
        """A stream of one track: ``[channels, n]`` in, ``[sources, channels, m]`` out."""
        ...


Signals = TypeVar("Signals", np.ndarray, Mapping[str, np.ndarray])


def whole(stream: Stream[Signals], block: np.ndarray) -> Signals:
    """``block`` as a whole track through ``stream``: what ``push`` and ``finish`` return,
    joined along time (per name when the stream returns a mapping)."""
    ready, rest = stream.push(block), stream.finish()
    if isinstance(rest, Mapping):
        return {name: np.concatenate([ready[name], rest[name]], axis=-1) for name in rest}
    return np.concatenate([ready, rest], axis=-1)
