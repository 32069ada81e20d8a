"""Score a separator on songs of the synthetic test split: the demo model card's figures.

Runs without torch::

    python tools/evaluate_demo.py                       # packaged demo model, 10 songs of 30 s
    python tools/evaluate_demo.py --model build/demo/demo.onnx --json build/demo/test.json

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


def evaluate(model: str, songs: int, seconds: float, device: str) -> dict:
    node = SeparatorNode(model, device=device)
    rows = []
    started = time.perf_counter()
    for seed in split_seeds("test", songs):
        song = generate_song(seed, seconds)
        estimates = node.separate(song.mix, song.sample_rate)
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
    }


def table(result: dict) -> str:
    lines = [f"{'stem':<8}{'SDR (tutorial)':>16}{'SDR (MDX)':>12}{'SI-SDR':>10}"]
    for name, values in [*result["mean"].items(), ("mean", result["overall"])]:
        lines.append(
            f"{name:<8}{values['sdr']:>16.2f}{values['mdx_sdr']:>12.2f}{values['si_sdr']:>10.2f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="demo", help="a .onnx file or a known name")
    parser.add_argument("--songs", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--device", choices=DEVICES, default="cpu")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)
    result = evaluate(args.model, args.songs, args.seconds, args.device)
    print(f"\nmean over {args.songs} test songs of {args.seconds:g} s (dB):\n{table(result)}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
