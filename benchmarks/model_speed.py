"""Two model files of the same weights on the node, timed alternately in one run: is one slower?

    python benchmarks/model_speed.py exported.onnx bound.onnx     # 30 s of music, CPU
    python benchmarks/model_speed.py a.onnx b.onnx --precisions fp32,auto --rounds 5

For each precision the two files are opened as nodes and separate the same audio in turns
(A, B, A, B, ...) after one warm-up each, so drift of the machine's speed hits both alike. It
prints each file's median and best seconds and the ratio B / A of the medians, and whether the
two gave the same stems (bit for bit, else the worst stem's SNR). Needs no torch.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

from stemboard.node import SeparatorNode
from stemboard.signals import music_like


def _seconds(run) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def _snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    noise = np.sum((reference.astype(np.float64) - estimate) ** 2)
    return float("inf") if noise == 0 else 10 * np.log10(np.sum(reference**2) / noise)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", help="the reference model file")
    parser.add_argument("b", help="the model file compared with it")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=3, help="timed runs of each file")
    parser.add_argument(
        "--precisions", default="fp32,auto", help="node precisions to time (default fp32,auto)"
    )
    parser.add_argument("--backend", default="auto", help="node backend (default auto)")
    args = parser.parse_args()
    audio = music_like(args.seconds, seed=1)
    print(f"{args.seconds:g} s of music-like audio; A = {args.a}, B = {args.b}")
    print(f"{'precision':<34}{'A median':>9}{'A best':>8}{'B median':>9}{'B best':>8}{'B / A':>7}")
    for precision in args.precisions.split(","):
        nodes = [
            SeparatorNode(path, device="cpu", precision=precision, backend=args.backend)
            for path in (args.a, args.b)
        ]
        outputs = [np.stack(list(node.separate(audio, 44100).values())) for node in nodes]
        times: list[list[float]] = [[], []]
        for _ in range(args.rounds):
            for index, node in enumerate(nodes):
                times[index].append(_seconds(lambda node=node: node.separate(audio, 44100)))
        medians = [statistics.median(t) for t in times]
        same = np.array_equal(outputs[0], outputs[1])
        label = f"{nodes[0].session.backend} {nodes[0].precision}"
        print(
            f"{label:<34}{medians[0]:>9.3f}{min(times[0]):>8.3f}{medians[1]:>9.3f}"
            f"{min(times[1]):>8.3f}{medians[1] / medians[0]:>7.3f}  stems "
            + ("identical" if same else f"differ: {_snr_db(outputs[0], outputs[1]):.1f} dB SNR")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
