"""Score a separator on songs of the synthetic test split: the demo model card's figures.

Runs without torch::

    python tools/evaluate_demo.py                       # packaged demo model, 10 songs of 30 s
    python tools/evaluate_demo.py --model build/demo/demo.onnx --json build/demo/test.json
    python tools/evaluate_demo.py --overlap 0.1 --shifts 2 --precision bf16
    python tools/evaluate_demo.py --sweep               # the defaults' evidence, one table

``--sweep`` separates the same songs with overlap 0.1, 0.25 and 0.5, with 1 and 2 test-time
shifts, and in bf16, and prints each setting's mean SDR, its difference from the node's
defaults and the separation time per song (scoring excluded).

Each song is generated from its test-split seed, separated by ``SeparatorNode`` with its
defaults (the same path ``stemboard separate`` takes, minus the files), and every stem is scored
with the three measures of ``stemboard evaluate``: BSS Eval SDR as the torchaudio tutorial
computes it, the MDX whole-song SDR and SI-SDR.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from stemboard.choices import DEVICES
from stemboard.evaluation import score_stem
from stemboard.node import SeparatorNode
from stemboard.synth import generate_song, split_seeds

MEASURES = ("sdr", "mdx_sdr", "si_sdr")


def evaluate(model: str, songs: int, seconds: float, device: str, **options) -> dict:
    node = SeparatorNode(model, device=device, **options)
    rows = []
    started = time.perf_counter()
    separating = 0.0
    for seed in split_seeds("test", songs):
        song = generate_song(seed, seconds)
        clock = time.perf_counter()
        estimates = node.separate(song.mix, song.sample_rate)
        separating += time.perf_counter() - clock
        scores = {name: score_stem(song.stems[name], estimates[name], name) for name in song.stems}
        rows.append(
            {"seed": seed, **{n: {m: getattr(s, m) for m in MEASURES} for n, s in scores.items()}}
        )
        print(
            f"song {seed}: "
            + "  ".join(f"{n} {s.sdr:5.2f}" for n, s in scores.items())
            + "  (SDR, dB)",
            flush=True,
        )
    sources = list(node.sources)
    mean = {n: {m: float(np.mean([r[n][m] for r in rows])) for m in MEASURES} for n in sources}
    overall = {m: float(np.mean([mean[n][m] for n in sources])) for m in MEASURES}
    return {
        "model": str(model),
        "songs": songs,
        "seconds": seconds,
        "seeds": [r["seed"] for r in rows],
        "per_song": rows,
        "mean": mean,
        "overall": overall,
        "elapsed_seconds": round(time.perf_counter() - started, 1),
        "separation_seconds_per_song": round(separating / max(1, songs), 3),
        "node": node.describe(),
    }


def table(result: dict) -> str:
    lines = [f"{'stem':<8}{'SDR (tutorial)':>16}{'SDR (MDX)':>12}{'SI-SDR':>10}"]
    for name, values in [*result["mean"].items(), ("mean", result["overall"])]:
        lines.append(
            f"{name:<8}{values['sdr']:>16.2f}{values['mdx_sdr']:>12.2f}{values['si_sdr']:>10.2f}"
        )
    return "\n".join(lines)


SWEEP = [
    ("defaults", {}),
    ("overlap 0.1", {"overlap": 0.1}),
    ("overlap 0.25", {"overlap": 0.25}),
    ("overlap 0.5", {"overlap": 0.5}),
    ("shifts 1", {"shifts": 1}),
    ("shifts 2", {"shifts": 2}),
    ("fp32", {"precision": "fp32"}),
    ("bf16", {"precision": "bf16"}),
]


def sweep(model: str, songs: int, seconds: float, device: str) -> list[tuple[str, dict]]:
    results = []
    for label, options in SWEEP:
        print(f"-- {label}", flush=True)
        results.append((label, evaluate(model, songs, seconds, device, **options)))
    base = results[0][1]["overall"]["sdr"]
    print(f"\n{'setting':<14}{'SDR':>8}{'vs defaults':>13}{'MDX SDR':>9}{'s/song':>8}  node")
    for label, result in results:
        overall = result["overall"]
        print(
            f"{label:<14}{overall['sdr']:>8.3f}{overall['sdr'] - base:>+13.3f}"
            f"{overall['mdx_sdr']:>9.3f}{result['separation_seconds_per_song']:>8.2f}  "
            f"{result['node']}"
        )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="demo", help="a .onnx file or a known name")
    parser.add_argument("--songs", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--device", choices=DEVICES, default="cpu")
    parser.add_argument("--overlap", type=float, help="the node's overlap (default: its own)")
    parser.add_argument("--shifts", type=int, default=0, help="test-time shifts (default 0)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the shifts' offsets")
    parser.add_argument("--precision", default="auto", help="auto, fp32, bf16 (default auto)")
    parser.add_argument("--sweep", action="store_true", help="compare overlaps, shifts, bf16")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)
    if args.sweep:
        results = sweep(args.model, args.songs, args.seconds, args.device)
        if args.json:
            Path(args.json).write_text(json.dumps(dict(results), indent=2) + "\n")
        return 0
    options = {"shifts": args.shifts, "seed": args.seed, "precision": args.precision}
    if args.overlap is not None:
        options["overlap"] = args.overlap
    result = evaluate(args.model, args.songs, args.seconds, args.device, **options)
    print(f"\nmean over {args.songs} test songs of {args.seconds:g} s (dB):\n{table(result)}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
