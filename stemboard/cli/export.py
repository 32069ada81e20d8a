"""``stemboard export``: a Hybrid Demucs (torchaudio's HDemucs, demucs' HTDemucs and HDemucs, a
bag of them) to one ONNX graph, verified against PyTorch; where torch is not installed, a
checkpoint of a shipped architecture bound to its graph instead."""

from __future__ import annotations

import argparse

from stemboard.cli.options import positive_float
from stemboard.cli.output import DownloadProgress, ProgressLine, say
from stemboard.registry import ARCHITECTURES, BUNDLES, DEFAULT_SEGMENT_SECONDS


def add(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "export",
        help="export a Hybrid Demucs (v3 or v4) to ONNX",
        description=(
            "Export a Hybrid Demucs - torchaudio's HDemucs, demucs v4's HTDemucs (htdemucs, "
            "htdemucs_6s, the htdemucs_ft bag) or demucs' HDemucs (hdemucs_mmi) - to one ONNX "
            "graph (mix [batch, 2, samples] -> stems [batch, sources, 2, samples]) and verify "
            "it against PyTorch. Needs the export extra (pip install 'stemboard[export]'), "
            "except for a --bundle or --checkpoint of an architecture stemboard ships a graph "
            "for at its default segment: without torch, those are bound to the shipped graph, "
            "unverified."
        ),
    )
    parser.add_argument("--out", required=True, help="the .onnx file to write")
    source = parser.add_argument_group("weights (exactly one source)")
    source.add_argument(
        "--bundle", choices=sorted(BUNDLES), help="a pretrained model (downloaded once)"
    )
    source.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="a demucs model file (.th or .safetensors: it names its own architecture) or a "
        "torchaudio HDemucs state_dict saved with torch.save (architecture: --config, "
        "default high)",
    )
    source.add_argument(
        "--config",
        choices=sorted(ARCHITECTURES),
        help="alone: random weights of this architecture; with --checkpoint: its architecture",
    )
    source.add_argument("--seed", type=int, help="seed for random weights (default 0)")
    parser.add_argument(
        "--segment",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help=f"segment length baked into the graph (default {DEFAULT_SEGMENT_SECONDS:g}, "
        "rounded to 2048-sample steps; an HTDemucs runs only at its training segment, 7.8 s)",
    )
    parser.add_argument(
        "--fp16", action="store_true", help="also write a float16 variant <out>.fp16.onnx"
    )
    parser.add_argument(
        "--no-verify", action="store_true", help="skip the onnxruntime-vs-PyTorch check"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing file")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from stemboard.models import EXPORT_MODULES

    try:
        from stemboard.export import export_hdemucs
    except ModuleNotFoundError as error:
        if error.name not in EXPORT_MODULES:
            raise
        return _bind_without_torch(args, error.name)
    export_hdemucs(
        args.out,
        bundle=args.bundle,
        checkpoint=args.checkpoint,
        config=args.config,
        seed=args.seed,
        segment=args.segment,
        fp16=args.fp16,
        verify=not args.no_verify,
        overwrite=args.overwrite,
        progress=_progress(args),
    )
    return 0


def _bind_without_torch(args: argparse.Namespace, missing: str) -> int:
    from stemboard.pretrained.install import export_without_torch

    export_without_torch(
        args.out,
        bundle_name=args.bundle,
        checkpoint=args.checkpoint,
        config=args.config,
        seed=args.seed,
        segment=args.segment,
        fp16=args.fp16,
        overwrite=args.overwrite,
        missing=missing,
        progress=_progress(args),
        log=say,
    )
    return 0


def _progress(args: argparse.Namespace) -> DownloadProgress | None:
    return DownloadProgress(args.bundle, ProgressLine(args.quiet)) if args.bundle else None
