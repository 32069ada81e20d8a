"""The node against the torchaudio tutorial's pipeline on the same audio and weights, in one run.

    python benchmarks/node_speed.py                          # high, random weights, 30 s, CPU
    python benchmarks/node_speed.py --model high.onnx        # reuse an export of seed-0 weights
    python benchmarks/node_speed.py --device cuda --fp16     # on a GPU: fp32 and fp16 nodes
    python benchmarks/node_speed.py --demucs                 # demucs v4's apply_model vs the node
    python benchmarks/node_speed.py --demucs --model htdemucs.onnx --lengths 30,180
    python benchmarks/node_speed.py --demucs htdemucs,htdemucs_ft,htdemucs_6s,hdemucs_mmi

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

``--demucs [CONFIGS]`` compares against demucs v4 instead (the CPU only; ``htdemucs`` by default,
also ``htdemucs_ft``, ``htdemucs_6s``, ``hdemucs_mmi``). The weights are random from ``--seed``:
``stemboard.export.build_model`` gives demucs' own model (a bag becomes demucs' ``BagOfModels``)
and the node runs the export of the same weights: ``--model`` (one configuration),
``--model-dir DIR/<config>.onnx``, or a fresh export (about 6 minutes for ``htdemucs``); a file
whose metadata (``stemboard.model``, ``stemboard.weights_sha256``) names other weights is
refused. On each of ``--lengths`` seconds of the same music-like audio, one timed run each after
a warm-up on 1 s:

- demucs: what its ``separate`` command does around ``demucs.apply.apply_model`` with its
  defaults (``shifts=1, split=True, overlap=0.25``; eager torch fp32, torch's threads): normalise
  the track by its mono mix's mean and standard deviation, separate, restore. The node normalises
  the same way inside, so both sides see the same input. ``random`` is seeded, so the shift is
  the same every run;
- the node with its defaults on the CPU, ``SeparatorNode(path, device="cpu")`` (``device`` is
  the default where there is no GPU), and the node at fp32, the reference.

Each row shows seconds, x realtime, the ratio (demucs' seconds over the row's: the node's
speed-up), the segments run, the work, GFLOP/s and share of the peak for the arithmetic that
ran, the 1-minute load average before the run (the script's own previous run counts in it:
about 2 on a quiet machine of 2 cores), and every stem's SNR against the node's fp32 output. A
control line first runs one segment through both sides without shift or split: the same
computation, so it shows that the weights match. The work is counted per segment, then
multiplied by the segments that ran:

- demucs: torch's FlopCounterMode on the model (each bag member) at every input length
  ``apply_model`` passed to it, read by a forward hook; attention's fast path and fused kernel
  are switched off while counting so that its matrix products are counted (the convolutions,
  linear layers and attention; not the FFTs, LSTMs, normalisation or element-wise work). With
  ``shifts=1`` apply_model runs one pass over the track padded by a random 0-0.5 s, which can
  add a segment; the hook counts what ran;
- the node: the ONNX graph's Conv, ConvTranspose, MatMul and Gemm nodes at batch 1, from the
  shapes onnxruntime's symbolic shape inference gives them (an FMA is two; the STFT and its
  inverse are MatMuls there), times its segments (``segments_needed``) and shifts.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
from benchmark_models import add_weight_arguments, onnx_model, timed, torch_model
from torch.utils.flop_counter import FlopCounterMode
from torchaudio.transforms import Fade

from stemboard.model_format import read_file_metadata
from stemboard.node import SeparatorNode
from stemboard.node.backend import usable_cores
from stemboard.node.overlap_add import segments_needed, stride_for
from stemboard.registry import ARCHITECTURES, architecture
from stemboard.signals import music_like

GATE_DB = 40.0
DEMUCS_CONFIGS = ("htdemucs", "htdemucs_ft", "htdemucs_6s", "hdemucs_mmi")


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


def cpu_description() -> str:
    """What ``lscpu`` says about this CPU: model name, family and model, the vector flags."""
    try:
        rows = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return "unknown CPU"
    fields = {}
    for row in rows:
        key, _, value = row.partition(":")
        fields.setdefault(key.strip(), value.strip())
    flags = cpu_flags()
    wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile")
    present = [flag for flag in wanted if flag in flags]
    absent = [flag for flag in wanted if flag not in flags]
    return (
        f"{fields.get('model name', '?')}, family {fields.get('cpu family', '?')} model "
        f"{fields.get('model', '?')}, {usable_cores()} usable cores; flags {' '.join(present)}"
        + (f" (no {', '.join(absent)})" if absent else "")
    )


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


def demucs_separate(model, audio: np.ndarray, **options) -> np.ndarray:
    """What demucs' ``separate`` command does around ``apply_model`` (its defaults unless
    ``options`` say otherwise: ``shifts=1, split=True, overlap=0.25``): normalise the track by
    its mono mix, separate, restore. ``[2, n]`` -> ``[sources, 2, n]``."""
    from demucs.apply import apply_model

    wav = torch.from_numpy(audio)
    ref = wav.mean(0)
    wav = (wav - ref.mean()) / ref.std()
    with torch.no_grad():
        sources = apply_model(model, wav[None], **options)[0]
    return (sources * ref.std() + ref.mean()).numpy()


@contextmanager
def forward_lengths(models: list[torch.nn.Module]) -> Iterator[list[int]]:
    """The input length of every forward call of ``models`` while the block runs."""
    lengths: list[int] = []
    hooks = [
        model.register_forward_pre_hook(lambda _, inputs: lengths.append(inputs[0].shape[-1]))
        for model in models
    ]
    try:
        yield lengths
    finally:
        for hook in hooks:
            hook.remove()


def model_flops(model: torch.nn.Module, length: int) -> float:
    """FLOPs of one forward of ``model`` on ``[1, channels, length]``, attention included: its
    fast path and fused kernel hide the matrix products from FlopCounterMode, so both are off."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    fast = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad(), sdpa_kernel(SDPBackend.MATH):
            return counted_flops(lambda: model(torch.zeros(1, model.audio_channels, length)))
    finally:
        torch.backends.mha.set_fastpath_enabled(fast)


def graph_flops(path: Path) -> float:
    """FLOPs of one run of the ONNX graph at batch 1: its Conv, ConvTranspose, MatMul and Gemm
    nodes, from the shapes onnxruntime's symbolic shape inference gives them (an FMA is two;
    normalisation, element-wise work and LSTMs are not counted)."""
    import onnx
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

    proto = onnx.load(str(path))
    for value in proto.graph.input:
        value.type.tensor_type.shape.dim[0].dim_value = 1
    proto = SymbolicShapeInference.infer_shapes(proto, auto_merge=True)
    graph = proto.graph
    shapes = {
        value.name: [dim.dim_value for dim in value.type.tensor_type.shape.dim]
        for value in (*graph.value_info, *graph.input, *graph.output)
    }
    shapes.update({tensor.name: list(tensor.dims) for tensor in graph.initializer})
    total = 0
    for node in graph.node:
        if node.op_type == "Conv":  # output x (input channels / groups x kernel)
            total += 2 * math.prod(shapes[node.output[0]]) * math.prod(shapes[node.input[1]][1:])
        elif node.op_type == "ConvTranspose":  # input x (output channels / groups x kernel)
            total += 2 * math.prod(shapes[node.input[0]]) * math.prod(shapes[node.input[1]][1:])
        elif node.op_type in ("MatMul", "Gemm"):  # output x the inner dimension
            left = shapes[node.input[0]]
            transposed = any(a.name == "transA" and a.i for a in node.attribute)
            inner = left[0] if transposed else left[-1]
            total += 2 * math.prod(shapes[node.output[0]]) * inner
    return float(total)


def weights_of(path: Path, config: str, model: torch.nn.Module, seed: int) -> None:
    """Refuse a graph whose metadata names other weights than ``model``'s."""
    from stemboard.export.exporter import _state_sha256  # the hash the exporter writes

    metadata = read_file_metadata(path)
    expected = {"stemboard.model": config, "stemboard.weights_sha256": _state_sha256(model)}
    wrong = [
        f"{key} is {metadata.get(key)!r}, not {value!r}"
        for key, value in expected.items()
        if metadata.get(key) != value
    ]
    if wrong:
        raise SystemExit(
            f"{path} does not hold {config}'s random weights from seed {seed}: {'; '.join(wrong)}"
        )


def demucs_graph(args: argparse.Namespace, config: str, model, scratch: str) -> Path:
    """``--model``, ``--model-dir/<config>.onnx`` or a fresh export there (or in ``scratch``),
    checked to hold ``model``'s weights."""
    from stemboard.export import export_hdemucs

    if args.model:
        path = Path(args.model)
    else:
        path = Path(args.model_dir or scratch) / f"{config}.onnx"
        if not path.is_file():
            print(f"exporting {config} (seed {args.seed}) to {path}", flush=True)
            export_hdemucs(path, config=config, seed=args.seed, verify=False, log=print)
    weights_of(path, config, model, args.seed)
    return path


@dataclass
class Run:
    """One timed run of the demucs comparison."""

    label: str
    precision: str
    seconds: float
    segments: int
    flops: float
    stems: np.ndarray  # [sources, channels, samples]
    load: float  # the 1-minute load average before the run


def timed_run(label: str, precision: str, run: Callable[[], np.ndarray]) -> Run:
    """``run`` once, timed; its segments and work are filled in by the caller."""
    load = os.getloadavg()[0]
    started = time.perf_counter()
    stems = run()
    return Run(label, precision, time.perf_counter() - started, 0, 0.0, stems, load)


def demucs_rows(args: argparse.Namespace, config: str, scratch: str, peak: dict) -> None:
    """demucs' apply_model against the default and the fp32 node on each length, one table."""
    from demucs.apply import BagOfModels

    from stemboard.export import build_model
    from stemboard.export.exportable import Bag

    built = build_model(config, args.seed)
    members = list(built.models) if isinstance(built, Bag) else [built]
    model = BagOfModels(members, built.weights) if isinstance(built, Bag) else built
    path = demucs_graph(args, config, built, scratch)
    nodes = {  # on the CPU, as demucs: the default device where no GPU is
        "node default": SeparatorNode(path, device="cpu"),
        "node fp32": SeparatorNode(path, device="cpu", precision="fp32"),
    }
    default = nodes["node default"]
    if tuple(default.sources) != tuple(model.sources):
        raise SystemExit(f"{path} gives the stems {default.sources}, the model {model.sources}")
    rate, segment = default.sample_rate, default.segment_samples
    per_segment = graph_flops(path)
    per_length: dict[int, float] = {}  # demucs' model: FLOPs by input length

    def demucs_flops(lengths: list[int]) -> float:
        for length in set(lengths) - set(per_length):
            per_length[length] = model_flops(members[0], length)
        return sum(per_length[length] for length in lengths)

    warm_up = music_like(1.0, rate, seed=2)
    demucs_separate(model, warm_up)
    for node in nodes.values():
        node.separate(warm_up, rate)
    # the control: one segment, no shift, no padding, so both run the same computation
    one = music_like(segment / rate, rate, seed=3)
    same = snr_by_stem(
        np.stack(list(nodes["node fp32"].separate(one, rate).values())),
        demucs_separate(model, one, shifts=0, split=False),
    )
    tables = []
    for seconds in (float(text) for text in args.lengths.split(",")):
        audio = music_like(seconds, rate, seed=1)
        random.seed(args.seed)  # apply_model's random shift
        with forward_lengths(members) as lengths:
            run = timed_run(
                "demucs apply_model (torch fp32)", "fp32", partial(demucs_separate, model, audio)
            )
        run.segments, run.flops = len(lengths), demucs_flops(lengths)
        runs = [run]
        for label, node in nodes.items():
            stems = partial(node.separate, audio, rate)
            run = timed_run(
                f"{label} ({node.session.backend} {node.precision}, batch {node.batch_size})",
                node.precision,
                lambda stems=stems: np.stack(list(stems().values())),
            )
            stride, _ = stride_for(segment, node.overlap)
            run.segments = segments_needed(audio.shape[1], segment, stride) * max(1, node.shifts)
            run.flops = per_segment * run.segments
            runs.append(run)
        tables.append((seconds, runs))

    print(f"\n{config}: random weights (seed {args.seed}), {path}")
    print(f"node default: {default.describe()}")
    print(
        "control, one segment through both (no shift, no split): SNR of demucs' model against "
        f"the node fp32, per stem: {' '.join(f'{value:.1f}' for value in same)} dB"
    )
    print(
        f"work per segment of {segment} samples ({segment / rate:.2f} s): demucs' model "
        f"{demucs_flops([segment]) * len(members) / 1e9:.1f} GFLOP (torch's count), the ONNX "
        f"graph {per_segment / 1e9:.1f} GFLOP (its Conv/ConvTranspose/MatMul/Gemm shapes)"
    )
    print(
        f"{'audio':>6}  {'pipeline':<42}{'seconds':>9}{'x realtime':>11}{'ratio':>8}"
        f"{'segments':>9}{'GFLOP':>7}{'GFLOP/s':>9}{'% peak':>8}{'load':>6}"
        "  SNR vs node fp32 (dB, per stem)"
    )
    for seconds, runs in tables:
        reference = runs[-1].stems
        for run in runs:
            snr = (
                "reference"
                if run is runs[-1]
                else " ".join(f"{value:.1f}" for value in snr_by_stem(reference, run.stems))
            )
            speed = run.flops / run.seconds / 1e9
            print(
                f"{seconds:>5g}s  {run.label:<42}{run.seconds:>9.2f}"
                f"{seconds / run.seconds:>11.2f}{runs[0].seconds / run.seconds:>7.2f}x"
                f"{run.segments:>9}{run.flops / 1e9:>7.0f}{speed:>9.1f}"
                f"{100 * speed / peak[run.precision]:>7.0f}%{run.load:>6.2f}  {snr}"
            )


def demucs_comparison(args: argparse.Namespace) -> int:
    """``--demucs``: demucs' apply_model against the node, for each configuration asked for."""
    configs = [name.strip() for name in args.demucs.split(",")]
    others = [
        name for name in configs if name not in ARCHITECTURES or not architecture(name).demucs
    ]
    if others:
        raise SystemExit(
            f"--demucs takes demucs' layouts ({', '.join(DEMUCS_CONFIGS)}, or their *_tiny "
            f"copies for a quick trial), not {', '.join(others)}"
        )
    if args.model and len(configs) > 1:
        raise SystemExit("--model names one configuration's file; use --model-dir for several")
    import demucs

    cores = usable_cores()
    ghz, clock_source = clock_ghz(args.ghz)
    peak, peak_how = peaks(cores, ghz)
    print(f"CPU: {cpu_description()}")
    print(f"peak: {peak_how}, clock from {clock_source}")
    print(f"      = {peak['fp32']:.0f} GFLOP/s fp32, {peak['bf16']:.0f} GFLOP/s bf16")
    print(
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), demucs "
        f"{demucs.__version__}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    with tempfile.TemporaryDirectory() as scratch:
        for config in configs:
            demucs_rows(args, config, scratch, peak)
    print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
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
    parser.add_argument(
        "--demucs",
        nargs="?",
        const="htdemucs",
        metavar="CONFIGS",
        help="instead: demucs' apply_model against the node on the CPU, for these configurations "
        f"(default htdemucs; any of {', '.join(DEMUCS_CONFIGS)})",
    )
    parser.add_argument(
        "--lengths", default="30,180", help="with --demucs: seconds of audio (default 30,180)"
    )
    parser.add_argument("--seed", type=int, default=0, help="with --demucs: the weights' seed")
    parser.add_argument(
        "--model-dir", help="with --demucs: read or export DIR/<config>.onnx (kept for a rerun)"
    )
    args = parser.parse_args()
    if args.demucs:
        if args.checkpoint:
            parser.error("--demucs runs random weights (--seed), not a --checkpoint")
        return demucs_comparison(args)
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
