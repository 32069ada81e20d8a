"""The node against the torchaudio tutorial's pipeline on the same audio and weights, in one run.

    python benchmarks/node_speed.py                          # high, random weights, 30 s, CPU
    python benchmarks/node_speed.py --device cuda --fp16     # on a GPU: fp32 and fp16 nodes
    python benchmarks/node_speed.py --model high.onnx        # reuse an export of seed-0 weights

The tutorial pipeline is re-implemented from its description (shared/reference-pipeline.md):
track normalisation, ``separate_sources(segment=10.0, overlap=0.1)`` with a linear Fade, one
chunk per forward pass, eager torch under ``no_grad``. The node runs with its defaults. Prints
seconds, × realtime and the speed-up; the best of ``--repeats`` runs after a warm-up.
"""

from __future__ import annotations

import argparse
import sys
import tempfile

import numpy as np
import torch
from benchmark_models import add_weight_arguments, onnx_model, timed, torch_model
from torchaudio.transforms import Fade

from stemboard.node import SeparatorNode
from stemboard.signals import music_like


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_weight_arguments(parser)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--fp16", action="store_true", help="also time the fp16 variant")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch-size", type=int, help="node batch size (default: the node's)")
    parser.add_argument("--overlap", type=float, default=0.25, help="node overlap (default 0.25)")
    args = parser.parse_args()

    model, arch = torch_model(args)
    model = model.to(args.device)
    audio = music_like(args.seconds, arch.sample_rate, seed=1)

    with tempfile.TemporaryDirectory() as scratch:
        path = onnx_model(args, scratch, fp16=args.fp16)
        rows = [
            (
                "torchaudio tutorial",
                timed(lambda: tutorial_pipeline(model, audio, args.device), args.repeats),
            )
        ]
        reference = tutorial_pipeline(model, audio, args.device)
        for fp16 in (False, True) if args.fp16 else (False,):
            node = SeparatorNode(
                path,
                device=args.device,
                fp16=fp16,
                batch_size=args.batch_size,
                overlap=args.overlap,
            )
            label = f"node {node.device} {'fp16' if fp16 else 'fp32'} (batch {node.batch_size})"
            rows.append(
                (
                    label,
                    timed(lambda node=node: node.separate(audio, arch.sample_rate), args.repeats),
                )
            )
            stems = node.separate(audio, arch.sample_rate)
            got = np.stack([stems[name] for name in node.sources])
            agreement = 10 * np.log10(np.sum(reference**2) / np.sum((reference - got) ** 2))
            rows[-1] = (*rows[-1], agreement)

    print(f"{arch.name}, {args.seconds:g} s of music-like audio, device {args.device}")
    if args.device == "cuda":
        print(f"GPU: {torch.cuda.get_device_name()}")
    print(
        f"{'pipeline':<36}{'seconds':>9}{'x realtime':>12}{'speed-up':>10}{'SNR vs tutorial':>17}"
    )
    base = rows[0][1]
    for label, seconds, *agreement in rows:
        snr = f"{agreement[0]:.1f} dB" if agreement else ""
        print(
            f"{label:<36}{seconds:>9.3f}{args.seconds / seconds:>12.1f}"
            f"{base / seconds:>9.2f}x{snr:>17}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
