"""The ``stemboard`` command line: user errors become one line on stderr and a non-zero exit.

Exit status: 0 when everything asked for was done, 1 when something failed (each failure one
line ``stemboard: error: ...``), 2 for a usage error, 130 after Ctrl-C and 143 after SIGTERM —
both stop the work cleanly: what was finished stays, what was not leaves no file behind.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import logging
import os
import signal
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from stemboard.choices import BIT_DEPTHS, CLIP_MODES, DEFAULT_CLIP_MODE, DEVICES, PRECISIONS
from stemboard.console import log_to_stderr, printable
from stemboard.errors import DestinationError, InvalidValueError, StemboardError
from stemboard.registry import ARCHITECTURES, BUNDLES
from stemboard.version import __version__

DEFAULT_MODEL = "hdemucs_high_musdb_plus"

log = logging.getLogger("stemboard.cli")  # not __main__ under python -m


def _say(message: str, stream=None) -> None:
    print(printable(message), file=stream or sys.stdout)


def _error(message: object) -> None:
    _say(f"stemboard: error: {message}", sys.stderr)


def _warn(message: object) -> None:
    _say(f"stemboard: warning: {message}", sys.stderr)


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


_positive_float = _number(float, lambda v: 0 < v < float("inf"), "a positive number of seconds")
_overlap = _number(float, lambda v: 0.0 <= v < 1.0, "a fraction in [0, 1)")
_positive_int = _number(int, lambda v: v >= 1, "a positive integer")


def _comma_list(text: str) -> list[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected comma-separated names, e.g. vocals,drums")
    return items


def _add_device(parser: argparse.ArgumentParser, default: str | None = "auto") -> None:
    parser.add_argument(
        "--device", choices=DEVICES, default=default, help=f"where the model runs ({default})"
    )


def _add_external_plugins(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-external-plugins",
        action="store_true",
        help="let presets load VST3/AU plugins (runs native code from their files)",
    )


def _add_clip_mode(parser: argparse.ArgumentParser, default: str | None) -> None:
    parser.add_argument(
        "--clip-mode",
        choices=CLIP_MODES,
        default=default,
        help="samples beyond full scale in formats that cannot hold them: rescale the file "
        "(default, as demucs), clamp them, or none (the encoder clips); a warning says when",
    )


def _shifts(text: str) -> int:
    from stemboard.node.stream import MAX_SHIFTS

    return _number(int, lambda v: 0 <= v <= MAX_SHIFTS, f"an integer from 0 to {MAX_SHIFTS}")(text)


class _Precision(argparse.Action):
    """``--precision``; refused next to the deprecated ``--fp16`` unless it says fp16 too."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        if getattr(namespace, "fp16", False) and values != "fp16":
            parser.error(f"--fp16 (deprecated: --precision fp16) contradicts --precision {values}")
        setattr(namespace, self.dest, values)


class _Fp16Alias(argparse.Action):
    """The deprecated ``--fp16``: ``--precision fp16`` (``args.fp16`` says it was used)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=False, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        if namespace.precision not in (None, "fp16"):
            parser.error(
                "--fp16 (deprecated: --precision fp16) contradicts "
                f"--precision {namespace.precision}"
            )
        namespace.fp16 = True
        namespace.precision = "fp16"


def _add_node_options(
    parser: argparse.ArgumentParser,
    *,
    preset: str | None = None,
    fp16_alias: bool = False,
    seed: bool = True,
) -> None:
    """``--precision``, ``--shifts`` and ``--seed`` of the separator node. Absent, they are
    None (a given option can be told from an absent one): the node's defaults, or where a
    preset sets them what ``preset`` says, with ``{}`` for the node's default (e.g. "the
    preset's, or {} with --stems")."""

    def default(value: object) -> str:
        return f"default {value if preset is None else preset.format(value)}"

    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        action=_Precision,
        help=f"the arithmetic the model runs in ({default('auto')}): auto takes bf16 "
        "on a CPU that computes it natively when the model keeps its quality there, fp32 "
        "otherwise; fp16 is the model's .fp16.onnx variant, for the GPU; int8 is not offered",
    )
    if fp16_alias:
        parser.add_argument(
            "--fp16",
            action=_Fp16Alias,
            help="deprecated: the same as --precision fp16 (removed in the next release)",
        )
    parser.add_argument(
        "--shifts",
        type=_shifts,
        metavar="N",
        help="test-time shifts, as in demucs: N passes, each at a random offset under half a "
        f"second, averaged (N times the work; 0 is one plain pass; {default(0)})",
    )
    if seed:
        parser.add_argument(
            "--seed",
            type=_number(int, lambda v: v >= 0, "an integer >= 0"),
            metavar="N",
            help=f"the seed of the shifts' offsets: the same seed, the same output ({default(0)})",
        )


# -- export ------------------------------------------------------------------------------------


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
    parser.add_argument("--overwrite", action="store_true", help="replace an existing file")
    parser.set_defaults(run=_run_export)


def _run_export(args: argparse.Namespace) -> int:
    from stemboard.models import EXPORT_MODULES

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
        overwrite=args.overwrite,
    )
    return 0


# -- separate and render -----------------------------------------------------------------------


def _add_separate(commands: argparse._SubParsersAction) -> None:
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
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help=f"an exported .onnx file or a known name: demo, {DEFAULT_MODEL} (the default; "
        "exported on first use, needs stemboard[export])",
    )
    _add_device(parser)
    _add_node_options(parser, fp16_alias=True)
    parser.add_argument("--stems", type=_comma_list, help="only these stems, e.g. vocals,drums")
    parser.add_argument("--format", default="wav", help="wav, flac, ogg or mp3 (default wav)")
    parser.add_argument("--bit-depth", type=int, default=16, choices=BIT_DEPTHS, help="default 16")
    _add_clip_mode(parser, DEFAULT_CLIP_MODE)
    parser.add_argument("--overlap", type=_overlap, default=0.25, help="default 0.25")
    parser.add_argument("--batch-size", type=_positive_int, help="segments per run")
    parser.add_argument("--overwrite", action="store_true", help="replace existing stem files")
    parser.set_defaults(run=_run_separate)


class _Progress:
    """A one-line progress bar on a terminal; silent otherwise."""

    def __init__(self, label: str, stream=None):
        self.label = printable(label)
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
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
            self.shown = -1


def _run_separate(args: argparse.Namespace) -> int:
    from stemboard.models import ensure_model
    from stemboard.node import SeparatorNode
    from stemboard.render import OutputFormat, Separation, check_destination

    if args.fp16:
        _warn("--fp16 is deprecated (removed in the next release); use --precision fp16")
    precision = args.precision or "auto"
    format = OutputFormat(args.format, args.bit_depth, clip_mode=args.clip_mode)
    check_destination(args.out)
    ensure_model(args.model, fp16=precision == "fp16")  # a known bundle is exported on first use
    node = SeparatorNode(
        args.model,
        device=args.device,
        overlap=args.overlap,
        batch_size=args.batch_size,
        precision=precision,
        shifts=args.shifts or 0,
        seed=args.seed or 0,
    )
    log.info("%s", node.describe())
    if args.stems:
        unknown = [name for name in args.stems if name not in node.sources]
        if unknown:
            raise InvalidValueError(
                f"unknown stem {unknown[0]!r} in --stems; the model has: {', '.join(node.sources)}"
            )
    job = Separation(node, args.stems, format)
    return _run_job(job, args.inputs, args.out, args.overwrite)


def _add_render(commands: argparse._SubParsersAction) -> None:
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
    parser.add_argument(
        "--model", help="override the preset's model (.onnx file or known name, e.g. demo)"
    )
    _add_device(parser, default=None)
    _add_node_options(parser, preset="the preset's")
    _add_clip_mode(parser, None)
    parser.add_argument("--overwrite", action="store_true", help="replace existing files")
    _add_external_plugins(parser)
    parser.set_defaults(run=_run_render)


def _run_render(args: argparse.Namespace) -> int:
    from stemboard.graph.preset_parse import load_preset_file
    from stemboard.graph.presets import build_graph, find_preset
    from stemboard.models import ensure_model
    from stemboard.render import GraphRender, check_destination

    check_destination(args.out)
    path = find_preset(args.preset)
    preset = load_preset_file(
        path, allow_external=args.allow_external_plugins, check_stems=args.model is None
    )
    preset.model = preset.model.overridden(
        precision=args.precision, shifts=args.shifts, seed=args.seed
    )
    ensure_model(args.model or preset.model.name, fp16=preset.model.fp16)  # exported once
    graph = build_graph(
        preset,
        model=args.model,
        device=args.device,
        allow_external_plugins=args.allow_external_plugins,
    )
    job = GraphRender(graph, clip_mode=args.clip_mode)
    return _run_job(job, args.inputs, args.out, args.overwrite)


def _run_job(job, inputs: Sequence[str], out: str, overwrite: bool) -> int:
    """Plan every input (refusing the whole set before any work), then render each; a bad
    input is one line and the others go on. Prints each input's files as they are written."""
    tracks = job.plan(inputs, out, overwrite=overwrite)
    failed = 0
    for index, track in enumerate(tracks, 1):
        progress = _Progress(f"[{index}/{len(tracks)}] {track.input}")
        try:
            written = job.run(track, progress=progress)
        except StemboardError as error:
            progress.close()
            failed += 1
            _error(error)
            continue
        finally:
            progress.close()
        _say(f"{track.input}: " + ", ".join(str(p) for p in written.values()))
    if failed:
        _say(f"stemboard: {failed} of {len(tracks)} inputs failed", sys.stderr)
        return 1
    return 0


# -- batch -------------------------------------------------------------------------------------


def _add_batch(commands: argparse._SubParsersAction) -> None:
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
    _add_device(parser)
    _add_node_options(parser, preset="the preset's, or {} with --stems")
    parser.add_argument("--engine", choices=("local", "ray"), default="local")
    parser.add_argument("--address", help="the Ray cluster to join (auto: a running one)")
    parser.add_argument(
        "--workers",
        type=_positive_int,
        help="default: one per GPU; on the CPU one per core, as memory allows (2 GiB each)",
    )
    parser.add_argument(
        "--gpus-per-worker",
        type=_number(float, lambda v: 0 <= v <= 64, "a number of GPUs >= 0"),
        help="Ray: GPUs each worker asks for (default 1 with --device cuda)",
    )
    parser.add_argument(
        "--retries",
        type=_number(int, lambda v: v >= 0, "0 or more"),
        default=2,
        help="attempts after a worker dies mid-track (default 2)",
    )
    parser.add_argument("--format", help="wav, flac, ogg or mp3 (overrides a preset's)")
    parser.add_argument("--bit-depth", type=int, choices=BIT_DEPTHS)
    _add_clip_mode(parser, None)
    parser.add_argument("--report", metavar="FILE", help="also write the report as JSON")
    parser.add_argument("--overwrite", action="store_true", help="render every track again")
    _add_external_plugins(parser)
    parser.set_defaults(run=_run_batch)


def _stem_choice(text: str) -> str | list[str]:
    return "all" if text.strip() == "all" else _comma_list(text)


def _run_batch(args: argparse.Namespace) -> int:
    from stemboard.batch.ledger import Ledger
    from stemboard.batch.runner import execute, plan_batch

    try:
        if args.report:
            _check_file_destination("--report", Path(args.report))
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
            precision=args.precision,
            shifts=args.shifts,
            seed=args.seed,
            engine=args.engine,
            address=args.address,
            workers=args.workers,
            gpus_per_worker=args.gpus_per_worker,
            retries=args.retries,
            format=args.format,
            bit_depth=args.bit_depth,
            clip_mode=args.clip_mode,
            overwrite=args.overwrite,
            allow_external_plugins=args.allow_external_plugins,
            log=lambda line: _say(line, sys.stderr),
        )
    except StemboardError as error:
        _error(error)
        return 2
    progress = _Progress(f"batch of {len(plan.tracks)}")
    with Ledger.open(args.out) as ledger:
        report = execute(plan, ledger, progress=_batch_progress(progress))
    progress.close()
    print(report.table())
    if args.report:
        _say(f"wrote {report.write_json(args.report)}")
    if report.interrupted == "SIGINT":
        return 130
    if report.interrupted == "SIGTERM":
        return 143
    return 0 if report.ok else 1


def _batch_progress(bar: _Progress) -> Callable:
    def show(progress) -> None:
        if bar.enabled:
            bar.stream.write(f"\r{progress.line():<100}")
            bar.stream.flush()
            bar.shown = 0

    return show


# -- presets -----------------------------------------------------------------------------------


def _add_presets(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("presets", help="list, show or validate presets")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="the shipped presets").set_defaults(run=_run_presets_list)
    show = actions.add_parser("show", help="print a preset file or a shipped preset")
    show.add_argument("name", metavar="NAME")
    show.set_defaults(run=_run_presets_show)
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
    validate.set_defaults(run=_run_presets_validate)
    for action in actions.choices.values():
        _add_verbose(action)


def _run_presets_list(args: argparse.Namespace) -> int:
    from stemboard.graph.preset_parse import load_preset_file
    from stemboard.graph.presets import shipped_presets

    for path in shipped_presets():
        preset = load_preset_file(path)
        _say(f"{path.stem:<28} {preset.description}")
    return 0


def _run_presets_show(args: argparse.Namespace) -> int:
    from stemboard.graph.preset_yaml import read_text
    from stemboard.graph.presets import find_preset

    print(read_text(find_preset(args.name)), end="")
    return 0


def _run_presets_validate(args: argparse.Namespace) -> int:
    from stemboard.graph.preset_parse import load_preset_file
    from stemboard.registry import known_sources

    sources = None
    if args.model is not None:
        sources = known_sources(args.model)  # a known name: from its record, nothing opened
    if args.model is not None and sources is None:  # a file: its metadata, not the model
        from stemboard.model_format import ModelInfo, read_file_metadata
        from stemboard.registry import model_path

        path = model_path(args.model)
        sources = ModelInfo.from_metadata(read_file_metadata(path), str(path)).sources
    failed = 0
    for path in args.files:
        try:
            load_preset_file(path, sources=sources, allow_external=args.allow_external_plugins)
        except StemboardError as error:
            failed += 1
            _error(error)
        else:
            _say(f"{path}: ok")
    return 1 if failed else 0


# -- evaluate ----------------------------------------------------------------------------------


def _check_file_destination(option: str, file: Path) -> None:
    """Refuse ``file`` as an output before any work: a folder, or in a folder that is missing
    or cannot be written (tried, not guessed)."""
    from stemboard.render import check_destination

    if file.is_dir():
        raise DestinationError(f"{option} {file}: is a folder, not a file")
    folder = file.parent
    if not folder.is_dir():
        raise DestinationError(f"{option} {file}: the folder {folder} does not exist")
    try:
        check_destination(folder)
    except DestinationError as error:
        raise DestinationError(f"{option} {file}: {error}") from None


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
    from stemboard.render import check_destination

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
        _check_file_destination("--json", Path(args.json))
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
        _say(f"note: {note}")
    if args.json:
        _say(f"wrote {result.write_json(args.json)}")
    if args.plot:
        from stemboard.evaluation import plot_spectrograms

        written = plot_spectrograms(result, args.plot)
        _say(f"wrote {len(written)} spectrograms to {args.plot}")
    return 0


# -- demo --------------------------------------------------------------------------------------


def _add_demo(commands: argparse._SubParsersAction) -> None:
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
    parser.add_argument("--seed", type=int, help="a test-split song seed (default the first)")
    parser.add_argument(
        "--seconds", type=_positive_float, default=30.0, help="song length (default 30, max 600)"
    )
    parser.add_argument(
        "--preset", default="karaoke", help="the preset to render (default karaoke)"
    )
    _add_device(parser)
    _add_node_options(parser, seed=False)  # --seed is the song's
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
        precision=args.precision or "auto",
        shifts=args.shifts or 0,
        overwrite=args.overwrite,
    )
    total = sum(result.seconds.values())
    _say(f"\nwrote to {result.out_dir}/ in {total:.0f} s:")
    _say(f"  {result.song.name:<22} the generated song (reference stems in reference/)")
    for name, path in {**result.stems, **result.rendered}.items():
        _say(f"  {os.path.relpath(path, result.out_dir):<22} {name}")
    _say(f"  {'plots/':<22} spectrograms, reference above estimate")
    _say(f"  {result.report.name:<22} the scores")
    return 0


# -- the command -------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        self.print_usage(sys.stderr)
        self.exit(2, printable(f"{self.prog}: error: {message}\n"))


# -- studio ------------------------------------------------------------------------------------


def _add_studio(commands: argparse._SubParsersAction) -> None:
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
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help=f"an exported .onnx file or a known name: demo, {DEFAULT_MODEL} (the default)",
    )
    _add_device(parser)
    _add_node_options(parser)
    parser.add_argument("--overlap", type=_overlap, default=0.25, help="default 0.25")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="the address to serve on (default 127.0.0.1, this machine only; any other "
        "address lets everyone who reaches it use the studio)",
    )
    parser.add_argument(
        "--port",
        type=_number(int, lambda v: 0 <= v <= 65535, "a port in [0, 65535]"),
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
        type=_number(float, lambda v: v > 0, "a size in MB > 0"),
        default=1024,
        metavar="MB",
        help="the largest file the page may upload (default 1024)",
    )
    parser.add_argument(
        "--cache-gb",
        type=_number(float, lambda v: v >= 0, "a size in GB >= 0"),
        default=10,
        metavar="GB",
        help="keep the stem cache under this size, removing the stems used longest ago "
        "(default 10; 0 keeps only the open tracks' stems)",
    )
    parser.set_defaults(run=_run_studio)


def _run_studio(args: argparse.Namespace) -> int:
    for module in ("starlette", "uvicorn"):
        if importlib.util.find_spec(module) is None:
            raise StemboardError(
                f"stemboard studio needs {module}: pip install 'stemboard[studio]'"
            )
    from stemboard.models import ensure_model
    from stemboard.render import check_destination
    from stemboard.studio.server import serve
    from stemboard.studio.workspace import Studio

    check_destination(args.out)
    ensure_model(args.model, fp16=args.precision == "fp16")
    studio = Studio(
        args.model,
        device=args.device,
        precision=args.precision or "auto",
        overlap=args.overlap,
        shifts=args.shifts or 0,
        seed=args.seed or 0,
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
    serve(studio, args.host, args.port, open_browser=not args.no_browser, say=_say)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="stemboard", description="Hybrid Demucs source separation as a processing node."
    )
    parser.add_argument("--version", action="version", version=f"stemboard {__version__}")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )
    _add_export(commands)
    _add_separate(commands)
    _add_render(commands)
    _add_batch(commands)
    _add_presets(commands)
    _add_evaluate(commands)
    _add_demo(commands)
    _add_studio(commands)
    _add_verbose(parser, default=False)
    for command in commands.choices.values():
        _add_verbose(command)
    return parser


def _add_verbose(parser: argparse.ArgumentParser, default: object = argparse.SUPPRESS) -> None:
    """``-v``, before the command or after it (there it is SUPPRESSed when absent, so that
    it does not undo a ``-v`` given before)."""
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=default,
        help="say what runs each model and why (runtime, precision, device, threads) and "
        "what the runtimes find, on stderr",
    )


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that every ``with`` block cleans up as for
    Ctrl-C."""


@contextlib.contextmanager
def _signals_as_exceptions() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` (SIGINT already raises ``KeyboardInterrupt``)."""

    def terminate(number: int, frame: object) -> None:
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, terminate)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _one_line_warnings(message, category, filename, lineno, file=None, line=None) -> None:
    _warn(message)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    with _signals_as_exceptions(), warnings.catch_warnings(), log_to_stderr(args.verbose):
        warnings.showwarning = _one_line_warnings
        try:
            return run(args)
        except StemboardError as error:
            _error(error)
            return 1
        except OSError as error:  # the machine's, not ours: a full disk, a vanished folder
            where = f"{error.filename}: " if error.filename else ""
            _error(f"{where}{error.strerror or error}")
            return 1
        except MemoryError:
            _error("out of memory")
            return 1
        except KeyboardInterrupt:
            _say(
                "stemboard: interrupted; finished files are kept, unfinished ones removed",
                sys.stderr,
            )
            return 130
        except Terminated:
            _say(
                "stemboard: terminated; finished files are kept, unfinished ones removed",
                sys.stderr,
            )
            return 143


if __name__ == "__main__":
    sys.exit(main())
