"""``stemboard separate``: audio files into stem files."""

from __future__ import annotations

import argparse

from stemboard.choices import BIT_DEPTHS, DEFAULT_CLIP_MODE
from stemboard.cli import node_options
from stemboard.cli.options import add_clip_mode, comma_list
from stemboard.cli.tracks import render_tracks


def add(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "separate",
        help="separate audio files into stems",
        description=(
            "Separate each INPUT into DIR/<track>/<stem>.<format>. Every input is checked "
            "before any is separated: two inputs whose files would collide are refused."
        ),
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files")
    parser.add_argument("-o", "--out", required=True, metavar="DIR", help="output directory")
    node_options.add_model(parser)
    node_options.add_device(parser)
    node_options.add_node_options(parser, fp16_switch=True, segments=True)
    parser.add_argument("--stems", type=comma_list, help="only these stems, e.g. vocals,drums")
    parser.add_argument("--format", default="wav", help="wav, flac, ogg or mp3 (default wav)")
    parser.add_argument("--bit-depth", type=int, default=16, choices=BIT_DEPTHS, help="default 16")
    add_clip_mode(parser, DEFAULT_CLIP_MODE)
    parser.add_argument("--overwrite", action="store_true", help="replace existing stem files")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from stemboard.registry import known_sources
    from stemboard.render import OutputFormat, OutputPlan, Separation, check_destination

    format = OutputFormat(args.format, args.bit_depth, clip_mode=args.clip_mode)
    settings = node_options.settings(args)
    check_destination(args.out)
    known = known_sources(settings.name)
    if known is not None and args.stems is not None:  # before the model is fetched for nothing
        OutputPlan.of_stems(known, args.stems)
    job = Separation(node_options.node_opener(args)(settings), args.stems, format)
    return render_tracks(job, args.inputs, args.out, overwrite=args.overwrite, quiet=args.quiet)
