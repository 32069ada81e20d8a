"""``python -m stemboard.synth OUT_DIR``: write synthetic songs of one split as WAV stems."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stemboard.synth.song import generate_song, write_song
from stemboard.synth.splits import SPLITS, split_seeds


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one readable line, not usage plus a message
        self.exit(2, f"{self.prog}: error: {message}\n")


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m stemboard.synth", description=__doc__)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--split", default="test", choices=list(SPLITS))
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--sample-rate", type=int, default=44100)
    args = parser.parse_args(argv)
    if args.seconds <= 0:
        parser.error(f"--seconds must be > 0, got {args.seconds:g}")
    if args.sample_rate < 8000:
        parser.error(f"--sample-rate must be >= 8000, got {args.sample_rate}")
    try:
        seeds = split_seeds(args.split, args.count, args.start)
    except ValueError as error:
        parser.error(str(error))
    for seed in seeds:
        song = generate_song(seed, args.seconds, args.sample_rate)
        path = write_song(song, args.out_dir / f"song_{seed}")
        d = song.description
        print(
            f"{path}: {d['tempo']:.0f} bpm {d['key']} {d['scale']}, drums {d['drum_style']}, "
            f"bass {d['bass_timbre']}, other {'+'.join(d['other_instruments'])}, "
            f"vocals {d['voice_type']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
