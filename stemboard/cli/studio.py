"""``stemboard studio``: the local web mixer."""

from __future__ import annotations

import argparse
import importlib.util

from stemboard.cli import node_options
from stemboard.cli.options import number
from stemboard.cli.output import say
from stemboard.errors import StemboardError


def add(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "studio",
        help="a local web mixer: hear the stems, build effect chains, save presets",
        description=(
            "Start the studio on a local address, print its URL and open it in the browser. "
            "Each FILE is opened and separated in the background; more can be opened or "
            "dropped in the page. Presets and exports go to --out. Needs stemboard[studio]."
        ),
    )
    parser.add_argument("inputs", nargs="*", metavar="FILE", help="audio files to open")
    node_options.add_model(parser)
    node_options.add_device(parser)
    node_options.add_node_options(parser, segments=True)
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="the address to serve on (default 127.0.0.1, this machine only; any other "
        "address lets everyone who reaches it use the studio)",
    )
    parser.add_argument(
        "--port",
        type=number(int, lambda v: 0 <= v <= 65535, "a port in [0, 65535]"),
        default=0,
        help="the port (default 0: any free one)",
    )
    parser.add_argument(
        "--no-browser", action="store_true", help="print the URL, do not open a browser"
    )
    parser.add_argument(
        "-o",
        "--out",
        default="studio-out",
        metavar="DIR",
        help="where saved presets and exports go (default ./studio-out)",
    )
    parser.add_argument(
        "--max-upload-mb",
        type=number(float, lambda v: v > 0, "a size in MB > 0"),
        default=1024,
        metavar="MB",
        help="the largest file the page may upload (default 1024)",
    )
    parser.add_argument(
        "--cache-gb",
        type=number(float, lambda v: v >= 0, "a size in GB >= 0"),
        default=10,
        metavar="GB",
        help="keep the stem cache under this size, removing the stems used longest ago "
        "(default 10; 0 keeps only the open tracks' stems)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    for module in ("starlette", "uvicorn"):
        if importlib.util.find_spec(module) is None:
            raise StemboardError(
                f"stemboard studio needs {module}: pip install 'stemboard[studio]'"
            )
    from stemboard.render import check_destination
    from stemboard.studio.server import serve
    from stemboard.studio.workspace import Studio

    check_destination(args.out)
    studio = Studio(
        node_options.node_opener(args)(node_options.settings(args)),
        out_dir=args.out,
        max_upload_bytes=round(args.max_upload_mb * 1024 * 1024),
        cache_limit_bytes=round(args.cache_gb * 1024**3),
    )
    try:
        for path in args.inputs:
            studio.open_file(path)
    except BaseException:
        studio.close()
        raise
    serve(studio, args.host, args.port, open_browser=not args.no_browser, say=say)
    return 0
