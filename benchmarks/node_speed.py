"""The node against the torchaudio tutorial's pipeline on the same audio and weights, in one run.

    python benchmarks/node_speed.py                          # high, random weights, 30 s, CPU
    python benchmarks/node_speed.py --model high.onnx        # reuse an export of seed-0 weights
    python benchmarks/node_speed.py --device cuda --fp16     # on a GPU: fp32 and fp16 nodes

The tutorial pipeline is re-implemented from its description (shared/reference-pipeline.md):
track normalisation, ``separate_sources(segment=10.0, overlap=0.1)`` with a linear Fade, one
chunk per forward pass, eager torch (fp32) under ``no_grad``. Then the node at fp32 on each CPU
runtime and the node with its defaults (``precision="auto"``). For each: seconds (the best of
``--repeats`` runs after a warm-up), × realtime, speed-up, achieved GFLOP/s and the share of
this CPU's peak, and every stem's SNR against the node's fp32 output (the quality gate: 40 dB).

Work is counted, not estimated: torch's FlopCounterMode counts the floating-point operations of
one model segment and of the tutorial's chunks (convolutions, matrix products, attention; an
FMA is two). The node's work is that of one segment times the segments it ran. The peak is
cores x clock x FLOP per cycle and core, from the instruction set ``lscpu`` lists:

- fp32: 2 FMA pipes x 16 lanes x 2 = 64 with AVX-512 (Zen 4/5 and Intel server cores issue two
  512-bit FMAs a cycle), 32 with AVX2+FMA;
- bf16: twice the fp32 figure with AVX512_BF16 (``vdpbf16ps``: 32 products per instruction),
  1024 per core with AMX-BF16 (one tile multiply a cycle);
- the clock: ``--ghz``, else ``cpuinfo_max_freq``, else ``cpu MHz`` of /proc/cpuinfo (in a VM that
  is the nominal clock; a boosting core may exceed it, so a share above 100 % means boost).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from benchmark_models import add_weight_arguments, onnx_model, timed, torch_model
from torch.utils.flop_counter import FlopCounterMode
from torchaudio.transforms import Fade

from stemboard.node import SeparatorNode
from stemboard.node.backend import usable_cores
from stemboard.node.overlap_add import segments_needed, stride_for
from stemboard.signals import music_like

GATE_DB = 40.0


def separate_sources(model, mix, segment=10.0, overlap=0.1, device=None, sample_rate=44100):
    """The tutorial's chunked separation, as it describes it (one chunk per forward pass)."""
    batch, channels, length = mix.shape
    chunk_len = int(sample_rate * segment * (1 + overlap))
    start, end = 0, chunk_len
    overlap_frames = overlap * sample_rate
    fade = Fade(fade_in_len=0, fade_out_len=int(overlap_frames), fade_shape="linear")
    final = torch.zeros(batch, len(model.sources), channels, length, device=device)
    while start < length - overlap_frames:
        chunk = mix[:, :, start:end]
        with torch.no_grad():
            out = model.forward(chunk)
        out = fade(out)
        final[:, :, :, start:end] += out
        if start == 0:
            fade.fade_in_len = int(overlap_frames)
            start += int(chunk_len - overlap_frames)
        else:
            start += chunk_len
        end += chunk_len
        if end >= length:
            fade.fade_out_len = 0
    return final


def tutorial_pipeline(model, audio: np.ndarray, device: str) -> np.ndarray:
    """Normalise, separate, restore: ``[2, n]`` -> ``[sources, 2, n]``."""
    waveform = torch.from_numpy(audio).to(device)
    ref = waveform.mean(0)
    waveform = (waveform - ref.mean()) / ref.std()
    sources = separate_sources(model, waveform[None], device=device)[0]
    sources = sources * ref.std() + ref.mean()
    if device == "cuda":
        torch.cuda.synchronize()
    return sources.cpu().numpy()


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((row for row in text.splitlines() if row.startswith("flags")), "")
    return set(line.partition(":")[2].split())


def clock_ghz(override: float | None) -> tuple[float, str]:
    if override:
        return override, "--ghz"
    top = Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    if top.is_file():
        return int(top.read_text()) / 1e6, "cpuinfo_max_freq"
    try:
        rows = Path("/proc/cpuinfo").read_text().splitlines()
        mhz = next(float(r.partition(":")[2]) for r in rows if r.startswith("cpu MHz"))
        return mhz / 1000, "cpu MHz in /proc/cpuinfo"
    except (OSError, StopIteration, ValueError):
        return float("nan"), "unknown (pass --ghz)"


def peaks(cores: int, ghz: float) -> tuple[dict[str, float], str]:
    """GFLOP/s peaks per arithmetic, and how they were derived."""
    flags = cpu_flags()
    fp32 = 64 if "avx512f" in flags else 32 if {"avx2", "fma"} <= flags else 16
    bf16 = 1024 if "amx_bf16" in flags else 2 * fp32 if "avx512_bf16" in flags else fp32
    found = [f for f in ("avx512f", "avx2", "fma", "avx512_bf16", "amx_bf16") if f in flags]
    how = (
        f"{cores} cores x {ghz:.3f} GHz x FLOP/cycle (fp32 {fp32}, bf16 {bf16}; from "
        f"{', '.join(found) or 'no vector flags'})"
    )
    return {"fp32": cores * ghz * fp32, "bf16": cores * ghz * bf16, "fp16": cores * ghz * fp32}, how


def counted_flops(run) -> float:
    with FlopCounterMode(display=False) as counter:
        run()
    return float(counter.get_total_flops())


def snr_by_stem(reference: np.ndarray, got: np.ndarray) -> list[float]:
    out = []
    for ref, est in zip(reference, got, strict=True):
        noise = np.sum((ref.astype(np.float64) - est) ** 2)
        out.append(float("inf") if noise == 0 else 10 * np.log10(np.sum(ref**2) / noise))
    return out


def overlap_speeds(args: argparse.Namespace) -> int:
    """The default node's time at each overlap on the same audio: the speed side of the
    overlap trade (its quality side: tools/evaluate_demo.py --sweep)."""
    overlaps = [float(text) for text in args.overlaps.split(",")]
    with tempfile.TemporaryDirectory() as scratch:
        path = onnx_model(args, scratch)
        rows = []
        for overlap in overlaps:
            node = SeparatorNode(path, device=args.device, overlap=overlap)
            audio = music_like(args.seconds, node.sample_rate, seed=1)
            run = lambda node=node, audio=audio: node.separate(audio, node.sample_rate)  # noqa: E731
            seconds = timed(run, args.repeats)
            stride, _ = stride_for(node.segment_samples, overlap)
            rows.append(
                (overlap, segments_needed(audio.shape[1], node.segment_samples, stride), seconds)
            )
    print(f"{Path(path).name}, {args.seconds:g} s of music-like audio, {node.describe()}")
    print(f"{'overlap':>8}{'segments':>10}{'seconds':>9}{'x realtime':>11}{'vs first':>10}")
    for overlap, count, seconds in rows:
        print(
            f"{overlap:>8g}{count:>10}{seconds:>9.3f}{args.seconds / seconds:>11.1f}"
            f"{rows[0][2] / seconds:>9.2f}x"
        )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_weight_arguments(parser)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--fp16", action="store_true", help="on a GPU, also time the fp16 variant")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--ghz", type=float, help="the clock for the peak (default: read it)")
    parser.add_argument("--batch-size", type=int, help="node batch size (default: the node's)")
    parser.add_argument("--overlap", type=float, help="node overlap (default: the node's)")
    parser.add_argument(
        "--overlaps",
        help="instead: time the default node at these overlaps, e.g. 0.1,0.25,0.5 (no tutorial)",
    )
    args = parser.parse_args()
    if args.overlaps:
        return overlap_speeds(args)

    model, arch = torch_model(args)
    model = model.to(args.device)
    audio = music_like(args.seconds, arch.sample_rate, seed=1)
    cores = usable_cores()
    ghz, clock_source = clock_ghz(args.ghz)
    peak, peak_how = peaks(cores, ghz)

    with tempfile.TemporaryDirectory() as scratch:
        path = onnx_model(args, scratch, fp16=args.fp16)
        tutorial = lambda: tutorial_pipeline(model, audio, args.device)  # noqa: E731
        rows = [("torchaudio tutorial (torch fp32)", "fp32", timed(tutorial, args.repeats))]
        tutorial_flops = counted_flops(tutorial) if args.device == "cpu" else float("nan")
        options = {}
        if args.batch_size:
            options["batch_size"] = args.batch_size
        if args.overlap is not None:
            options["overlap"] = args.overlap
        if args.device == "cuda":
            variants = [("fp32", "auto")] + ([("fp16", "auto")] if args.fp16 else [])
        else:
            variants = [("fp32", "onnxruntime"), ("fp32", "openvino"), ("auto", "auto")]
        nodes = []
        for precision, backend in variants:
            try:
                node = SeparatorNode(
                    path, device=args.device, precision=precision, backend=backend, **options
                )
            except Exception as error:  # a runtime that is not installed: say so, go on
                print(f"skipped {backend} {precision}: {error}")
                continue
            nodes.append(node)
            label = f"node {node.session.backend} {node.precision} (batch {node.batch_size})" + (
                " [default]" if precision == "auto" else ""
            )
            run = lambda node=node: node.separate(audio, arch.sample_rate)  # noqa: E731
            rows.append((label, node.precision, timed(run, args.repeats)))
        segment = nodes[0].segment_samples
        segment_flops = (
            counted_flops(lambda: model(torch.zeros(1, 2, segment, device=args.device)))
            if args.device == "cpu"
            else float("nan")
        )
        outputs = [np.stack(list(n.separate(audio, arch.sample_rate).values())) for n in nodes]

    print(f"{arch.name}, {args.seconds:g} s of music-like audio, device {args.device}")
    if args.device == "cuda":
        print(f"GPU: {torch.cuda.get_device_name()}")
    else:
        print(f"peak: {peak_how}, clock from {clock_source}")
        print(f"      = {peak['fp32']:.0f} GFLOP/s fp32, {peak['bf16']:.0f} GFLOP/s bf16")
    print(
        f"{'pipeline':<46}{'seconds':>9}{'x realtime':>11}{'speed-up':>10}{'GFLOP/s':>9}"
        f"{'% peak':>8}  SNR vs node fp32 (per stem, dB)"
    )
    base = rows[0][2]
    reference = outputs[0] if nodes else None
    for index, (label, precision, seconds) in enumerate(rows):
        if index == 0:
            work, snr = tutorial_flops, ""
        else:
            node = nodes[index - 1]
            stride, _ = stride_for(node.segment_samples, node.overlap)
            count = segments_needed(len(audio[0]), node.segment_samples, stride)
            work = segment_flops * count * max(1, node.shifts)
            values = snr_by_stem(reference, outputs[index - 1])
            worst = min(values)
            verdict = (
                "" if worst == float("inf") else (" ok" if worst >= GATE_DB else " BELOW GATE")
            )
            snr = " ".join(f"{v:.1f}" for v in values) + verdict
        rate = work / seconds / 1e9
        share = 100 * rate / peak[precision] if args.device == "cpu" else float("nan")
        print(
            f"{label:<46}{seconds:>9.3f}{args.seconds / seconds:>11.1f}{base / seconds:>9.2f}x"
            f"{rate:>9.1f}{share:>7.0f}%  {snr}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
