"""The separator node's settings, in one place: the record, the defaults and every check.

A node is described by :class:`NodeSettings` — the model, where it runs, the overlap, the batch
size, the precision and the test-time shifts with their seed — which is also what a preset's
``model:`` section holds. Each setting has one check here, and every face that takes one calls
it: :class:`~stemboard.node.separator.SeparatorNode` and
:func:`~stemboard.node.session.open_session`, the preset parser (which puts the ``model.`` key in
front), the batch planner and the command line's option types. So a value is refused with the
same words wherever it is given.

Every check raises :class:`SettingError` (a ``ValueError``), in the style of
:mod:`stemboard.graph.rules`: ``where`` is the setting's name as the caller spells it
(``overlap``, ``model.overlap``), ``problem`` what is wrong, and the message reads
``"<where>: <problem>"``.

Example::

    settings = NodeSettings("demo", precision="fp32", shifts=2)   # checked when made
    node = SeparatorNode.from_settings(settings)
    settings.overridden(precision=None, seed=3)                  # None keeps the value
"""

from __future__ import annotations

import dataclasses
import numbers
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stemboard.choices import BACKENDS, DEVICES, PRECISIONS
from stemboard.errors import InvalidValueError, format_value
from stemboard.registry import known_sources

DEFAULT_MODEL = "htdemucs"
"""The model a node runs when none is named: demucs v4's Hybrid Transformer Demucs, the best
published quality per unit of work (docs/models.md, "The default model")."""
DEFAULT_OVERLAP = 0.25
"""The fraction of a segment shared with the next: less loses quality, more buys none
(docs/benchmarks.md)."""
MAX_SHIFTS = 16
"""The most test-time shifts: each one separates the whole track again."""

INT8_REFUSAL = (
    "int8 is not offered: quantized with NNCF 3.4 and calibrated on music-like audio, the best "
    "variant kept 13.0 dB SNR against fp32 on `high` and 9.6 dB on the demo model, far below "
    "the 40 dB quality gate (docs/benchmarks.md); use bf16 or fp32"
)


class SettingError(InvalidValueError):
    """A node setting that cannot be used: ``where`` names it, ``problem`` says why."""

    def __init__(self, where: str, problem: str):
        super().__init__(f"{where}: {problem}" if where else problem)
        self.where = where
        self.problem = problem


def _choice(value: Any, where: str, what: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise SettingError(
            where, f"unknown {what} {format_value(value)} (expected one of: {', '.join(choices)})"
        )
    return value


def _integer(value: Any, where: str, low: int, high: int | None = None) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < low
        or (high is not None and value > high)
    ):
        expected = f"from {low} to {high}" if high is not None else f">= {low}"
        raise SettingError(where, f"expected an integer {expected}, got {format_value(value)}")
    return int(value)


def check_model(value: Any, where: str = "model") -> str:
    """A model: a known name or an ``.onnx`` path, as one line of text (what it names is
    looked up when the node opens it)."""
    if hasattr(value, "__fspath__"):
        value = value.__fspath__()
    if not isinstance(value, str) or not value or "\n" in value or "\0" in value:
        raise SettingError(
            where, f"expected a model name or an .onnx path, got {format_value(value)}"
        )
    return value


def check_device(value: Any, where: str = "device") -> str:
    """``auto`` (the GPU when one works), ``cpu`` or ``cuda``."""
    return _choice(value, where, "device", DEVICES)


def check_backend(value: Any, where: str = "backend") -> str:
    """``auto``, ``openvino`` or ``onnxruntime``."""
    return _choice(value, where, "backend", BACKENDS)


def check_precision(value: Any, where: str = "precision") -> str:
    """One of :data:`~stemboard.choices.PRECISIONS`; ``int8`` is refused with the measurement
    that keeps it out."""
    _choice(value, where, "precision", PRECISIONS)
    if value == "int8":
        raise SettingError(where, INT8_REFUSAL)
    return value


def check_overlap(value: Any, where: str = "overlap") -> float:
    """The fraction of a segment shared with the next, in ``[0, 1)``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not 0.0 <= value < 1.0  # NaN too
    ):
        raise SettingError(where, f"expected a fraction in [0, 1), got {format_value(value)}")
    return float(value)


def check_batch_size(value: Any, where: str = "batch_size") -> int | None:
    """Segments per run, ``>= 1``; None for the device's default."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise SettingError(where, f"expected null or an integer >= 1, got {format_value(value)}")
    return int(value)


def check_shifts(value: Any, where: str = "shifts") -> int:
    """Test-time shifts, from 0 (one plain pass) to :data:`MAX_SHIFTS`."""
    return _integer(value, where, 0, MAX_SHIFTS)


def check_seed(value: Any, where: str = "seed") -> int | None:
    """The shifts' seed, ``>= 0``; None draws new offsets for every node."""
    return None if value is None else _integer(value, where, 0)


def check_threads(value: Any, where: str = "threads") -> int | None:
    """CPU threads per run, ``>= 1``; None for every core this process may use."""
    return None if value is None else _integer(value, where, 1)


class StemboardDeprecation(DeprecationWarning):
    """A stemboard spelling that goes away in the next release; the command line shows it."""


def fp16_alias(
    precision: str | None, fp16: Any, *, alias: str, spell: str, where: str = ""
) -> str | None:
    """The precision once the deprecated fp16 switch is taken into account, with a
    :class:`StemboardDeprecation` warning when the switch is on.

    ``alias`` is how the caller writes the switch (``--fp16``, ``fp16=True``, ``fp16: true``)
    and ``spell`` how it writes a precision (``--precision {}``, ``precision={!r}``,
    ``precision: {}``), so the messages speak the caller's language; ``where`` locates an
    error (a preset's ``model.fp16``). The switch means ``fp16``; beside any precision given
    but ``fp16`` (``auto`` included) it is refused; None is a precision not given.
    """
    if not isinstance(fp16, bool):
        raise SettingError(where or alias, f"expected true or false, got {format_value(fp16)}")
    if not fp16:
        return precision
    if precision not in (None, "fp16"):
        raise SettingError(
            where,
            f"{alias} (deprecated: {spell.format('fp16')}) contradicts {spell.format(precision)}",
        )
    warnings.warn(
        f"{alias} is deprecated (removed in the next release); use {spell.format('fp16')}",
        StemboardDeprecation,
        stacklevel=3,
    )
    return "fp16"


@dataclass(frozen=True)
class NodeSettings:
    """How a :class:`~stemboard.node.separator.SeparatorNode` runs: the model (a known name or
    an ``.onnx`` path), ``device``, ``overlap``, ``batch_size`` (None: the device's default),
    ``precision`` (see :data:`~stemboard.choices.PRECISIONS`), and test-time ``shifts`` with
    their ``seed``. Every value is checked when the record is made.

    A preset's ``model:`` section is one of these; the preset key of the model is ``name``.
    """

    name: str = DEFAULT_MODEL
    device: str = "auto"
    overlap: float = DEFAULT_OVERLAP
    batch_size: int | None = None
    precision: str = "auto"
    shifts: int = 0
    seed: int | None = 0

    def __post_init__(self) -> None:
        for key, value in _checked(dataclasses.asdict(self), "").items():
            object.__setattr__(self, key, value)

    @property
    def fp16(self) -> bool:
        """Whether the model's ``.fp16.onnx`` variant runs (``precision == "fp16"``)."""
        return self.precision == "fp16"

    def portable(self) -> NodeSettings:
        """These settings with a model file (not a known name) named by its absolute path, so
        that a preset written with them finds the model from any folder."""
        if known_sources(self.name) is not None:
            return self
        return dataclasses.replace(self, name=str(Path(self.name).resolve()))

    def overridden(self, **settings: Any) -> NodeSettings:
        """These settings with some replaced, and checked; a None value leaves that one as it
        is (``model`` is accepted for ``name``).

        Example::

            preset.model.overridden(precision="fp32", shifts=None)  # shifts stay the preset's
        """
        if "model" in settings:
            settings["name"] = settings.pop("model")
        changes = {key: value for key, value in settings.items() if value is not None}
        return dataclasses.replace(self, **changes)


_CHECKS = {
    "name": check_model,
    "device": check_device,
    "overlap": check_overlap,
    "batch_size": check_batch_size,
    "precision": check_precision,
    "shifts": check_shifts,
    "seed": check_seed,
}


def _checked(values: dict[str, Any], prefix: str) -> dict[str, Any]:
    """Every setting of ``values`` through its check; errors located at ``prefix + key`` (the
    model's name is ``model`` without a prefix)."""
    return {
        key: _CHECKS[key](value, f"{prefix}{key}" if prefix or key != "name" else "model")
        for key, value in values.items()
    }


def settings_from(
    fields: dict[str, Any], prefix: str, defaults: NodeSettings | None = None
) -> NodeSettings:
    """:class:`NodeSettings` from plain data (a preset's ``model:`` mapping), the missing ones
    from ``defaults``; an error is located at ``prefix + key`` (``model.overlap``)."""
    base = dataclasses.asdict(defaults or NodeSettings())
    values = {key: fields.get(key, default) for key, default in base.items()}
    return NodeSettings(**_checked(values, prefix))
