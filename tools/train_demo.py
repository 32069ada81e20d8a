"""Train stemboard's demo separator: a small HDemucs on songs from ``stemboard.synth``.

Not part of the runtime (it needs torch). A rerun with the same arguments on the same torch
version and thread count reproduces the model::

    python tools/train_demo.py --out build/demo            # train, then export build/demo/demo.onnx
    python tools/train_demo.py --out build/demo --steps 50 # a quick trial
    python tools/train_demo.py --out build/demo2 --init build/demo/demo.pt --seed 1  # stage 2
    python tools/train_demo.py --out build/demo --steps 20000 --stop-after 120  # in sessions,
    python tools/train_demo.py --out build/demo --resume --stop-after 120       # then go on

A run stopped with ``--stop-after`` (or killed) goes on from its last evaluation with ``--resume``:
the saved state holds the weights, the optimiser, the batch generator and the schedule, so the
resumed run gives the same weights as one that never stopped.

What it does, top to bottom:

1. generate a pool of training songs (``train`` split seeds) and a few validation songs
   (``valid`` split) with :func:`stemboard.synth.generate_song`;
2. draw batches with mixing augmentation: each example takes each stem from a random pool song at
   a random offset (about half the examples keep one song's stems together, so coherent mixes
   are seen too), with random gain, channel swap and sign flip; the mix is the sum of the stems;
3. train ``HDemucs`` (the ``small`` architecture of :mod:`stemboard.registry`) with the L1
   waveform loss and Adam (warm-up, then cosine decay);
4. every ``--eval-every`` steps measure the whole-song SDR on the validation songs and keep the
   best weights;
5. save the best ``state_dict`` (``demo.pt``, the format ``stemboard export --checkpoint`` reads),
   a training log (``train_log.json``), and export ``demo.onnx`` through stemboard's exporter.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torchaudio

from stemboard.atomic import atomic_path
from stemboard.registry import architecture
from stemboard.synth import generate_song, split_seeds

ARCHITECTURE = "small"


def _song_stems(seed: int, seconds: float) -> np.ndarray:
    """The stems of one generated song as float32 ``[sources, channels, samples]``."""
    song = generate_song(seed, seconds)
    return np.stack([song.stems[name] for name in song.stems])


def generate_pool(seeds: list[int], seconds: float, workers: int) -> np.ndarray:
    """Songs for ``seeds`` as float32 ``[songs, sources, channels, samples]``."""
    with ProcessPoolExecutor(max_workers=workers) as pool:
        stems = list(pool.map(_song_stems, seeds, [seconds] * len(seeds), chunksize=4))
    return np.stack(stems)


class RemixSampler:
    """Batches of ``(mix, stems)`` cut from a pool of songs, with mixing augmentation."""

    def __init__(self, pool: np.ndarray, samples: int, seed: int, coherent: float = 0.5):
        self.pool = pool
        self.samples = samples
        self.coherent = coherent
        self.rng = np.random.default_rng(seed)

    def example(self) -> np.ndarray:
        """One training target, float32 ``[sources, channels, samples]``."""
        songs, sources, _, length = self.pool.shape
        rng = self.rng
        if rng.random() < self.coherent:
            song = np.full(sources, rng.integers(songs))
            offset = np.full(sources, rng.integers(length - self.samples + 1))
        else:
            song = rng.integers(songs, size=sources)
            offset = rng.integers(length - self.samples + 1, size=sources)
        stems = np.stack(
            [self.pool[song[s], s, :, offset[s] : offset[s] + self.samples] for s in range(sources)]
        )
        gain = rng.uniform(0.25, 1.25, size=(sources, 1, 1))
        swap = rng.random(sources) < 0.5
        stems[swap] = stems[swap, ::-1]
        sign = np.where(rng.random((sources, 1, 1)) < 0.5, -1.0, 1.0)
        return (stems * gain * sign).astype(np.float32)

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``mix [batch, channels, samples]`` and ``stems [batch, sources, channels, samples]``."""
        stems = torch.from_numpy(np.stack([self.example() for _ in range(size)]))
        return stems.sum(dim=1), stems


def whole_song_sdr(reference: torch.Tensor, estimate: torch.Tensor) -> torch.Tensor:
    """MDX-style SDR per source over whole songs, ``[batch, sources, channels, samples]`` in."""
    eps = 1e-7
    signal = reference.pow(2).sum(dim=(-2, -1))
    error = (reference - estimate).pow(2).sum(dim=(-2, -1))
    return 10 * torch.log10((signal + eps) / (error + eps))


def validate(model: torch.nn.Module, songs: torch.Tensor) -> list[float]:
    """Mean whole-song SDR per source over ``songs [n, sources, channels, samples]``."""
    model.eval()
    with torch.no_grad():
        estimates = torch.cat([model(song.sum(dim=0, keepdim=True)) for song in songs])
    model.train()
    return whole_song_sdr(songs, estimates).mean(dim=0).tolist()


def learning_rate(step: int, steps: int, peak: float, warmup: int) -> float:
    """Linear warm-up to ``peak``, then cosine decay to 1 % of it at the last step."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress)))


STATE_FILE = "state.pt"
# Options a resumed run takes from its saved state: they fix the data, the batches and the schedule.
RUN_OPTIONS = (
    "steps", "batch", "segment", "lr", "warmup", "clip", "pool", "pool_seconds", "valid",
    "valid_seconds", "eval_every", "seed", "init", "bf16", "export_segment",
)  # fmt: skip


def _save_atomically(obj: object, path: Path) -> None:
    with atomic_path(path) as partial:
        torch.save(obj, partial)


def _machine(device: str) -> dict:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "torch": str(torch.__version__),
        "torchaudio": str(torchaudio.__version__),
        "python": sys.version.split()[0],
    }


def train(args: argparse.Namespace, state: dict | None = None) -> dict:
    """Train a run, or continue it from a saved ``state``; the log says whether it finished."""
    out = Path(args.out)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    arch = architecture(ARCHITECTURE)
    rate = arch.sample_rate
    out.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    pool = generate_pool(split_seeds("train", args.pool), args.pool_seconds, args.threads)
    valid = torch.from_numpy(
        generate_pool(split_seeds("valid", args.valid), args.valid_seconds, args.threads)
    )
    generated = time.perf_counter() - started
    print(f"generated {len(pool)} training and {len(valid)} validation songs in {generated:.0f} s")

    sampler = RemixSampler(pool, round(args.segment * rate), args.seed)
    model = torchaudio.models.HDemucs(**arch.hdemucs_kwargs())
    if args.init and state is None:
        model.load_state_dict(torch.load(args.init, map_location="cpu", weights_only=True))
        print(f"starting from {args.init}")
    model = model.to(args.device)
    optimiser = torch.optim.Adam(model.parameters(), lr=args.lr)
    history: list[dict] = []
    best = {"step": -1, "sdr": -math.inf, "per_source": []}
    first_step, running, trained_before, sessions = 0, 0.0, 0.0, []
    if state is not None:
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        sampler.rng.bit_generator.state = state["sampler"]
        torch.set_rng_state(state["torch_rng"])
        first_step, running = state["step"], state["running"]
        history, best = state["history"], state["best"]
        trained_before, sessions = state["train_seconds"], state["sessions"]
        print(f"resuming at step {first_step} of {args.steps}")
    best_path = out / "demo.pt"
    train_started = time.perf_counter()
    sessions = [*sessions, {"first_step": first_step, "machine": _machine(args.device)}]
    log: dict = {}
    for step in range(first_step, args.steps):
        for group in optimiser.param_groups:
            group["lr"] = learning_rate(step, args.steps, args.lr, args.warmup)
        mix, stems = sampler.batch(args.batch)
        mix, stems = mix.to(args.device), stems.to(args.device)
        with torch.autocast(args.device, dtype=torch.bfloat16, enabled=args.bf16):
            estimate = model(mix)
        loss = torch.nn.functional.l1_loss(estimate.float(), stems)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        optimiser.step()
        running = loss.item() if step == 0 else 0.98 * running + 0.02 * loss.item()
        last = step == args.steps - 1
        if not ((step + 1) % args.eval_every == 0 or last):
            continue
        per_source = validate(model, valid.to(args.device))
        sdr = float(np.mean(per_source))
        this_session = time.perf_counter() - train_started
        elapsed = trained_before + this_session
        history.append(
            {
                "step": step + 1,
                "loss": round(running, 5),
                "valid_sdr": round(sdr, 3),
                "valid_sdr_per_source": [round(v, 3) for v in per_source],
                "seconds": round(elapsed, 1),
            }
        )
        text = " ".join(f"{n} {v:5.2f}" for n, v in zip(arch.sources, per_source, strict=True))
        print(
            f"step {step + 1:5d}  loss {running:.4f}  valid SDR {sdr:5.2f} dB ({text})  "
            f"{elapsed / 60:.1f} min",
            flush=True,
        )
        if sdr > best["sdr"]:
            best = {"step": step + 1, "sdr": sdr, "per_source": per_source}
            _save_atomically({k: v.cpu() for k, v in model.state_dict().items()}, best_path)
        stopping = args.stop_after is not None and this_session >= 60 * args.stop_after
        sessions[-1]["last_step"] = step + 1
        log = {
            "architecture": ARCHITECTURE,
            "arguments": {k: v for k, v in vars(args).items() if k in RUN_OPTIONS},
            "parameters": sum(p.numel() for p in model.parameters()),
            "finished": last,
            "best": best,
            "history": history,
            "data_seconds": round(generated, 1),
            "train_seconds": round(elapsed, 1),
            "sessions": sessions,
        }
        (out / "train_log.json").write_text(json.dumps(log, indent=2) + "\n")
        _save_atomically(
            {
                "arguments": log["arguments"],
                "step": step + 1,
                "model": model.state_dict(),
                "optimiser": optimiser.state_dict(),
                "sampler": sampler.rng.bit_generator.state,
                "torch_rng": torch.get_rng_state(),
                "running": running,
                "history": history,
                "best": best,
                "train_seconds": elapsed,
                "sessions": sessions,
            },
            out / STATE_FILE,
        )
        if stopping and not last:
            print(f"stopped after step {step + 1}; continue with: --out {out} --resume")
            break
    return log


def _resumed_state(args: argparse.Namespace, parser: argparse.ArgumentParser) -> dict:
    """The saved run's state; its options replace ``args``, which may not ask for others."""
    path = Path(args.out) / STATE_FILE
    if not path.is_file():
        parser.error(f"--resume: {path} does not exist (it is written at every evaluation)")
    state = torch.load(path, weights_only=True)
    saved = state["arguments"]
    for name in RUN_OPTIONS:
        given = getattr(args, name)
        if given != parser.get_default(name) and given != saved[name]:
            option = "--" + name.replace("_", "-")
            parser.error(
                f"--resume continues the saved run: {option} {given} differs from its {saved[name]}"
            )
        setattr(args, name, saved[name])
    if state["step"] >= saved["steps"]:
        parser.error(f"--resume: the run in {args.out} already finished ({saved['steps']} steps)")
    return state


def export(out: Path, segment: float) -> None:
    from stemboard.export import export_hdemucs

    export_hdemucs(
        out / "demo.onnx", checkpoint=out / "demo.pt", config=ARCHITECTURE, segment=segment
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder for demo.pt, demo.onnx, the log")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--segment", type=float, default=3.0, help="training crop, seconds")
    parser.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--clip", type=float, default=5.0, help="gradient norm clip")
    parser.add_argument("--pool", type=int, default=200, help="training songs generated")
    parser.add_argument("--pool-seconds", type=float, default=10.0)
    parser.add_argument("--valid", type=int, default=4, help="validation songs")
    parser.add_argument("--valid-seconds", type=float, default=10.0)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--init", metavar="FILE", help="start from these weights (a demo.pt), to train in stages"
    )
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument(
        "--bf16",
        action="store_true",
        help="run the training forward pass under bfloat16 autocast (validation stays float32)",
    )
    parser.add_argument("--export-segment", type=float, default=10.0, help="ONNX segment, s")
    parser.add_argument("--no-export", action="store_true")
    parser.add_argument(
        "--stop-after",
        type=float,
        metavar="MINUTES",
        help="stop at the first evaluation after this many minutes of training; --resume goes on",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help=f"continue the run in --out from its {STATE_FILE} (same options, same result)",
    )
    args = parser.parse_args(argv)
    log = train(args, _resumed_state(args, parser) if args.resume else None)
    state = "finished" if log["finished"] else "stopped"
    print(
        f"{state}: best valid SDR {log['best']['sdr']:.2f} dB at step {log['best']['step']}; "
        f"trained {log['train_seconds'] / 60:.1f} min"
    )
    if log["finished"] and not args.no_export:
        export(Path(args.out), args.export_segment)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
