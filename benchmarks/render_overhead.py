"""What the graph adds to separation, and what files add to arrays, side by side.

    python benchmarks/render_overhead.py                   # high, random weights, 30 s, CPU
    python benchmarks/render_overhead.py --model high.onnx

Times, on the same audio and the same node: ``SeparatorNode.separate`` alone; ``StemGraph``
with a compressor/EQ/reverb chain on every stem, a bus and a limiter on the master
(``render_stems``); and the file pipeline of ``stemboard.render`` for both (``separate_file``
writing four 16-bit WAV stems, ``render_file`` writing the 24-bit mix; each reads the file twice,
rescales on the way out and renames into place). Prints the graph's overhead as a share of
separation time (target: under 10 %) and the files' overhead over the arrays. Best of
``--repeats``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

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
from pedalboard.io import AudioFile

from stemboard.graph import Bus, StemGraph
from stemboard.node import SeparatorNode
from stemboard.render import render_file, separate_file
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
        song = Path(scratch) / "song.wav"
        with AudioFile(str(song), "w", 44100, 2, bit_depth=16) as f:
            f.write(audio)
        out = Path(scratch) / "out"
        separation_file = timed(
            lambda: separate_file(node, song, out, overwrite=True), args.repeats
        )
        rendering_file = timed(lambda: render_file(graph, song, out, overwrite=True), args.repeats)

    overhead = rendering - separation
    print(f"{args.config}, {args.seconds:g} s of music-like audio, CPU")
    print(f"{'':<30}{'arrays':>10}{'files':>10}{'files/arrays':>14}")
    for label, arrays, files in (
        ("separation alone", separation, separation_file),
        ("graph (chains on all stems)", rendering, rendering_file),
    ):
        print(f"{label:<30}{arrays:>8.3f} s{files:>8.3f} s{files / arrays:>13.3f}x")
    print(f"graph overhead: {overhead:.3f} s = {100 * overhead / separation:.1f} % of separation")
    return 0


if __name__ == "__main__":
    sys.exit(main())
