"""The separator node's options, once for every command: ``--model``, ``--device``,
``--precision`` (and the deprecated ``--fp16``), ``--shifts``, ``--seed``, ``--overlap``,
``--batch-size``.

Each option's type is the node's own check (:mod:`stemboard.node.settings`), so a value is
refused with the words the node, a preset and the batch planner use, and exit status 2.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from stemboard.choices import DEVICES, PRECISIONS
from stemboard.cli.output import DownloadProgress, ProgressLine, say
from stemboard.node.settings import (
    DEFAULT_MODEL,
    DEFAULT_OVERLAP,
    NodeSettings,
    SettingError,
    check_batch_size,
    check_device,
    check_overlap,
    check_precision,
    check_seed,
    check_shifts,
    fp16_alias,
)


def checked(convert: Callable[[str], Any], check: Callable[[Any], Any]):
    """An argparse ``type`` that converts the text and hands it to a setting's ``check``; text
    that does not convert goes to the check as it is, which says what was expected."""

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            value = text
        try:
            return check(value)
        except SettingError as error:
            raise argparse.ArgumentTypeError(error.problem) from None

    return parse


def add_model(parser: argparse.ArgumentParser, *, override: bool = False) -> None:
    """``--model``: the command's model (default :data:`DEFAULT_MODEL`), or with ``override``
    one that replaces a preset's."""
    if override:
        parser.add_argument(
            "--model", help="override the preset's model (.onnx file or known name, e.g. demo)"
        )
        return
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help=f"an exported .onnx file or a known name ({DEFAULT_MODEL}, the default; "
        "`stemboard models list` shows every one), made on first use",
    )


def add_device(parser: argparse.ArgumentParser, default: str | None = "auto") -> None:
    parser.add_argument(
        "--device",
        type=checked(str, check_device),
        metavar="{" + ",".join(DEVICES) + "}",
        default=default,
        help=f"where the model runs ({default})",
    )


def add_node_options(
    parser: argparse.ArgumentParser,
    *,
    preset: str | None = None,
    fp16_switch: bool = False,
    seed: bool = True,
    segments: bool = False,
) -> None:
    """``--precision``, ``--shifts`` and ``--seed`` (and with ``segments`` ``--overlap`` and
    ``--batch-size``). Absent, they are None (a given option can be told from an absent one):
    the node's defaults, or where a preset sets them what ``preset`` says, with ``{}`` for the
    node's default (e.g. "the preset's, or {} with --stems")."""

    def default(value: object) -> str:
        return f"default {value if preset is None else preset.format(value)}"

    offered = [p for p in PRECISIONS if p != "int8"]
    parser.add_argument(
        "--precision",
        type=checked(str, check_precision),
        metavar="{" + ",".join(offered) + "}",
        help=f"the arithmetic the model runs in ({default('auto')}): auto takes bf16 "
        "on a CPU that computes it natively when the model keeps its quality there, fp32 "
        "otherwise; fp16 is the model's .fp16.onnx variant, for the GPU; int8 is not offered",
    )
    if fp16_switch:
        parser.add_argument(
            "--fp16",
            action="store_true",
            help="deprecated: the same as --precision fp16 (removed in the next release)",
        )
    parser.add_argument(
        "--shifts",
        type=checked(int, check_shifts),
        metavar="N",
        help="test-time shifts, as in demucs: N passes, each at a random offset under half a "
        f"second, averaged (N times the work; 0 is one plain pass; {default(0)})",
    )
    if seed:
        parser.add_argument(
            "--seed",
            type=checked(int, check_seed),
            metavar="N",
            help=f"the seed of the shifts' offsets: the same seed, the same output ({default(0)})",
        )
    if segments:
        parser.add_argument(
            "--overlap",
            type=checked(float, check_overlap),
            default=DEFAULT_OVERLAP,
            help=f"the fraction of a segment shared with the next (default {DEFAULT_OVERLAP})",
        )
        parser.add_argument(
            "--batch-size",
            type=checked(int, check_batch_size),
            metavar="N",
            help="segments per run (default: what keeps the device busy)",
        )
    parser.set_defaults(
        resolve_node_options=_resolve_fp16_switch if fp16_switch else None, command_parser=parser
    )


def _resolve_fp16_switch(args: argparse.Namespace) -> None:
    args.precision = fp16_alias(args.precision, args.fp16, alias="--fp16", spell="--precision {}")


def resolve(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """After parsing: the deprecated ``--fp16`` folded into ``--precision`` (a contradiction
    is a usage error, exit 2)."""
    resolver = getattr(args, "resolve_node_options", None)
    if resolver is not None:
        try:
            resolver(args)
        except SettingError as error:
            getattr(args, "command_parser", parser).error(error.problem)


def settings(args: argparse.Namespace) -> NodeSettings:
    """The node's settings from a command's options (those it has; the rest at the defaults)."""
    given = {
        "name": getattr(args, "model", None),
        "device": getattr(args, "device", None),
        "overlap": getattr(args, "overlap", None),
        "batch_size": getattr(args, "batch_size", None),
    }
    return NodeSettings().overridden(**given, **overrides(args))


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    """``precision``, ``shifts`` and ``seed`` as given (None where absent), for a preset's."""
    return {
        "precision": args.precision,
        "shifts": args.shifts,
        "seed": getattr(args, "seed", None),
    }


def node_opener(args: argparse.Namespace) -> Callable[..., Any]:
    """How a command opens its node: :func:`stemboard.models.open_node` (a known model made on
    first use), its messages on stdout and its download as a progress line on a terminal
    (none with ``-q``). Called with the node's settings."""
    from stemboard.models import open_node

    def opened(settings: NodeSettings, **options: Any):
        progress = DownloadProgress(settings.name, ProgressLine(getattr(args, "quiet", False)))
        try:
            return open_node(settings, progress=progress, log=say, **options)
        finally:
            progress.close()

    return opened
