"""The pedalboard face shared by :class:`~stemboard.node.SeparatorNode` and
:class:`~stemboard.graph.StemGraph`: planar streams behind ``Plugin.process`` rules.

pedalboard's ``process(input_array, sample_rate, buffer_size, reset)`` takes audio in either
layout (guessed, and remembered from the last call), and with ``reset=False`` continues one
stream across calls until ``reset()`` or a flush. :class:`StreamFaces` keeps that bookkeeping —
the layout memory, one open stream per face (a node has a mix face and a stems face), the
errors for a sample rate or a layout that changes within a stream — so both classes only say
how to open their stream.

Example::

    faces = StreamFaces(max_channels=2, what="the model")
    planar, layout = faces.planar(block)                       # [channels, n], remembered
    stream = faces.continued("mix", rate, layout, lambda: node.open_stream(rate))
    out = stream.push(planar)
    stream, layout = faces.take("mix")                         # for flush(): the rest
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from stemboard.audio.layout import Layout, to_planar
from stemboard.errors import InvalidValueError
from stemboard.node.contracts import Stream


class StreamFaces:
    """Layout memory and the open streams of a pedalboard-style object.

    ``max_channels`` and ``what`` make the error for audio with too many channels ("audio has
    3 channels; the model takes at most 2").
    """

    def __init__(self, max_channels: int, what: str):
        self.max_channels = max_channels
        self.what = what
        self.last_layout: Layout | None = None  # pedalboard's layout memory, kept on reset
        self._open: dict[str, tuple[Stream[Any], float, Layout]] = {}

    def planar(self, audio: np.ndarray) -> tuple[np.ndarray, Layout]:
        """``audio`` as ``[channels, n]`` and its layout, guessed as pedalboard does (the last
        layout wins a tie)."""
        planar, layout = to_planar(audio, self.last_layout)
        self.last_layout = layout
        if layout.channels > self.max_channels:
            raise InvalidValueError(
                f"audio has {layout.channels} channels; {self.what} takes at most "
                f"{self.max_channels} (shape {audio.shape})"
            )
        return planar, layout

    def continued(
        self,
        face: str,
        sample_rate: float,
        layout: Layout,
        open_stream: Callable[[], Stream[Any]],
    ) -> Stream[Any]:
        """The stream of ``face`` for one more block: opened with ``open_stream`` when there
        is none; refused when the sample rate or the layout changed since it opened."""
        if face not in self._open:
            self._open[face] = (open_stream(), sample_rate, layout)
        stream, rate, opened = self._open[face]
        if sample_rate != rate:
            raise InvalidValueError(
                f"sample rate changed from {rate} to {sample_rate} within a stream; "
                "call reset() or flush() first"
            )
        if layout != opened:
            raise InvalidValueError(
                "channel layout changed within a stream; call reset() or flush() first"
            )
        return stream

    def take(self, face: str) -> tuple[Stream[Any], Layout] | None:
        """The open stream of ``face`` and its layout, closed here (for a flush); None when
        there is none."""
        taken = self._open.pop(face, None)
        return None if taken is None else (taken[0], taken[2])

    def drop(self, face: str | None = None) -> None:
        """Forget the stream of ``face`` (every face when None); the layout memory stays."""
        if face is None:
            self._open.clear()
        else:
            self._open.pop(face, None)
