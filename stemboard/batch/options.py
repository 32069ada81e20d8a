"""What a user chooses for a batch, as records checked when they are made.

:class:`BatchOptions` holds :func:`~stemboard.batch.runner.plan_batch`'s options, grouped:
what each track becomes (a preset, or stems), the node settings the batch imposes on every
track (:class:`NodeOverrides`), how the files are written (:class:`FileOverrides`), and how the
run goes (engine, workers, retries). Every node setting is checked by
:mod:`stemboard.node.settings`, with the words every other face uses.

Example::

    options = BatchOptions.of(stems="all", model="demo", precision="fp32", workers=2)
    options.node.precision, options.files.format       # 'fp32', None
"""

from __future__ import annotations

import dataclasses
import numbers
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from stemboard.choices import DEFAULT_CLIP_MODE
from stemboard.errors import InvalidValueError, format_value
from stemboard.graph.preset_model import OutputSettings
from stemboard.node.settings import (
    NodeSettings,
    check_device,
    check_model,
    check_precision,
    check_seed,
    check_shifts,
)
from stemboard.render import OutputFormat
from stemboard.sessions.writing import check_chains, check_session_kinds

ENGINES = ("local", "ray")
DEFAULT_RETRIES = 2


@dataclass(frozen=True)
class NodeOverrides:
    """The node settings a batch gives every track: the device, and the precision, shifts and
    seed, each None to keep a preset's own (or the node's defaults when separating)."""

    device: str = "auto"
    precision: str | None = None
    shifts: int | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        check_device(self.device)
        if self.precision is not None:
            check_precision(self.precision)
        if self.shifts is not None:
            check_shifts(self.shifts)
        check_seed(self.seed)

    def applied(self, settings: NodeSettings | None = None) -> NodeSettings:
        """``settings`` (a preset's ``model:``; None: the node's defaults) with the batch's
        precision, shifts and seed where it gives them. Their model and device are not used:
        every track runs on the batch's model and device."""
        base = settings if settings is not None else NodeSettings()
        return base.overridden(precision=self.precision, shifts=self.shifts, seed=self.seed)


@dataclass(frozen=True)
class FileOverrides:
    """How the files are written, over a preset's ``outputs`` (None keeps the preset's; a
    separation's default is 16-bit WAV, rescaled so that it does not clip). ``sessions``: DAW
    sessions (:data:`~stemboard.graph.preset_model.SESSION_KINDS`) added to the preset's, as
    ``stemboard render --session`` adds them; ``session_chains`` over the preset's."""

    format: str | None = None
    bit_depth: int | None = None
    clip_mode: str | None = None
    sessions: tuple[str, ...] = ()
    session_chains: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.sessions, str):  # one kind, not its letters
            object.__setattr__(self, "sessions", (self.sessions,))
        object.__setattr__(self, "sessions", check_session_kinds(self.sessions))
        if self.session_chains is not None:
            check_chains(self.session_chains)

    def separation_format(self) -> OutputFormat:
        """The format of separated stems."""
        return OutputFormat(
            self.format or "wav",
            self.bit_depth or 16,
            clip_mode=self.clip_mode or DEFAULT_CLIP_MODE,
        )

    def over(self, outputs: OutputSettings) -> OutputSettings:
        """A preset's outputs with this format, bit depth and sessions (the clip mode is given
        to the render, which overrides the preset's)."""
        changes: dict[str, Any] = {}
        if self.format is not None or self.bit_depth is not None:
            changes["format"] = self.format or outputs.format
            changes["bit_depth"] = self.bit_depth or outputs.bit_depth
        if self.sessions:
            changes["sessions"] = list(check_session_kinds([*outputs.sessions, *self.sessions]))
        if self.session_chains is not None:
            changes["session_chains"] = self.session_chains
        return dataclasses.replace(outputs, **changes) if changes else outputs


_NODE_FIELDS = tuple(item.name for item in dataclasses.fields(NodeOverrides))
_FILE_FIELDS = tuple(item.name for item in dataclasses.fields(FileOverrides))


@dataclass(frozen=True)
class BatchOptions:
    """A batch's options; see :func:`~stemboard.batch.runner.plan_batch`.

    Exactly one of ``preset`` (render through it: a file or a shipped name) and ``stems``
    (separate: ``"all"`` or names) is given. ``model``: a known name or an ``.onnx`` file
    (default the preset's, else :data:`~stemboard.node.settings.DEFAULT_MODEL`). ``engine``:
    ``local`` or ``ray``
    (``address``: the cluster; ``gpus_per_worker``: Ray's GPUs per actor). ``workers``: None for
    the machine's default. ``retries``: attempts after a worker dies mid-track. ``overwrite``:
    render tracks the ledger has as done.
    """

    preset: str | None = None
    stems: tuple[str, ...] | str | None = None
    model: str | None = None
    node: NodeOverrides = field(default_factory=NodeOverrides)
    files: FileOverrides = field(default_factory=FileOverrides)
    engine: str = "local"
    address: str | None = None
    workers: int | None = None
    gpus_per_worker: float | None = None
    retries: int = DEFAULT_RETRIES
    overwrite: bool = False
    allow_external_plugins: bool = False

    @classmethod
    def of(cls, **options: Any) -> BatchOptions:
        """The options from flat keywords, as :func:`~stemboard.batch.runner.run_batch` takes
        them (``precision=``, ``format=`` ... go to their record); ``TypeError`` for an
        unknown one."""
        node = {key: options.pop(key) for key in _NODE_FIELDS if key in options}
        files = {key: options.pop(key) for key in _FILE_FIELDS if key in options}
        return cls(node=NodeOverrides(**node), files=FileOverrides(**files), **options)

    def __post_init__(self) -> None:
        if (self.preset is None) == (self.stems is None):
            raise InvalidValueError(
                "give either a preset (--preset) or the stems to write (--stems)"
            )
        if self.preset is not None:
            object.__setattr__(self, "preset", os.fspath(self.preset))
        if self.stems is not None and self.files.sessions:
            raise InvalidValueError(
                "a DAW session (--session) holds a preset's levels, buses and chains: "
                "give --preset, not --stems"
            )
        if self.stems is not None and self.stems != "all":
            object.__setattr__(self, "stems", _names(self.stems))
        if self.model is not None:
            object.__setattr__(self, "model", check_model(self.model))
        if self.engine not in ENGINES:
            raise InvalidValueError(
                f"unknown engine {self.engine!r}; choose one of: {', '.join(ENGINES)}"
            )
        if self.workers is not None:
            _count("workers", self.workers, 1)
        _count("retries", self.retries, 0)
        if self.gpus_per_worker is not None and (
            isinstance(self.gpus_per_worker, bool)
            or not isinstance(self.gpus_per_worker, numbers.Real)
            or not 0 <= self.gpus_per_worker <= 64
        ):
            raise InvalidValueError(
                f"gpus_per_worker must be a number from 0 to 64, "
                f"got {format_value(self.gpus_per_worker)}"
            )

    @property
    def wanted_stems(self) -> tuple[str, ...] | None:
        """The stems to separate; None for every stem of the model (or when rendering)."""
        return None if self.stems in (None, "all") else self.stems


def _names(stems: Sequence[str] | str) -> tuple[str, ...]:
    names = (stems,) if isinstance(stems, str) else tuple(stems)
    if not names or not all(isinstance(name, str) and name for name in names):
        raise InvalidValueError(f"stems must be 'all' or stem names, got {format_value(stems)}")
    return names


def _count(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise InvalidValueError(f"{name} must be an integer >= {low}, got {format_value(value)}")
