"""Mixer strips: a :class:`Channel` per stem and a :class:`Bus` per group, with settings that
can change while a graph runs.

Every setting is checked by the graph's rules (:mod:`stemboard.graph.rules`) when it is set, so
a strip never holds a value the graph cannot play. ``gain_db``, ``pan``, ``mute`` and ``solo``
are read by the graph at every block: changing them while a stream runs takes effect at the next
block (a studio fader). A new ``chain`` takes effect when the next stream starts (the next
``process(..., reset=True)``, ``reset()`` or file render), because a chain in mid-stream holds
state (a reverb's tail) that a swap would cut. A bus's ``inputs`` are fixed when it is made:
routing is planned once, by the graph.

Example::

    vocals = Channel(chain=Pedalboard([Reverb()]), gain_db=-3)
    graph = StemGraph(node, stems={"vocals": vocals})
    graph.channels["vocals"].mute = True           # silent from the next block on
"""

from __future__ import annotations

from typing import Any

from stemboard.graph.rules import check_chain, check_gain_db, check_pan, check_switch


class _Strip:
    """Shared by Channel and Bus: checked settings, equality and a readable repr."""

    _SETTINGS: tuple[str, ...] = ()

    def __init__(self, **settings: Any) -> None:
        for name, value in settings.items():
            setattr(self, name, value)

    @property
    def chain(self) -> Any:
        """The effect chain (a pedalboard plugin, a Pedalboard, a stemboard node) or None."""
        return self._chain

    @chain.setter
    def chain(self, value: Any) -> None:
        self._chain = check_chain(value)

    @property
    def gain_db(self) -> float:
        """Gain in dB, within :data:`~stemboard.graph.rules.GAIN_DB_RANGE`."""
        return self._gain_db

    @gain_db.setter
    def gain_db(self, value: float) -> None:
        self._gain_db = check_gain_db(value)

    @property
    def pan(self) -> float:
        """Constant-power pan, -1 (left) .. 1 (right); 0 leaves the stereo image as it is."""
        return self._pan

    @pan.setter
    def pan(self, value: float) -> None:
        self._pan = check_pan(value)

    @property
    def mute(self) -> bool:
        return self._mute

    @mute.setter
    def mute(self, value: bool) -> None:
        self._mute = check_switch(value, "mute")

    def settings(self) -> dict[str, Any]:
        """Every setting by name, as passed to the constructor."""
        return {name: getattr(self, name) for name in self._SETTINGS}

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.settings() == other.settings()

    __hash__ = None  # mutable

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in self.settings().items())
        return f"{type(self).__name__}({shown})"


class Channel(_Strip):
    """A stem's strip: its chain, gain in dB, pan (-1 left .. 1 right), mute and solo.

    ``solo`` on any stem silences the stems without it.
    """

    _SETTINGS = ("chain", "gain_db", "pan", "mute", "solo")

    def __init__(
        self,
        chain: Any = None,
        gain_db: float = 0.0,
        pan: float = 0.0,
        mute: bool = False,
        solo: bool = False,
    ) -> None:
        super().__init__(chain=chain, gain_db=gain_db, pan=pan, mute=mute, solo=solo)

    @property
    def solo(self) -> bool:
        return self._solo

    @solo.setter
    def solo(self, value: bool) -> None:
        self._solo = check_switch(value, "solo")


class Bus(_Strip):
    """A named group of stems and/or other buses, mixed and run through its own chain.

    ``inputs`` are fixed when the bus is made (the graph plans its routing once).
    """

    _SETTINGS = ("inputs", "chain", "gain_db", "pan", "mute")

    def __init__(
        self,
        inputs: list[str] | tuple[str, ...] = (),
        chain: Any = None,
        gain_db: float = 0.0,
        pan: float = 0.0,
        mute: bool = False,
    ) -> None:
        self._inputs = tuple(inputs)
        super().__init__(chain=chain, gain_db=gain_db, pan=pan, mute=mute)

    @property
    def inputs(self) -> tuple[str, ...]:
        """The stems and buses this bus mixes, in order."""
        return self._inputs
