"""``stemboard render``: audio files through a preset into the files it names."""

from __future__ import annotations

import argparse

from stemboard.cli import node_options
from stemboard.cli.options import add_clip_mode, add_external_plugins, add_session_options
from stemboard.cli.output import UsageError
from stemboard.cli.tracks import render_tracks
from stemboard.errors import PresetError


def add(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "render",
        help="render audio files through a preset",
        description=(
            "Render each INPUT through PRESET (a file or a shipped preset) into DIR, as the "
            "preset's outputs say. Every input is checked before any is rendered."
        ),
    )
    parser.add_argument("preset", metavar="PRESET")
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files")
    parser.add_argument("-o", "--out", required=True, metavar="DIR", help="output directory")
    node_options.add_model(parser, override=True)
    node_options.add_device(parser, default=None)
    node_options.add_node_options(parser, preset="the preset's")
    add_clip_mode(parser, None)
    parser.add_argument("--overwrite", action="store_true", help="replace existing files")
    add_external_plugins(parser)
    add_session_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from stemboard.graph.presets import load_graph
    from stemboard.render import GraphRender, check_destination

    check_destination(args.out)
    try:
        graph = load_graph(
            args.preset,
            model=args.model,
            device=args.device,
            **node_options.overrides(args),
            open_node=node_options.node_opener(args),
            allow_external_plugins=args.allow_external_plugins,
        )
    except PresetError as error:  # nothing can run: as for a bad option (and as batch says)
        raise UsageError(str(error)) from None
    sessions = None
    if args.session:  # added to the preset's (each kind once: OutputPlan checks them)
        sessions = [*graph.preset.outputs.sessions, *args.session]
    try:
        job = GraphRender(
            graph, clip_mode=args.clip_mode, sessions=sessions, session_chains=args.session_chains
        )
    except ValueError as error:
        raise UsageError(str(error)) from None
    return render_tracks(job, args.inputs, args.out, overwrite=args.overwrite, quiet=args.quiet)
