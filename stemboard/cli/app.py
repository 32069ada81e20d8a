"""The ``stemboard`` command: its parser, and the one place user errors become one line and an
exit status.

Exit status: 0 when everything asked for was done; 1 when something failed (each failure one
line ``stemboard: error: ...``, the other inputs going on); 2 when the command cannot start as
given (a bad option, a bad preset, a batch folder another run owns); 130 after Ctrl-C and 143
after SIGTERM — both stop the work cleanly: what was finished stays, what was not leaves no file
behind.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import signal
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence

from stemboard.cli import (
    batch,
    demo,
    evaluate,
    export,
    models,
    node_options,
    presets,
    render,
    separate,
    studio,
)
from stemboard.cli.options import add_output_switches
from stemboard.cli.output import UsageError, error, say, warn
from stemboard.console import log_to_stderr, printable
from stemboard.errors import StemboardError
from stemboard.node.settings import StemboardDeprecation
from stemboard.version import __version__

COMMANDS = (export, separate, render, batch, presets, models, evaluate, demo, studio)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        self.print_usage(sys.stderr)
        self.exit(2, printable(f"{self.prog}: error: {message}\n"))

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        parsed = super().parse_args(args, namespace)
        node_options.resolve(self, parsed)
        return parsed


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="stemboard", description="Hybrid Demucs source separation as a processing node."
    )
    parser.add_argument("--version", action="version", version=f"stemboard {__version__}")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )
    for command in COMMANDS:
        command.add(commands)
    add_output_switches(parser, default=False)
    for command in commands.choices.values():
        add_output_switches(command)
    return parser


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that every ``with`` block cleans up as for
    Ctrl-C."""


@contextlib.contextmanager
def _signals_as_exceptions() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` (SIGINT already raises ``KeyboardInterrupt``)."""

    def terminate(number: int, frame: object) -> None:
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, terminate)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _one_line_warnings(message, category, filename, lineno, file=None, line=None) -> None:
    warn(message)


def _return_large_arrays_to_the_system() -> None:
    """glibc keeps freed memory for reuse below a threshold that grows with the arrays a
    process frees (up to 32 MiB); a separation frees arrays of tens of MiB per batch, so a
    fixed 1 MiB threshold hands them back at once (about 30 MiB less at the peak,
    docs/benchmarks.md). Linux with glibc only; elsewhere nothing changes."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):  # not glibc (musl, say)
            ctypes.CDLL("libc.so.6").mallopt(_M_MMAP_THRESHOLD, 1 << 20)


_M_MMAP_THRESHOLD = -3  # glibc's malloc.h


def main(argv: Sequence[str] | None = None) -> int:
    _return_large_arrays_to_the_system()
    with warnings.catch_warnings():
        warnings.showwarning = _one_line_warnings
        warnings.simplefilter("default", StemboardDeprecation)
        args = build_parser().parse_args(argv)
        run: Callable[[argparse.Namespace], int] = args.run
        with _signals_as_exceptions(), log_to_stderr(args.verbose):
            return _run(run, args)


def _run(run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    try:
        return run(args)
    except UsageError as problem:
        error(problem)
        return 2
    except StemboardError as problem:
        error(problem)
        return 1
    except OSError as problem:  # the machine's, not ours: a full disk, a vanished folder
        where = f"{problem.filename}: " if problem.filename else ""
        error(f"{where}{problem.strerror or problem}")
        return 1
    except MemoryError:
        error("out of memory")
        return 1
    except KeyboardInterrupt:
        say("stemboard: interrupted; finished files are kept, unfinished ones removed", sys.stderr)
        return 130
    except Terminated:
        say("stemboard: terminated; finished files are kept, unfinished ones removed", sys.stderr)
        return 143
