"""Catalogue throughput: a plain loop over ``separate_file`` against ``stemboard batch``.

    python benchmarks/batch_throughput.py                        # 20 tracks of 30 s, demo model
    python benchmarks/batch_throughput.py --tracks 6 --seconds 10 --workers 1 2

Generates ``--tracks`` songs of the synthetic test split (not timed), then separates all of them
into four 16-bit WAV stems each, in one run and on the same files:

- the plain loop: one ``SeparatorNode`` and ``stemboard.render.separate_file`` per track, in
  order — what a script without stemboard's batch layer would do;
- ``run_batch(..., engine="local")`` and ``engine="ray"`` for each ``--workers`` count (each
  local worker gets its share of the cores as onnxruntime threads; each Ray actor asks for it).
  Ray runs twice: starting its own local cluster (the start-up inside the time, as a one-off
  ``stemboard batch --engine ray`` on a laptop), and joining a cluster that is already up (as
  on a real cluster, where the start-up is not the job's).

Each batch starts on an empty output folder, so the ledger, the planning, the process pool or
the Ray actors and their model loading are all inside the time. Prints tracks per minute and
the ratio to the plain loop; the target is >= 0.95x at one worker (the batch layer costing
under 5 %).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from pedalboard.io import AudioFile

from stemboard.batch import run_batch
from stemboard.node import SeparatorNode
from stemboard.node.backend import usable_cores
from stemboard.render import separate_file
from stemboard.synth import generate_song, split_seeds


def make_tracks(folder: Path, count: int, seconds: float) -> list[Path]:
    paths = []
    for seed in split_seeds("test", count):
        song = generate_song(seed, seconds)
        path = folder / f"song_{seed}.wav"
        with AudioFile(str(path), "w", song.sample_rate, 2, bit_depth=16) as f:
            f.write(song.mix)
        paths.append(path)
    return paths


def plain_loop(tracks: list[Path], out: Path, model: str) -> float:
    started = time.perf_counter()
    node = SeparatorNode(model, device="cpu")
    for path in tracks:
        separate_file(node, path, out)
    return time.perf_counter() - started


def batch(folder: Path, out: Path, model: str, engine: str, workers: int) -> float:
    started = time.perf_counter()
    report = run_batch(
        [folder],
        out,
        stems="all",
        model=model,
        device="cpu",
        engine=engine,
        workers=workers,
        log=lambda _: None,
    )
    elapsed = time.perf_counter() - started
    if not report.ok:
        raise SystemExit(f"batch_throughput.py: the {engine} batch failed:\n{report.table()}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--model", default="demo")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--engines", nargs="+", choices=("local", "ray"), default=["local", "ray"])
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="stemboard-batch-") as scratch:
        folder = Path(scratch) / "tracks"
        folder.mkdir()
        print(f"generating {args.tracks} songs of {args.seconds:g} s (not timed)", flush=True)
        tracks = make_tracks(folder, args.tracks, args.seconds)
        rows = [
            ("plain loop over separate_file", plain_loop(tracks, Path(scratch) / "p", args.model))
        ]
        for engine in args.engines:
            for workers in args.workers:
                out = Path(scratch) / f"{engine}-{workers}"
                label = f"batch --engine {engine} --workers {workers}"
                if engine == "ray":
                    label += " (starts Ray)"
                rows.append((label, batch(folder, out, args.model, engine, workers)))
                shutil.rmtree(out)
        if "ray" in args.engines:
            import ray

            ray.init(include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
            try:
                for workers in args.workers:
                    out = Path(scratch) / f"ray-up-{workers}"
                    label = f"batch --engine ray --workers {workers} (Ray up)"
                    rows.append((label, batch(folder, out, args.model, "ray", workers)))
                    shutil.rmtree(out)
            finally:
                ray.shutdown()
    baseline = rows[0][1]
    print(
        f"{args.tracks} tracks of {args.seconds:g} s, model {args.model}, CPU, "
        f"{usable_cores()} usable cores"
    )
    print(f"{'':<50}{'seconds':>9}{'tracks/min':>12}{'vs loop':>9}")
    for label, seconds in rows:
        print(
            f"{label:<50}{seconds:>9.1f}{60 * args.tracks / seconds:>12.1f}"
            f"{baseline / seconds:>8.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
