"""One training step of the demo model (tools/train_demo.py) in float32 and under bf16 autocast.

    python benchmarks/train_step.py                   # small, batch 8 of 3 s, CPU
    python benchmarks/train_step.py --device cuda --batch 32

A step is what ``train_demo.py`` does per batch: forward, L1 loss, backward, Adam. Prints the
median time of each precision over ``--repeats`` steps after one warm-up, and the ratio, so
``--bf16`` can be judged on the machine at hand (it needs AVX512-BF16 or AMX on a CPU to pay).
"""

from __future__ import annotations

import argparse

import torch
import torchaudio
from benchmark_models import median, timed

from stemboard.registry import architecture


def step_seconds(config: str, batch: int, seconds: float, device: str, bf16: bool, repeats: int):
    torch.manual_seed(0)
    arch = architecture(config)
    model = torchaudio.models.HDemucs(**arch.hdemucs_kwargs()).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-4)
    samples = round(seconds * arch.sample_rate)
    mix = 0.1 * torch.randn(batch, 2, samples, device=device)
    stems = 0.1 * torch.randn(batch, len(arch.sources), 2, samples, device=device)

    def step() -> None:
        with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
            estimate = model(mix)
        loss = torch.nn.functional.l1_loss(estimate.float(), stems)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        if device == "cuda":
            torch.cuda.synchronize()

    return timed(step, repeats, summary=median)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="small", help="architecture (default small)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--segment", type=float, default=3.0, help="crop length, seconds")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="0: torch's default")
    parser.add_argument("--repeats", type=int, default=4)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    common = (args.config, args.batch, args.segment, args.device)
    full = step_seconds(*common, bf16=False, repeats=args.repeats)
    half = step_seconds(*common, bf16=True, repeats=args.repeats)
    audio = args.batch * args.segment
    print(f"{args.config}, batch {args.batch} x {args.segment:g} s on {args.device}:")
    print(f"  float32       {full:.3f} s/step ({audio / full:.1f} s of audio per second)")
    print(f"  bf16 autocast {half:.3f} s/step ({audio / half:.1f} s of audio per second)")
    print(f"  bf16 speed-up {full / half:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
