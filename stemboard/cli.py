"""The ``stemboard`` command line: user errors become one line on stderr and a non-zero exit."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from stemboard import __version__
from stemboard.errors import StemboardError
from stemboard.registry import ARCHITECTURES, BUNDLES

EXPORT_MODULES = ("torch", "torchaudio", "onnx", "onnxscript")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _add_export(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "export",
        help="export an HDemucs to ONNX",
        description=(
            "Export torchaudio's HDemucs to one ONNX graph (mix [batch, 2, samples] -> "
            "stems [batch, sources, 2, samples]) and verify it against PyTorch. "
            "Needs the export extra: pip install 'stemboard[export]'."
        ),
    )
    parser.add_argument("--out", required=True, help="the .onnx file to write")
    source = parser.add_argument_group("weights (exactly one source)")
    source.add_argument(
        "--bundle", choices=sorted(BUNDLES), help="torchaudio's pretrained bundle (downloaded once)"
    )
    source.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="a state_dict saved with torch.save (architecture: --config, default high)",
    )
    source.add_argument(
        "--config",
        choices=sorted(ARCHITECTURES),
        help="alone: random weights of this architecture; with --checkpoint: its architecture",
    )
    source.add_argument("--seed", type=int, help="seed for random weights (default 0)")
    parser.add_argument(
        "--segment",
        type=_positive_float,
        default=10.0,
        metavar="SECONDS",
        help="segment length baked into the graph (default 10; rounded to 2048-sample steps)",
    )
    parser.add_argument(
        "--fp16", action="store_true", help="also write a float16 variant <out>.fp16.onnx"
    )
    parser.add_argument(
        "--no-verify", action="store_true", help="skip the onnxruntime-vs-PyTorch check"
    )
    parser.set_defaults(run=_run_export)


def _run_export(args: argparse.Namespace) -> int:
    try:
        from stemboard.export import export_hdemucs
    except ModuleNotFoundError as error:
        if error.name not in EXPORT_MODULES:
            raise
        raise StemboardError(
            f"stemboard export needs torch and torchaudio ({error}); "
            "install them with: pip install 'stemboard[export]'"
        ) from None
    export_hdemucs(
        args.out,
        bundle=args.bundle,
        checkpoint=args.checkpoint,
        config=args.config,
        seed=args.seed,
        segment=args.segment,
        fp16=args.fp16,
        verify=not args.no_verify,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stemboard", description="Hybrid Demucs source separation as a processing node."
    )
    parser.add_argument("--version", action="version", version=f"stemboard {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_export(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except StemboardError as error:
        print(f"stemboard: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stemboard: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
