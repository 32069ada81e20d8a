"""``stemboard presets``: list the shipped presets, show one, validate files."""

from __future__ import annotations

import argparse

from stemboard.cli.options import add_output_switches
from stemboard.cli.output import error, say
from stemboard.errors import StemboardError


def add(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("presets", help="list, show or validate presets")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="the shipped presets").set_defaults(run=run_list)
    show = actions.add_parser("show", help="print a preset file or a shipped preset")
    show.add_argument("name", metavar="NAME")
    show.set_defaults(run=run_show)
    validate = actions.add_parser(
        "validate",
        help="check preset files (never loads plugin code)",
        description=(
            "Check preset files: layout, types, effects and their parameters, routing, and the "
            "stem names against the preset's model when the registry knows it (or --model). "
            "External plugins are checked for their opt-in and path, never loaded."
        ),
    )
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.add_argument("--allow-external-plugins", action="store_true")
    validate.add_argument("--model", help="check stem names against this model's")
    validate.set_defaults(run=run_validate)
    for action in actions.choices.values():
        add_output_switches(action)


def run_list(args: argparse.Namespace) -> int:
    from stemboard.graph.presets import read_preset, shipped_presets

    for path in shipped_presets():
        say(f"{path.stem:<28} {read_preset(path).description}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from stemboard.graph.preset_yaml import read_text
    from stemboard.graph.presets import find_preset

    print(read_text(find_preset(args.name)), end="")
    return 0


def run_validate(args: argparse.Namespace) -> int:
    from stemboard.graph.presets import read_preset
    from stemboard.registry import model_sources

    sources = None if args.model is None else model_sources(args.model)
    failed = 0
    for path in args.files:
        try:
            read_preset(path, sources=sources, allow_external_plugins=args.allow_external_plugins)
        except StemboardError as problem:
            failed += 1
            error(problem)
        else:
            say(f"{path}: ok")
    return 1 if failed else 0
