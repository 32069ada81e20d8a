"""What the benchmark scripts share: the same weights in PyTorch and ONNX, and the timer."""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torchaudio.models import HDemucs

from stemboard.export import export_hdemucs
from stemboard.export.weights import load_checkpoint
from stemboard.registry import Architecture, architecture


def add_weight_arguments(parser: argparse.ArgumentParser) -> None:
    """``--config``, ``--checkpoint`` and ``--model``, as every benchmark takes them."""
    parser.add_argument("--config", default="high", help="architecture (default high)")
    parser.add_argument("--checkpoint", help="weights; random (seed 0) when omitted")
    parser.add_argument("--model", help="an existing export of the same weights (skips exporting)")


def torch_model(args: argparse.Namespace) -> tuple[HDemucs, Architecture]:
    """The PyTorch model the arguments name: a checkpoint, or random weights from seed 0."""
    arch = architecture(args.config)
    if args.checkpoint:
        model, _ = load_checkpoint(args.checkpoint, arch)
    else:
        torch.manual_seed(0)
        model = HDemucs(**arch.hdemucs_kwargs()).eval()
    return model, arch


def onnx_model(args: argparse.Namespace, scratch: str, **options) -> Path:
    """``--model``, or an unverified export of the same weights into ``scratch``."""
    if args.model:
        return Path(args.model)
    path = Path(scratch) / f"{args.config}.onnx"
    export_hdemucs(
        path,
        checkpoint=args.checkpoint,
        config=args.config,
        seed=None if args.checkpoint else 0,
        verify=False,
        log=lambda _: None,
        **options,
    )
    return path


def timed(run: Callable[[], object], repeats: int, summary=min) -> float:
    """Seconds per call of ``run``: one warm-up, then ``summary`` (min or median) of ``repeats``."""
    run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return summary(times)


median = statistics.median
