"""``stemboard evaluate``: score separated stems against reference stems."""

from __future__ import annotations

import argparse

from stemboard.cli.output import say
from stemboard.errors import InvalidValueError, StemboardError


def add(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "evaluate",
        help="score separated stems against reference stems",
        description=(
            "Score the stems in the --estimate folder (<stem>.<format>, as `stemboard separate` "
            "writes them) against those in the --reference folder (<stem>.<format>, optionally "
            "mixture.<format>): BSS Eval SDR as the torchaudio tutorial computes it, the MDX "
            "challenge SDR and SI-SDR, per stem and averaged."
        ),
    )
    parser.add_argument("--reference", required=True, metavar="DIR", help="reference stems")
    parser.add_argument("--estimate", required=True, metavar="DIR", help="separated stems")
    parser.add_argument(
        "--segment",
        nargs=2,
        metavar=("START", "END"),
        help="only this window, in seconds (the tutorial uses 150 155)",
    )
    parser.add_argument(
        "--plot", metavar="DIR", help="write spectrograms <stem>.png and mixture.png here"
    )
    parser.add_argument("--json", metavar="FILE", help="write the scores as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from stemboard.evaluation import evaluate_folders
    from stemboard.render import check_destination, check_file_destination

    segment = None
    if args.segment is not None:
        try:
            segment = (float(args.segment[0]), float(args.segment[1]))
        except ValueError:
            raise InvalidValueError(
                f"--segment expects two numbers of seconds, got {' '.join(args.segment)!r}"
            ) from None
    # Everything that can be refused is refused before the (slow) scoring and the table.
    if args.json:
        check_file_destination("--json", args.json)
    if args.plot:
        try:
            import matplotlib  # noqa: F401  (drawn lazily; fail before any file is written)
        except ModuleNotFoundError:
            raise StemboardError(
                "--plot needs matplotlib; install it with: pip install 'matplotlib>=3.7'"
            ) from None
        check_destination(args.plot)
    result = evaluate_folders(args.reference, args.estimate, segment=segment)
    print(result.table())
    for note in result.notes:
        say(f"note: {note}")
    if args.json:
        say(f"wrote {result.write_json(args.json)}")
    if args.plot:
        from stemboard.evaluation import plot_spectrograms

        written = plot_spectrograms(result, args.plot)
        say(f"wrote {len(written)} spectrograms to {args.plot}")
    return 0
