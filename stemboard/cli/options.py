"""Option types and option groups the commands share (the node's own are in
:mod:`stemboard.cli.node_options`)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from stemboard.choices import CLIP_MODES


def number(convert: Callable[[str], Any], accept: Callable[[Any], bool], expected: str):
    """An argparse ``type``: ``convert`` the text, keep it if ``accept(value)``, else say so."""

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


positive_float = number(float, lambda v: 0 < v < float("inf"), "a positive number of seconds")
positive_int = number(int, lambda v: v >= 1, "a positive integer")


def comma_list(text: str) -> list[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected comma-separated names, e.g. vocals,drums")
    return items


def add_clip_mode(parser: argparse.ArgumentParser, default: str | None) -> None:
    parser.add_argument(
        "--clip-mode",
        choices=CLIP_MODES,
        default=default,
        help="samples beyond full scale in formats that cannot hold them: rescale the file "
        "(default, as demucs), clamp them, or none (the encoder clips); a warning says when",
    )


def add_external_plugins(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-external-plugins",
        action="store_true",
        help="let presets load VST3/AU plugins (runs native code from their files)",
    )


def add_session_options(parser: argparse.ArgumentParser) -> None:
    """``--session KIND`` (repeatable, added to a preset's ``outputs.sessions``) and
    ``--session-chains printed|dry`` (over its ``outputs.session_chains``)."""
    from stemboard.graph.preset_model import SESSION_CHAINS, SESSION_KINDS

    parser.add_argument(
        "--session",
        action="append",
        choices=SESSION_KINDS,
        metavar="|".join(SESSION_KINDS),
        help="also write a DAW session of each track (repeat for both; adds to the preset's)",
    )
    parser.add_argument(
        "--session-chains",
        choices=SESSION_CHAINS,
        help="printed: chains rendered into the session's audio (the default); dry: the dry "
        "stems, with the chains left to the DAW",
    )


def add_output_switches(parser: argparse.ArgumentParser, default: object = argparse.SUPPRESS):
    """``-v`` and ``-q``, before the command or after it (there they are SUPPRESSed when
    absent, so that they do not undo one given before)."""
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=default,
        help="say what runs each model and why (runtime, precision, device, threads) and "
        "what the runtimes find, on stderr",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default,
        help="no progress bar (it shows only on a terminal anyway)",
    )
