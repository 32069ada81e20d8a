"""The ``stemboard`` command line: user errors become one line on stderr and a non-zero exit."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from stemboard import __version__
from stemboard.errors import StemboardError
from stemboard.registry import ARCHITECTURES, BUNDLES

EXPORT_MODULES = ("torch", "torchaudio", "onnx", "onnxscript")


def _number(convert, accept, expected: str):
    """An argparse ``type``: ``convert`` the text, keep it if ``accept(value)``, else say so."""

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


_positive_float = _number(float, lambda v: v > 0, "a positive number of seconds")
_overlap = _number(float, lambda v: 0.0 <= v < 1.0, "a fraction in [0, 1)")
_positive_int = _number(int, lambda v: v >= 1, "a positive integer")


def _add_export(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "export",
        help="export an HDemucs to ONNX",
        description=(
            "Export torchaudio's HDemucs to one ONNX graph (mix [batch, 2, samples] -> "
            "stems [batch, sources, 2, samples]) and verify it against PyTorch. "
            "Needs the export extra: pip install 'stemboard[export]'."
        ),
    )
    parser.add_argument("--out", required=True, help="the .onnx file to write")
    source = parser.add_argument_group("weights (exactly one source)")
    source.add_argument(
        "--bundle", choices=sorted(BUNDLES), help="torchaudio's pretrained bundle (downloaded once)"
    )
    source.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="a state_dict saved with torch.save (architecture: --config, default high)",
    )
    source.add_argument(
        "--config",
        choices=sorted(ARCHITECTURES),
        help="alone: random weights of this architecture; with --checkpoint: its architecture",
    )
    source.add_argument("--seed", type=int, help="seed for random weights (default 0)")
    parser.add_argument(
        "--segment",
        type=_positive_float,
        default=10.0,
        metavar="SECONDS",
        help="segment length baked into the graph (default 10; rounded to 2048-sample steps)",
    )
    parser.add_argument(
        "--fp16", action="store_true", help="also write a float16 variant <out>.fp16.onnx"
    )
    parser.add_argument(
        "--no-verify", action="store_true", help="skip the onnxruntime-vs-PyTorch check"
    )
    parser.set_defaults(run=_run_export)


def _run_export(args: argparse.Namespace) -> int:
    try:
        from stemboard.export import export_hdemucs
    except ModuleNotFoundError as error:
        if error.name not in EXPORT_MODULES:
            raise
        raise StemboardError(
            f"stemboard export needs torch and torchaudio ({error}); "
            "install them with: pip install 'stemboard[export]'"
        ) from None
    export_hdemucs(
        args.out,
        bundle=args.bundle,
        checkpoint=args.checkpoint,
        config=args.config,
        seed=args.seed,
        segment=args.segment,
        fp16=args.fp16,
        verify=not args.no_verify,
    )
    return 0


def _comma_list(text: str) -> list[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected comma-separated names, e.g. vocals,drums")
    return items


def _add_separate(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "separate",
        help="separate audio files into stems",
        description="Separate each INPUT into DIR/<track>/<stem>.<format>.",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files")
    parser.add_argument("-o", "--out", required=True, metavar="DIR", help="output directory")
    parser.add_argument(
        "--model",
        default="hdemucs_high_musdb_plus",
        help="an exported .onnx file or a known name (default hdemucs_high_musdb_plus)",
    )
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--fp16", action="store_true", help="use the model's .fp16.onnx variant")
    parser.add_argument("--stems", type=_comma_list, help="only these stems, e.g. vocals,drums")
    parser.add_argument("--format", default="wav", help="wav, flac, ogg or mp3 (default wav)")
    parser.add_argument(
        "--bit-depth", type=int, default=16, choices=(16, 24, 32), help="default 16"
    )
    parser.add_argument("--overlap", type=_overlap, default=0.25, help="default 0.25")
    parser.add_argument("--batch-size", type=_positive_int, help="segments per run")
    parser.add_argument("--overwrite", action="store_true", help="replace existing stem files")
    parser.set_defaults(run=_run_separate)


class _Progress:
    """A one-line progress bar on a terminal; silent otherwise."""

    def __init__(self, label: str, stream=sys.stderr):
        self.label = label
        self.stream = stream
        self.enabled = stream.isatty()
        self.shown = -1

    def __call__(self, fraction: float) -> None:
        percent = int(100 * fraction)
        if self.enabled and percent != self.shown:
            self.shown = percent
            bar = "#" * (percent // 4)
            self.stream.write(f"\r{self.label} [{bar:<25}] {percent:3d}%")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.shown >= 0:
            self.stream.write("\n")
            self.stream.flush()


def _run_separate(args: argparse.Namespace) -> int:
    from stemboard import io
    from stemboard.node import SeparatorNode

    io.check_output_format(args.format, args.bit_depth)
    node = SeparatorNode(
        args.model,
        device=args.device,
        overlap=args.overlap,
        batch_size=args.batch_size,
        fp16=args.fp16,
    )
    if args.stems:
        unknown = [name for name in args.stems if name not in node.sources]
        if unknown:
            raise StemboardError(
                f"unknown stem {unknown[0]!r} in --stems; the model has: {', '.join(node.sources)}"
            )

    def separate(path: str, progress: _Progress) -> dict:
        return node.separate_file(
            path,
            args.out,
            stems=args.stems,
            format=args.format,
            bit_depth=args.bit_depth,
            overwrite=args.overwrite,
            progress=progress,
        )

    return _each_input(args.inputs, separate)


def _add_render(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "render",
        help="render audio files through a preset",
        description="Render each INPUT through PRESET (a file or a shipped preset) into DIR.",
    )
    parser.add_argument("preset", metavar="PRESET")
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files")
    parser.add_argument("-o", "--out", required=True, metavar="DIR", help="output directory")
    parser.add_argument("--model", help="override the preset's model (.onnx file or known name)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--overwrite", action="store_true", help="replace existing files")
    parser.add_argument(
        "--allow-external-plugins",
        action="store_true",
        help="let the preset load VST3/AU plugins (runs native code from their files)",
    )
    parser.set_defaults(run=_run_render)


def _run_render(args: argparse.Namespace) -> int:
    from stemboard.graph import load_preset, render_file

    graph = load_preset(
        args.preset,
        model=args.model,
        device=args.device,
        allow_external_plugins=args.allow_external_plugins,
    )

    def render(path: str, progress: _Progress) -> dict:
        return render_file(graph, path, args.out, overwrite=args.overwrite, progress=progress)

    return _each_input(args.inputs, render)


def _each_input(inputs: Sequence[str], work) -> int:
    """Run ``work(path, progress)`` on every input; report failures in one line each."""
    failed = 0
    for index, path in enumerate(inputs, 1):
        progress = _Progress(f"[{index}/{len(inputs)}] {path}")
        try:
            written = work(path, progress)
        except StemboardError as error:
            progress.close()
            failed += 1
            print(f"stemboard: error: {error}", file=sys.stderr)
            continue
        progress.close()
        print(f"{path}: " + ", ".join(str(p) for p in written.values()))
    if failed:
        print(f"stemboard: {failed} of {len(inputs)} inputs failed", file=sys.stderr)
        return 1
    return 0


def _add_presets(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("presets", help="list, show or validate presets")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="the shipped presets").set_defaults(run=_run_presets_list)
    show = actions.add_parser("show", help="print a preset file")
    show.add_argument("name", metavar="NAME")
    show.set_defaults(run=_run_presets_show)
    validate = actions.add_parser("validate", help="check preset files")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.add_argument("--allow-external-plugins", action="store_true")
    validate.set_defaults(run=_run_presets_validate)


def _run_presets_list(args: argparse.Namespace) -> int:
    from stemboard.graph import PRESETS_DIR, load_preset_file

    for path in sorted(PRESETS_DIR.glob("*.yaml")):
        preset = load_preset_file(path)
        print(f"{path.stem:<28} {preset.description}")
    return 0


def _run_presets_show(args: argparse.Namespace) -> int:
    from stemboard.graph import find_preset

    print(find_preset(args.name).read_text(encoding="utf-8"), end="")
    return 0


def _run_presets_validate(args: argparse.Namespace) -> int:
    from stemboard.graph import load_preset_file

    failed = 0
    for path in args.files:
        try:
            load_preset_file(path, allow_external=args.allow_external_plugins)
        except StemboardError as error:
            failed += 1
            print(f"stemboard: error: {error}", file=sys.stderr)
        else:
            print(f"{path}: ok")
    return 1 if failed else 0


def _check_can_write(option: str, folder: Path, file: Path | None = None) -> None:
    """Refuse ``folder`` (to be created if missing) or ``file`` in it if they cannot be written."""
    if file is not None and file.is_dir():
        raise StemboardError(f"{option} {file}: is a folder, not a file")
    if file is not None and not folder.is_dir():
        raise StemboardError(f"{option} {file}: the folder {folder} does not exist")
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise StemboardError(f"{option} {folder}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise StemboardError(f"{option} {folder}: {existing} is not writable")


def _add_evaluate(commands: argparse._SubParsersAction) -> None:
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
    parser.set_defaults(run=_run_evaluate)


def _run_evaluate(args: argparse.Namespace) -> int:
    from stemboard.evaluation import evaluate_folders

    segment = None
    if args.segment is not None:
        try:
            segment = (float(args.segment[0]), float(args.segment[1]))
        except ValueError:
            raise StemboardError(
                f"--segment expects two numbers of seconds, got {' '.join(args.segment)!r}"
            ) from None
    # Everything that can be refused is refused before the (slow) scoring and the table.
    if args.json:
        _check_can_write("--json", Path(args.json).parent, Path(args.json))
    if args.plot:
        try:
            import matplotlib  # noqa: F401  (drawn lazily; fail before any file is written)
        except ModuleNotFoundError:
            raise StemboardError(
                "--plot needs matplotlib; install it with: pip install 'matplotlib>=3.7'"
            ) from None
        _check_can_write("--plot", Path(args.plot))
    result = evaluate_folders(args.reference, args.estimate, segment=segment)
    print(result.table())
    for note in result.notes:
        print(f"note: {note}")
    if args.json:
        print(f"wrote {result.write_json(args.json)}")
    if args.plot:
        from stemboard.evaluation import plot_spectrograms

        written = plot_spectrograms(result, args.plot)
        print(f"wrote {len(written)} spectrograms to {args.plot}")
    return 0


def _add_demo(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "demo",
        help="generate a song, separate it with the demo model, render and score it",
        description=(
            "Offline, in one go: generate a song of the synthetic test split, separate it with "
            "the packaged demo model, render a preset on it, score the stems against the "
            "generated ones and write everything (song, stems, render, plots, sdr.json) to DIR."
        ),
    )
    parser.add_argument(
        "-o", "--out", default="stemboard-demo", metavar="DIR", help="default ./stemboard-demo"
    )
    parser.add_argument("--seed", type=int, help="a test-split song seed (default the first)")
    parser.add_argument(
        "--seconds", type=_positive_float, default=30.0, help="song length (default 30)"
    )
    parser.add_argument(
        "--preset", default="karaoke", help="the preset to render (default karaoke)"
    )
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier demo in DIR")
    parser.set_defaults(run=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    from stemboard.demo import DEFAULT_SEED, run_demo

    result = run_demo(
        args.out,
        seed=DEFAULT_SEED if args.seed is None else args.seed,
        seconds=args.seconds,
        preset=args.preset,
        device=args.device,
        overwrite=args.overwrite,
    )
    total = sum(result.seconds.values())
    print(f"\nwrote to {result.out_dir}/ in {total:.0f} s:")
    print(f"  {result.song.name:<22} the generated song (reference stems in reference/)")
    for name, path in {**result.stems, **result.rendered}.items():
        print(f"  {os.path.relpath(path, result.out_dir):<22} {name}")
    print(f"  {'plots/':<22} spectrograms, reference above estimate")
    print(f"  {result.report.name:<22} the scores")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stemboard", description="Hybrid Demucs source separation as a processing node."
    )
    parser.add_argument("--version", action="version", version=f"stemboard {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_export(commands)
    _add_separate(commands)
    _add_render(commands)
    _add_presets(commands)
    _add_evaluate(commands)
    _add_demo(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except StemboardError as error:
        print(f"stemboard: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stemboard: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
