"""Every pretrained model's layout on the node, timed side by side: the speed column of
`stemboard models list`.

    python benchmarks/model_costs.py                     # 30 s of music, fp32 and auto, 3 rounds
    python benchmarks/model_costs.py --models htdemucs,hdemucs_mmi --seconds 60 --rounds 1

Each layout's shipped weight-free graph is bound to random weights (torch's initialisation of
demucs' or torchaudio's model, seed 0: the work does not depend on the values), opened as a node
with the given precision, and timed on the same music-like audio in turns (A, B, C, ... after one
warm-up each, so a drift of the machine's speed hits all alike). It prints each one's median
seconds, x realtime and cost relative to htdemucs, with the CPU's model name. Needs the export
extra (torch and demucs make the random weights).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from stemboard import registry
from stemboard.node import SeparatorNode
from stemboard.pretrained.binding import WeightFreeGraph
from stemboard.signals import music_like

REFERENCE = "htdemucs"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def bound_model(name: str, folder: Path) -> Path:
    """Bundle ``name``'s layout with random weights, bound to its shipped graph."""
    from stemboard.export import build_model

    record = registry.bundle(name)
    arch = registry.architecture(record.architecture)
    state = {k: v.numpy() for k, v in build_model(arch.name, 0).state_dict().items()}
    graph = WeightFreeGraph.shipped(arch)
    info = arch.model_info(
        graph.segment_samples, model=name, weights_sha256="0" * 64, origin="random (seed 0)"
    )
    return graph.bind(state, info, folder / f"{name}.onnx")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models",
        default=",".join(
            name
            for name, record in registry.BUNDLES.items()
            if registry.architecture(record.architecture).weight_free
        ),
        help="comma-separated pretrained model names (default: every one)",
    )
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--precisions", default="fp32,auto")
    args = parser.parse_args(argv)
    names = args.models.split(",")
    audio = music_like(args.seconds, seed=1)
    print(f"CPU: {cpu_name()}; {args.seconds:g} s of music-like audio; median of {args.rounds}")
    with tempfile.TemporaryDirectory(prefix="stemboard-costs-") as folder:
        paths = {name: bound_model(name, Path(folder)) for name in names}
        for precision in args.precisions.split(","):
            nodes = {
                name: SeparatorNode(path, device="cpu", precision=precision)
                for name, path in paths.items()
            }
            times: dict[str, list[float]] = {name: [] for name in names}
            for node in nodes.values():
                node.separate(audio[:, : 44100 * 2], 44100)  # warm-up
            for _ in range(args.rounds):
                for name, node in nodes.items():
                    started = time.perf_counter()
                    node.separate(audio, 44100)
                    times[name].append(time.perf_counter() - started)
            medians = {name: statistics.median(values) for name, values in times.items()}
            reference = medians.get(REFERENCE)
            print(f"\nprecision {precision}")
            print(f"{'model':26s} {'runs':28s} {'seconds':>8s} {'x realtime':>10s} {'cost':>6s}")
            for name, node in nodes.items():
                cost = f"{medians[name] / reference:.2f}" if reference else "-"
                print(
                    f"{name:26s} {node.describe()[:28]:28s} {medians[name]:8.2f} "
                    f"{args.seconds / medians[name]:10.2f} {cost:>6s}"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
