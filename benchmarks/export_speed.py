"""One segment through onnxruntime (CPU) and through PyTorch eager, same weights, side by side.

    python benchmarks/export_speed.py                      # high, random weights, 10 s segment
    python benchmarks/export_speed.py --config tiny --repeats 5
    python benchmarks/export_speed.py --model models/high.onnx --checkpoint weights.pt

Exports the model first (timed), unless ``--model`` names an existing export. Prints the
median time of each runtime over ``--repeats`` runs after one warm-up, the ratio, and how far
apart their outputs are.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from benchmark_models import add_weight_arguments, median, onnx_model, timed, torch_model

from stemboard.export.exporter import verification_input
from stemboard.export.verify import compare_stems
from stemboard.model_format import read_model_info


def _operator_shares(path: Path, mix: np.ndarray, scratch: str) -> dict[str, float]:
    """Fraction of onnxruntime's kernel time spent in each operator type, from its profiler."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.enable_profiling = True
    options.profile_file_prefix = os.path.join(scratch, "profile")
    session = ort.InferenceSession(os.fspath(path), options, providers=["CPUExecutionProvider"])
    session.run(["stems"], {"mix": mix})
    with open(session.end_profiling()) as handle:
        events = json.load(handle)
    totals: dict[str, float] = {}
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            op = event["args"]["op_name"]
            totals[op] = totals.get(op, 0.0) + event["dur"]
    whole = sum(totals.values()) or 1.0
    return {op: value / whole for op, value in totals.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_weight_arguments(parser)
    parser.add_argument("--segment", type=float, default=10.0, help="seconds (default 10)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="0: each runtime's default")
    parser.add_argument(
        "--profile", action="store_true", help="also print onnxruntime's time per operator type"
    )
    args = parser.parse_args()

    model, arch = torch_model(args)

    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        path = onnx_model(args, scratch, segment=args.segment)
        export_seconds = None if args.model else time.perf_counter() - started

        options = ort.SessionOptions()
        options.log_severity_level = 3
        if args.threads:
            options.intra_op_num_threads = args.threads
            torch.set_num_threads(args.threads)
        session = ort.InferenceSession(os.fspath(path), options, providers=["CPUExecutionProvider"])
        segment = read_model_info(session, str(path)).segment_samples
        mix = verification_input(segment, arch.sample_rate, batch=1)
        tensor = torch.from_numpy(mix)

        def run_onnx():
            return session.run(["stems"], {"mix": mix})[0]

        def run_torch():
            with torch.inference_mode():
                return model(tensor).numpy()

        onnx_seconds = timed(run_onnx, args.repeats, median)
        torch_seconds = timed(run_torch, args.repeats, median)
        worst = min(s.snr_db for s in compare_stems(run_torch(), run_onnx(), arch.sources))
        shares = _operator_shares(path, mix, scratch) if args.profile else {}

    audio_seconds = segment / arch.sample_rate
    print(f"model {arch.name}, one segment of {segment} samples ({audio_seconds:.2f} s), batch 1")
    print(
        f"threads: onnxruntime {options.intra_op_num_threads or 'default'},"
        f" torch {torch.get_num_threads()}"
    )
    if export_seconds is not None:
        print(f"export (trace + write, no verification): {export_seconds:.1f} s")
    print(f"{'runtime':<22}{'seconds':>10}{'x realtime':>12}")
    print(f"{'pytorch eager':<22}{torch_seconds:>10.3f}{audio_seconds / torch_seconds:>12.2f}")
    print(f"{'onnxruntime cpu':<22}{onnx_seconds:>10.3f}{audio_seconds / onnx_seconds:>12.2f}")
    print(f"speed-up onnxruntime / pytorch: {torch_seconds / onnx_seconds:.2f}x")
    print(f"worst-stem SNR onnxruntime vs pytorch: {worst:.1f} dB")
    if shares:
        print("onnxruntime time per operator type (one profiled run):")
        for op, share in sorted(shares.items(), key=lambda item: -item[1])[:12]:
            print(f"  {op:<24}{100 * share:6.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
