"""``stemboard batch``: a whole catalogue, resumably, on local workers or a Ray cluster."""

from __future__ import annotations

import argparse
import sys

from stemboard.choices import BIT_DEPTHS
from stemboard.cli import node_options
from stemboard.cli.options import (
    add_clip_mode,
    add_external_plugins,
    add_session_options,
    comma_list,
    number,
    positive_int,
)
from stemboard.cli.output import ProgressLine, UsageError, say
from stemboard.errors import StemboardError


def add(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "batch",
        help="separate or render a whole catalogue, resumably",
        description=(
            "Render every track of a catalogue into DIR, mirroring each input's path below the "
            "folder it was found in, as `stemboard render` (--preset) or `stemboard separate` "
            "(--stems) would. A ledger in DIR/.stemboard/ records what is done: running the same "
            "command again skips it and renders only what is new or changed. A bad file fails "
            "alone; a worker that dies costs one attempt. Ctrl-C or SIGTERM stop cleanly. Exit "
            "status: 0 when every track is done, 1 when some failed, 2 on a usage error."
        ),
    )
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="audio files, folders (walked), glob patterns, or a manifest (.csv/.jsonl with a "
        "path column; optional preset and output columns)",
    )
    parser.add_argument("-o", "--out", required=True, metavar="DIR", help="output directory")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--preset", metavar="NAME|FILE", help="render every track through it")
    what.add_argument(
        "--stems", type=_stem_choice, metavar="all|a,b", help="separate: all stems or these"
    )
    parser.add_argument("--model", help="an exported .onnx file or a known name (e.g. demo)")
    node_options.add_device(parser)
    node_options.add_node_options(parser, preset="the preset's, or {} with --stems")
    parser.add_argument("--engine", choices=("local", "ray"), default="local")
    parser.add_argument("--address", help="the Ray cluster to join (auto: a running one)")
    parser.add_argument(
        "--workers",
        type=positive_int,
        help="default: one per GPU; on the CPU one per core, as memory allows (2 GiB each)",
    )
    parser.add_argument(
        "--gpus-per-worker",
        type=number(float, lambda v: 0 <= v <= 64, "a number of GPUs >= 0"),
        help="Ray: GPUs each worker asks for (default 1 with --device cuda)",
    )
    parser.add_argument(
        "--retries",
        type=number(int, lambda v: v >= 0, "0 or more"),
        default=2,
        help="attempts after a worker dies mid-track (default 2)",
    )
    parser.add_argument("--format", help="wav, flac, ogg or mp3 (overrides a preset's)")
    parser.add_argument("--bit-depth", type=int, choices=BIT_DEPTHS)
    add_clip_mode(parser, None)
    parser.add_argument("--report", metavar="FILE", help="also write the report as JSON")
    parser.add_argument("--overwrite", action="store_true", help="render every track again")
    add_external_plugins(parser)
    add_session_options(parser)
    parser.set_defaults(run=run)


def _stem_choice(text: str) -> str | list[str]:
    return "all" if text.strip() == "all" else comma_list(text)


def run(args: argparse.Namespace) -> int:
    from stemboard.batch import execute, plan_batch
    from stemboard.batch.ledger import Ledger
    from stemboard.render import check_file_destination

    try:  # what is refused before any track runs is a usage error (exit 2)
        if args.report:
            check_file_destination("--report", args.report)
        if args.format is not None:
            from stemboard.audio.writing import check_output_format

            check_output_format(args.format, args.bit_depth or 16)
        plan = plan_batch(
            args.inputs,
            args.out,
            preset=args.preset,
            stems=args.stems,
            model=args.model,
            device=args.device,
            **node_options.overrides(args),
            engine=args.engine,
            address=args.address,
            workers=args.workers,
            gpus_per_worker=args.gpus_per_worker,
            retries=args.retries,
            format=args.format,
            bit_depth=args.bit_depth,
            clip_mode=args.clip_mode,
            sessions=tuple(args.session or ()),
            session_chains=args.session_chains,
            overwrite=args.overwrite,
            allow_external_plugins=args.allow_external_plugins,
            log=lambda line: say(line, sys.stderr),
        )
        ledger = Ledger.open(args.out)  # holds the folder's lock: one run per output folder
    except StemboardError as error:
        raise UsageError(str(error)) from None
    line = ProgressLine(args.quiet)
    with ledger:
        report = execute(plan, ledger, progress=lambda progress: line.show(progress.line()))
    line.close()
    print(report.table())
    if args.report:
        say(f"wrote {report.write_json(args.report)}")
    if report.interrupted == "SIGINT":
        return 130
    if report.interrupted == "SIGTERM":
        return 143
    return 0 if report.ok else 1
