"""``stemboard demo``: generate a song, separate it with the packaged demo model, render a
preset on the same stems and score them — offline, in one go."""

from __future__ import annotations

import argparse
import os

from stemboard.cli import node_options
from stemboard.cli.options import positive_float
from stemboard.cli.output import say, warn
from stemboard.node.settings import SettingError


def add(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "demo",
        help="generate a song, separate it with the demo model, render and score it",
        description=(
            "Offline, in one go: generate a song of the synthetic test split, separate it with "
            "the packaged demo model, render a preset on the same stems, score the stems "
            "against the generated ones and write everything (song, stems, render, plots, "
            "sdr.json) to DIR."
        ),
    )
    parser.add_argument(
        "-o", "--out", default="stemboard-demo", metavar="DIR", help="default ./stemboard-demo"
    )
    parser.add_argument(
        "--song", type=int, metavar="SEED", help="a test-split song's seed (default the first)"
    )
    parser.add_argument(
        "--seconds", type=positive_float, default=30.0, help="song length (default 30, max 600)"
    )
    parser.add_argument(
        "--preset", default="karaoke", help="the preset to render (default karaoke)"
    )
    node_options.add_device(parser)
    node_options.add_node_options(parser, seed=False)
    parser.add_argument(
        "--seed",
        type=int,
        metavar="SEED",
        help="deprecated: the same as --song (in the other commands --seed is the shifts' seed)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier demo in DIR")
    parser.set_defaults(run=run, resolve_node_options=_old_seed, command_parser=parser)


def _old_seed(args: argparse.Namespace) -> None:
    """``--seed`` was the song's seed here, and is for one more release, with a warning: in
    every other command it is the shifts' seed."""
    if args.seed is None:
        return
    if args.song is not None and args.song != args.seed:
        raise SettingError(
            "--seed", f"--seed {args.seed} (deprecated: --song) contradicts --song {args.song}"
        )
    warn("--seed is deprecated here (removed in the next release); use --song")
    args.song = args.seed


def run(args: argparse.Namespace) -> int:
    from stemboard.demo import DEFAULT_SEED, run_demo

    result = run_demo(
        args.out,
        seed=DEFAULT_SEED if args.song is None else args.song,
        seconds=args.seconds,
        preset=args.preset,
        device=args.device,
        precision=args.precision or "auto",
        shifts=args.shifts or 0,
        overwrite=args.overwrite,
        log=say,
    )
    total = sum(result.seconds.values())
    say(f"\nwrote to {result.out_dir}/ in {total:.0f} s:")
    say(f"  {result.song.name:<22} the generated song (reference stems in reference/)")
    for name, path in {**result.stems, **result.rendered}.items():
        say(f"  {os.path.relpath(path, result.out_dir):<22} {name}")
    say(f"  {'plots/':<22} spectrograms, reference above estimate")
    say(f"  {result.report.name:<22} the scores")
    return 0
