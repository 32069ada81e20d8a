"""``stemboard models``: the models stemboard knows by name; fetch, import or locate one."""

from __future__ import annotations

import argparse

from stemboard.cli.options import add_output_switches
from stemboard.cli.output import DownloadProgress, ProgressLine, say
from stemboard.registry import BUNDLES, PACKAGED


def add(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "models",
        help="list, fetch, import or locate the known models",
        description=(
            "The models stemboard knows by name. A pretrained one is fetched from its official "
            "source once, checked against its sha256, and bound to the graph stemboard ships "
            "for its architecture, without torch, into the cache ($STEMBOARD_CACHE, else "
            "$XDG_CACHE_HOME/stemboard or ~/.cache/stemboard)."
        ),
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser(
        "list", help="each model's stems, size, speed, published quality, and whether it is here"
    ).set_defaults(run=run_list)
    known = sorted([*PACKAGED, *BUNDLES])
    fetch = actions.add_parser(
        "fetch", help="download and bind a pretrained model now (else on first use)"
    )
    fetch.add_argument("name", metavar="NAME", choices=sorted(BUNDLES), help=", ".join(BUNDLES))
    fetch.add_argument("--fp16", action="store_true", help="the float16 variant (for CUDA) too")
    fetch.set_defaults(run=run_fetch)
    path = actions.add_parser("path", help="print the model file's path (once it is here)")
    path.add_argument("name", metavar="NAME", choices=known, help=", ".join(known))
    path.add_argument("--fp16", action="store_true", help="the float16 variant's path")
    path.set_defaults(run=run_path)
    imported = actions.add_parser(
        "import",
        help="bind a copy of the official checkpoint you already have",
        description=(
            "Take the official checkpoint of a pretrained model from a file fetched by other "
            "means: checked against the registry's size and sha256 (demucs' files: the sha256 "
            "prefix in their names), copied into the cache, and bound, as `fetch` would after "
            "downloading it. A bag (htdemucs_ft) takes its four files, in order."
        ),
    )
    imported.add_argument("name", metavar="NAME", choices=sorted(BUNDLES), help=", ".join(BUNDLES))
    imported.add_argument("files", metavar="FILE", nargs="+")
    imported.set_defaults(run=run_import)
    for action in actions.choices.values():
        add_output_switches(action)


def run_list(args: argparse.Namespace) -> int:
    from stemboard.pretrained.install import known_models

    entries = known_models()
    rows = [("NAME", "STEMS", "SIZE", "SPEED", "SDR", "HERE")] + [
        (
            e.name,
            ",".join(e.sources),
            f"{e.size_mb:.0f} MB",
            e.speed if e.cost is None else f"{e.speed} ({e.cost:g}x)",
            "-" if e.sdr_db is None else f"{e.sdr_db:.2f} dB",
            e.state,
        )
        for e in entries
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        say("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    say("")
    say(
        "SPEED: CPU time per song relative to htdemucs (measured, docs/benchmarks.md); "
        "SDR: published MUSDB18-HQ test SDR, mean of the stems."
    )
    for e in entries:
        say(f"{e.name} ({e.architecture}): {e.description}")
        say(f"    SDR source: {e.sdr_source}")
    return 0


def run_fetch(args: argparse.Namespace) -> int:
    from stemboard.models import ensure_model

    progress = DownloadProgress(args.name, ProgressLine(args.quiet))
    try:
        for fp16 in (False, True) if args.fp16 else (False,):
            say(ensure_model(args.name, fp16=fp16, progress=progress, log=say))
    finally:
        progress.close()
    return 0


def run_path(args: argparse.Namespace) -> int:
    from stemboard.registry import model_path

    say(model_path(args.name, fp16=args.fp16))
    return 0


def run_import(args: argparse.Namespace) -> int:
    from stemboard.pretrained.install import import_checkpoint

    say(import_checkpoint(args.name, *args.files, log=say))
    return 0
