"""What the graph adds to separation: a chain on every stem, a bus and a master, side by side.

    python benchmarks/render_overhead.py                   # high, random weights, 30 s, CPU
    python benchmarks/render_overhead.py --model high.onnx

Times ``SeparatorNode.separate`` alone and ``StemGraph`` (same node) with a compressor/EQ/
reverb chain on every stem, a bus and a limiter on the master, on the same audio; prints the
graph's overhead as a share of separation time (target: under 10 %). Best of ``--repeats``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile

from benchmark_models import add_weight_arguments, onnx_model, timed
from pedalboard import (
    BrickwallLimiter,
    Chorus,
    Compressor,
    Delay,
    Distortion,
    HighpassFilter,
    LowShelfFilter,
    PeakFilter,
    Pedalboard,
    Reverb,
)

from stemboard.graph import Bus, StemGraph
from stemboard.node import SeparatorNode
from stemboard.signals import music_like


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_weight_arguments(parser)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    audio = music_like(args.seconds, seed=1)
    with tempfile.TemporaryDirectory() as scratch:
        node = SeparatorNode(onnx_model(args, scratch), device="cpu")
        graph = StemGraph(
            node,
            stems={
                "drums": Pedalboard([Compressor(threshold_db=-18, ratio=4), PeakFilter()]),
                "bass": Pedalboard(
                    [HighpassFilter(cutoff_frequency_hz=30), Distortion(drive_db=4)]
                ),
                "other": Pedalboard([Chorus(), LowShelfFilter()]),
                "vocals": Pedalboard([Delay(delay_seconds=0.2, mix=0.2), Reverb(room_size=0.6)]),
            },
            buses={"rhythm": Bus(inputs=["drums", "bass"], chain=Compressor(threshold_db=-10))},
            master=Pedalboard([BrickwallLimiter(ceiling_db=-1.0)]),
        )
        separation = timed(lambda: node.separate(audio, 44100), args.repeats)
        rendering = timed(lambda: graph.render_stems(audio, 44100), args.repeats)

    overhead = rendering - separation
    print(f"{args.config}, {args.seconds:g} s of music-like audio, CPU")
    print(f"{'separation alone':<28}{separation:>9.3f} s")
    print(f"{'graph (chains on all stems)':<28}{rendering:>9.3f} s")
    print(f"overhead: {overhead:.3f} s = {100 * overhead / separation:.1f} % of separation")
    return 0


if __name__ == "__main__":
    sys.exit(main())
