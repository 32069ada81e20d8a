"""Every check the GPU machine must show (shared/gpu.md), for each model configuration, in one run.

How to run it on the GPU machine (Python 3.12, torch with CUDA; onnxruntime-gpu and pedalboard
installed from the wheels carried there, as shared/gpu.md shows, and for the demucs v4 configs
the pure-Python wheels of demucs 4.1.0, einops and julius, installed with ``--no-deps``)::

    export PYTHONPATH=/tmp/site:$PWD      # the carried wheels, then this checkout
    python3 benchmarks/gpu_check.py                              # configs high,htdemucs
    python3 benchmarks/gpu_check.py --configs high --seconds 120 --batch-sizes 1,4,8,16
    python3 benchmarks/gpu_check.py --model-dir /tmp/models      # keep the exports for a rerun

Most of a first run is exporting (torch on the machine's CPU, a minute or more per
configuration); with ``--model-dir`` a rerun on the same machine skips that.

and on any machine, to prove the script still works (the CPU provider, the `tiny` config,
6 s of audio, batch sizes 1 and 2; tests/test_gpu_check.py runs this)::

    python benchmarks/gpu_check.py --dry-run

Before anything else it checks that what it needs is importable (torch, torchaudio, onnx,
onnxscript, onnxruntime, pedalboard) and, on the GPU, that torch sees CUDA and that onnxruntime
has its CUDA provider; whatever is missing is listed and it exits with 2. Each configuration
(``--configs``, names in stemboard's registry) gets random weights from ``--seed``:
``build_model`` gives the PyTorch model and ``export_hdemucs`` the fp32 and fp16 graphs of the
same weights (unverified: the checks below are the verification). With ``--model-dir`` the
graphs are read from ``DIR/<config>.onnx`` and ``DIR/<config>.fp16.onnx`` when both are there
(they must hold the same seed's weights, or the parity rows fail) and exported there otherwise;
without it they go to a temporary folder. A configuration that
cannot be built (an unknown name, a package it needs, such as ``demucs``, not installed) or
exported becomes a ``setup`` row saying why, and the others still run. Nothing is downloaded.

Then, on the same music-like audio (``--seconds``), one table, a row per measurement:

- ``provider``: the fp32 and fp16 nodes' ``session.get_providers()`` after the session is made;
  the first must be CUDAExecutionProvider (onnxruntime falls back to the CPU silently when a
  CUDA library is missing).
- ``io binding``: whether the node binds its buffers on the GPU by default, and the fp32 node
  with binding off (``session.run``) and on (``run_with_iobinding``, counted), the speed-up of
  on over off and the SNR between them.
- ``node vs torch``: the PyTorch model on the same device through the node's own overlap-add
  (same segments, overlap and batch) with torch's default arithmetic, the torchaudio
  tutorial's pipeline (``node_speed.separate_sources``: 10 s segments, or for a layout that
  runs at one length, HTDemucs, chunks that fit it; timing only, its segmentation is another),
  and the fp32 and fp16 nodes. Speed-up is against the first row; SNR is against
  the torch overlap-add run in strict fp32 (TF32 off), the reference.
- ``fp16 parity``: the fp16 graph against the fp32 graph, both on the node, SNR per stem.
- ``batch size``: the fp32 node at each of ``--batch-sizes``; speed-up against the first, SNR
  against the node's default batch.

Seconds are the median of ``--repeats`` runs after a warm-up, × realtime is audio seconds per
second. Gates: 40 dB per stem (the node's quality gate) for fp32 against fp32, 30 dB (the
exporter's fp16 gate) for fp16. The exit code is 0 when every check passed, 1 when one failed
(its row says ``FAIL`` or ``MISSING``), 2 when the environment lacks something.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from stemboard.node.backend import Choice, Session, available

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
NEEDED = ("torch", "torchaudio", "onnx", "onnxscript", "onnxruntime", "pedalboard")


@dataclass(frozen=True)
class Plan:
    """What one run checks, and where."""

    device: str  # "cuda", or "cpu" for the dry run
    configs: tuple[str, ...]
    seconds: float
    batch_sizes: tuple[int, ...]
    repeats: int
    seed: int
    segment: float | None  # seconds; None: the exporter's default
    model_dir: Path | None
    fp32_gate: float = 0.0  # dB per stem, set by with_gates()
    fp16_gate: float = 0.0

    def with_gates(self) -> Plan:
        """The plan with stemboard's gates (their modules import torch: after the preflight)."""
        from stemboard.export.exporter import FP16_MIN_SNR_DB
        from stemboard.node.openvino_session import QUALITY_GATE_DB

        return dataclasses.replace(self, fp32_gate=QUALITY_GATE_DB, fp16_gate=FP16_MIN_SNR_DB)

    @property
    def provider(self) -> str:
        """The onnxruntime provider every session must run on."""
        return CUDA if self.device == "cuda" else CPU


@dataclass
class Row:
    """One line of the table. ``result``: ``ok``, ``FAIL: why``, ``MISSING: what`` or a note."""

    config: str
    check: str
    variant: str
    seconds: float | None = None
    speed_up: float | None = None
    snr: list[float] | None = None
    result: str = ""

    @property
    def failed(self) -> bool:
        return self.result.startswith(("FAIL", "MISSING"))


def gated(snr: list[float], gate: float) -> str:
    """``ok`` when every stem reaches ``gate`` dB, else the weakest stem's SNR."""
    worst = min(snr)
    return "ok" if worst >= gate else f"FAIL: {worst:.1f} dB < {gate:g} dB gate"


def measure(run: Callable[[], np.ndarray], repeats: int) -> tuple[float, np.ndarray]:
    """Median seconds of ``repeats`` runs after a warm-up, and the warm-up's output."""
    output = run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times), output


class TorchSession(Session):
    """The PyTorch model behind the node's session interface, so that it runs through the
    node's own overlap-add: ``[batch, 2, segment]`` -> ``[batch, sources, 2, segment]``."""

    backend = "torch"

    def __init__(self, model, info, device: str):
        super().__init__(Path(f"torch-{info.model}"), info, Choice("torch", device, "fp32", 1))
        self.model = model

    def run_now(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            stems = self.model(torch.from_numpy(batch).to(self.device))
        return stems.float().cpu().numpy()


def torch_separate(session: TorchSession, audio: np.ndarray, overlap: float, batch_size: int):
    """``audio [2, n]`` -> ``[sources, 2, n]`` as the node separates it, with torch running."""
    from stemboard.node.contracts import whole
    from stemboard.node.stream import Normalisation, SeparationStream

    stream = SeparationStream(
        session,
        session.info.sample_rate,
        overlap=overlap,
        batch_size=batch_size,
        channels=len(audio),
        normalisation=Normalisation.of(audio),
    )
    return whole(stream, audio)


@contextmanager
def strict_fp32() -> Iterator[None]:
    """torch in IEEE fp32: no TF32 in matrix products or convolutions (by default torch lets
    cuDNN's convolutions use TF32)."""
    import torch

    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@contextmanager
def binding(session, device: str | None) -> Iterator[dict[str, int]]:
    """``session`` with IO binding on ``device`` (None: off), counting how the onnxruntime
    session is called (``run``, ``run_with_iobinding``); restored afterwards."""
    ort = session.session
    calls = {"run": 0, "run_with_iobinding": 0}

    def counted(name: str):
        method = getattr(ort, name)

        def call(*args, **kwargs):
            calls[name] += 1
            return method(*args, **kwargs)

        return call

    saved = session.binding_device
    session.binding_device = device
    for name in calls:
        setattr(ort, name, counted(name))
    try:
        yield calls
    finally:
        for name in calls:
            delattr(ort, name)
        session.binding_device = saved


def missing_module(error: BaseException) -> str | None:
    """The module whose absence caused ``error`` (directly, or as the error it replaced)."""
    for cause in (error, error.__cause__, error.__context__):
        if isinstance(cause, ModuleNotFoundError):
            return cause.name
    return None


def first_line(error: BaseException) -> str:
    """The error's type and the first line of its message."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def missing_requirements(plan: Plan) -> list[str]:
    """What this run needs and this machine lacks, one line each."""
    missing = [
        f"Python package {name!r} is not installed" for name in NEEDED if not available(name)
    ]
    if missing or plan.device != "cuda":
        return missing
    import onnxruntime
    import torch

    if not torch.cuda.is_available():
        missing.append(f"torch {torch.__version__} sees no CUDA GPU (a CPU build, or no driver)")
    if CUDA not in onnxruntime.get_available_providers():
        missing.append(
            f"onnxruntime {onnxruntime.__version__} has no {CUDA} (the CPU build: install the "
            "onnxruntime-gpu wheel instead, shared/gpu.md)"
        )
    return missing


def device_lines(plan: Plan) -> list[str]:
    """The device, and the versions that run on it."""
    import onnxruntime
    import torch

    versions = (
        f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, "
        f"Python {platform.python_version()}"
    )
    if plan.device != "cuda":
        return [f"device: the CPU ({cpu_name()}) -- dry run on {CPU}", versions]
    cuda = f"CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}"
    lines = [f"device: {torch.cuda.get_device_name(0)} ({cuda}) -- {versions}"]
    try:
        smi = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if smi.returncode == 0 and smi.stdout.strip():
            lines.append(f"nvidia-smi: {smi.stdout.strip().splitlines()[0]}")
    except (OSError, subprocess.TimeoutExpired):
        pass
    return lines


def cpu_name() -> str:
    try:
        rows = Path("/proc/cpuinfo").read_text().splitlines()
        return next(r.partition(":")[2].strip() for r in rows if r.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def model_files(config: str, plan: Plan, scratch: Path) -> tuple[Path, str]:
    """The fp32 graph of ``config`` (its fp16 variant beside it), and where it came from."""
    from stemboard.export import export_hdemucs
    from stemboard.model_format import ModelInfo, fp16_path_for, read_file_metadata

    folder = plan.model_dir or scratch
    path = folder / f"{config}.onnx"
    if path.is_file() and fp16_path_for(path).is_file():
        info = ModelInfo.from_metadata(read_file_metadata(path), str(path))
        declared = info.extra.get("architecture", config)
        if declared != config:
            raise ValueError(f"{path} holds the {declared!r} architecture, not {config!r}")
        return path, f"{path} (given; weights {info.extra.get('weights', 'unknown')})"
    folder.mkdir(parents=True, exist_ok=True)
    print(f"exporting {config} (seed {plan.seed}) with its fp16 variant", file=sys.stderr)
    segment = None if fixed_length(config) else plan.segment
    started = time.perf_counter()
    export_hdemucs(
        path,
        config=config,
        seed=plan.seed,
        fp16=True,
        verify=False,
        overwrite=True,
        log=lambda _: None,
        **({} if segment is None else {"segment": segment}),
    )
    return path, f"{path} (exported in {time.perf_counter() - started:.0f} s)"


def check_config(config: str, plan: Plan, scratch: Path) -> tuple[list[Row], list[str]]:
    """Every check of one configuration: its rows, and lines describing it."""
    from stemboard.export import build_model

    try:
        model = build_model(config, plan.seed)
        path, origin = model_files(config, plan, scratch)
    except Exception as error:
        module = missing_module(error)
        if module:
            why = f"MISSING: Python package {module!r} ({first_line(error)})"
        else:
            if not isinstance(error, ValueError):  # not a user's error: show where
                traceback.print_exc()
            why = f"FAIL: {first_line(error)}"
        return [Row(config, "setup", "build and export", result=why)], []
    checks = ConfigChecks(config, plan, model, path)
    try:
        checks.run()
    except Exception as error:  # an unexpected one: say where, keep the rows so far
        traceback.print_exc()
        checks.rows.append(
            Row(config, "error", "the checks stopped", result=f"FAIL: {first_line(error)}")
        )
    return checks.rows, [f"{config}: {origin}", *checks.notes]


class ConfigChecks:
    """The checks of one configuration, in the order of the table."""

    def __init__(self, config: str, plan: Plan, model, path: Path):
        self.config, self.plan, self.model, self.path = config, plan, model, path
        self.rows: list[Row] = []
        self.notes: list[str] = []
        self.nodes = {}  # precision -> SeparatorNode
        self.audio = np.zeros((2, 0), np.float32)

    def row(self, check: str, variant: str, **fields) -> None:
        self.rows.append(Row(self.config, check, variant, **fields))

    def node(self, precision: str, batch_size: int | None = None):
        from stemboard.node import SeparatorNode

        return SeparatorNode(
            self.path,
            device=self.plan.device,
            precision=precision,
            backend="onnxruntime",
            batch_size=batch_size,
        )

    def stems(self, node) -> Callable[[], np.ndarray]:
        """A run of ``node`` on the audio: ``[sources, 2, n]``."""
        return lambda: np.stack(list(node.separate(self.audio, node.sample_rate).values()))

    def segments(self, batch_size: int) -> str:
        """How the audio runs at ``batch_size``: segments and runs of the model."""
        from stemboard.node.overlap_add import segments_needed, stride_for

        node = self.nodes["fp32"]
        stride, _ = stride_for(node.segment_samples, node.overlap)
        count = segments_needed(self.audio.shape[1], node.segment_samples, stride)
        return f"{count} segments in {-(-count // batch_size)} runs"

    def run(self) -> None:
        from stemboard.signals import music_like

        self.providers()
        if "fp32" not in self.nodes:
            return
        node = self.nodes["fp32"]
        info = node.session.info
        self.audio = music_like(self.plan.seconds, info.sample_rate, seed=1)
        self.notes.append(
            f"{self.config}: stems {', '.join(info.sources)}; segment {info.segment_samples} "
            f"samples ({info.segment_samples / info.sample_rate:.2f} s); "
            f"{self.segments(node.batch_size)}; {node.describe()}"
        )
        runs = {"fp32": self.io_binding()}
        if "fp16" in self.nodes:
            runs["fp16"] = measure(self.stems(self.nodes["fp16"]), self.plan.repeats)
        self.versus_torch(runs)
        self.fp16_parity(runs)
        self.batch_sizes(runs["fp32"][1])

    def providers(self) -> None:
        """The fp32 and fp16 nodes, each kept only when its session runs on the provider."""
        for precision in ("fp32", "fp16"):
            variant = f"{precision} graph"
            try:
                node = self.node(precision)
            except Exception as error:  # the node refuses a GPU that does not work: loudly
                self.row("provider", variant, result=f"FAIL: {first_line(error)}")
                continue
            providers = node.session.session.get_providers()
            if providers[0] != self.plan.provider:
                why = "silent CPU fallback: a CUDA or cuDNN library missing?"
                self.row("provider", variant, result=f"FAIL: runs on {providers[0]} ({why})")
                continue
            self.row("provider", variant, result=f"ok: {', '.join(providers)}")
            self.nodes[precision] = node
            options = node.session.session.get_provider_options().get(providers[0], {})
            shown = [
                key for key in ("device_id", "use_tf32", "cudnn_conv_algo_search") if key in options
            ]
            if precision == "fp32" and shown:
                described = ", ".join(f"{key}={options[key]}" for key in shown)
                self.notes.append(f"{self.config}: {providers[0]} options: {described}")

    def io_binding(self) -> tuple[float, np.ndarray]:
        """The binding rows; the fp32 node's (seconds, stems) with its default binding."""
        node = self.nodes["fp32"]
        session = node.session
        if not hasattr(session, "binding_device"):
            self.row("io binding", "node default", result="FAIL: the session exposes no binding")
            return measure(self.stems(node), self.plan.repeats)
        on = "cuda" if self.plan.device == "cuda" else "cpu"
        default = session.binding_device
        wanted = on if self.plan.device == "cuda" else None  # the CPU provider reads numpy
        self.row(
            "io binding",
            f"node default: {default or 'none'}",
            result="ok" if default == wanted else f"FAIL: expected {wanted or 'none'}",
        )
        runs = {}
        for device in (None, on):
            with binding(session, device) as calls:
                runs[device] = measure(self.stems(node), self.plan.repeats)
            seconds, stems = runs[device]
            called = f"{calls['run_with_iobinding']} bound + {calls['run']} plain calls"
            if device is None:
                self.row("io binding", f"off: {called}", seconds=seconds, speed_up=1.0)
                continue
            snr = snr_by_stem(runs[None][1], stems)
            used = calls["run_with_iobinding"] > 0 and calls["run"] == 0
            self.row(
                "io binding",
                f"on, {device} buffers: {called}",
                seconds=seconds,
                speed_up=runs[None][0] / seconds,
                snr=snr,
                result=gated(snr, self.plan.fp32_gate) if used else "FAIL: binding not used",
            )
        return runs[default if default in runs else None]

    def versus_torch(self, runs: dict[str, tuple[float, np.ndarray]]) -> None:
        """torch through the node's overlap-add (the reference) and the tutorial's pipeline,
        then the nodes, on the same device."""
        import torch

        node = self.nodes["fp32"]
        model = self.model.to(self.plan.device)
        session = TorchSession(model, node.session.info, self.plan.device)
        run = partial(torch_separate, session, self.audio, node.overlap, node.batch_size)
        torch_seconds, torch_stems = measure(run, self.plan.repeats)
        if self.plan.device == "cuda":  # TF32 exists there only: the CPU's default is strict
            with strict_fp32():
                reference = run()
        else:
            reference = torch_stems
        self.row(
            "node vs torch",
            f"torch, node's overlap-add, batch {node.batch_size}",
            seconds=torch_seconds,
            speed_up=1.0,
            snr=snr_by_stem(reference, torch_stems),
            result="reference (SNR: torch's default arithmetic vs strict fp32)",
        )
        fixed = fixed_length(self.config)
        # the tutorial's chunks, 1.1 segments and later 0.1 s more, within a fixed length
        segment = 10.0 if fixed is None else (float(fixed) - 0.1) / 1.1
        variant = f"torch, the tutorial's pipeline ({segment:.2f} s segments)"
        tutorial = partial(
            tutorial_pipeline, model, self.audio, self.plan.device, segment, node.sample_rate
        )
        try:
            seconds, _ = measure(tutorial, self.plan.repeats)
        except Exception as error:  # a reference timing, not a check of stemboard
            self.row("node vs torch", variant, result=f"not timed: {first_line(error)}")
        else:
            self.row("node vs torch", variant, seconds=seconds, speed_up=torch_seconds / seconds)
        for precision, (seconds, stems) in runs.items():
            snr = snr_by_stem(reference, stems)
            gate = self.plan.fp32_gate if precision == "fp32" else self.plan.fp16_gate
            self.row(
                "node vs torch",
                f"node {precision}, batch {node.batch_size}",
                seconds=seconds,
                speed_up=torch_seconds / seconds,
                snr=snr,
                result=gated(snr, gate),
            )
        self.model = model.cpu()
        if self.plan.device == "cuda":
            torch.cuda.empty_cache()

    def fp16_parity(self, runs: dict[str, tuple[float, np.ndarray]]) -> None:
        if "fp16" not in runs:
            return
        (fp32_seconds, fp32_stems), (seconds, stems) = runs["fp32"], runs["fp16"]
        snr = snr_by_stem(fp32_stems, stems)
        self.row(
            "fp16 parity",
            "node fp16 graph vs fp32 graph",
            seconds=seconds,
            speed_up=fp32_seconds / seconds,
            snr=snr,
            result=gated(snr, self.plan.fp16_gate),
        )

    def batch_sizes(self, default_stems: np.ndarray) -> None:
        """The fp32 node at each batch size; SNR against the node's default batch."""
        default = self.nodes["fp32"].batch_size
        first = None
        for size in self.plan.batch_sizes:
            seconds, stems = measure(self.stems(self.node("fp32", size)), self.plan.repeats)
            first = first or seconds
            snr = snr_by_stem(default_stems, stems)
            self.row(
                "batch size",
                f"batch {size}{' (default)' if size == default else ''}: {self.segments(size)}",
                seconds=seconds,
                speed_up=first / seconds,
                snr=snr,
                result=gated(snr, self.plan.fp32_gate),
            )


def fixed_length(config: str):
    """The seconds a layout always runs at (HTDemucs' training segment), or None."""
    from stemboard.registry import architecture

    return getattr(architecture(config), "training_segment", None)


def tutorial_pipeline(model, audio: np.ndarray, device: str, segment: float, sample_rate: int):
    """``node_speed.tutorial_pipeline`` with its segment as a parameter: normalise the track,
    ``separate_sources``, restore. ``[2, n]`` -> ``[sources, 2, n]``."""
    import torch
    from node_speed import separate_sources

    waveform = torch.from_numpy(audio).to(device)
    ref = waveform.mean(0)
    waveform = (waveform - ref.mean()) / ref.std()
    sources = separate_sources(
        model, waveform[None], segment=segment, device=device, sample_rate=sample_rate
    )[0]
    sources = sources * ref.std() + ref.mean()
    if device == "cuda":
        torch.cuda.synchronize()
    return sources.cpu().numpy()


def snr_by_stem(reference: np.ndarray, got: np.ndarray) -> list[float]:
    """Each stem's SNR in dB, as node_speed.py measures it (imported late: it imports torch)."""
    from node_speed import snr_by_stem as measured

    return measured(reference, got)


COLUMNS = ("config", "check", "variant", "seconds", "x realtime", "speed-up")


def table(rows: list[Row], audio_seconds: float) -> list[str]:
    """The rows as text columns two spaces apart (numbers right-aligned)."""
    cells = [(*COLUMNS, "SNR per stem (dB)", "result")]
    for row in rows:
        timed = row.seconds is not None
        cells.append(
            (
                row.config,
                row.check,
                row.variant,
                f"{row.seconds:.3f}" if timed else "-",
                f"{audio_seconds / row.seconds:.1f}" if timed else "-",
                f"{row.speed_up:.2f}x" if row.speed_up is not None else "-",
                " ".join(f"{v:.1f}" for v in row.snr) if row.snr else "-",
                row.result or "-",
            )
        )
    widths = [max(len(line[i]) for line in cells) for i in range(len(cells[0]))]
    right = {3, 4, 5}
    return [
        "  ".join(
            text.rjust(width) if i in right else text.ljust(width)
            for i, (text, width) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in cells
    ]


def positive(text: str) -> int:
    """An integer >= 1, for argparse."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text}")
    return value


def parse(argv: list[str] | None) -> Plan:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--configs", help="registry configurations, comma-separated (default high,htdemucs)"
    )
    parser.add_argument("--seconds", type=float, help="audio length (default 60; dry run 6)")
    parser.add_argument("--batch-sizes", help="node batch sizes (default 1,2,4,8; dry run 1,2)")
    parser.add_argument(
        "--repeats", type=positive, help="timed runs after a warm-up (default 3; dry run 1)"
    )
    parser.add_argument("--seed", type=int, default=0, help="the random weights' seed (default 0)")
    parser.add_argument(
        "--segment",
        type=float,
        help="export segment in seconds (default: the exporter's; dry run 2; a layout that "
        "runs at one length keeps it)",
    )
    parser.add_argument("--model-dir", type=Path, help="DIR/<config>.onnx and .fp16.onnx to reuse")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="the same checks on the CPU provider with `tiny`: proves the script still runs",
    )
    args = parser.parse_args(argv)
    dry = args.dry_run
    configs = args.configs or ("tiny" if dry else "high,htdemucs")
    sizes = args.batch_sizes or ("1,2" if dry else "1,2,4,8")
    try:
        batch_sizes = tuple(positive(size) for size in sizes.split(","))
    except (ValueError, argparse.ArgumentTypeError) as error:
        parser.error(f"--batch-sizes {sizes}: {error}")
    return Plan(
        device="cpu" if dry else "cuda",
        configs=tuple(name.strip() for name in configs.split(",") if name.strip()),
        seconds=args.seconds or (6.0 if dry else 60.0),
        batch_sizes=batch_sizes,
        repeats=args.repeats or (1 if dry else 3),
        seed=args.seed,
        segment=args.segment or (2.0 if dry else None),
        model_dir=args.model_dir,
    )


def main(argv: list[str] | None = None) -> int:
    plan = parse(argv)
    missing = missing_requirements(plan)
    if missing:
        print("gpu_check.py cannot run here:\n" + "\n".join(f"- {what}" for what in missing))
        print("install what is missing (on the GPU machine: the carried wheels, shared/gpu.md)")
        return 2
    plan = plan.with_gates()
    header = device_lines(plan)
    header.append(
        f"audio: {plan.seconds:g} s of music-like audio; seconds: median of {plan.repeats} "
        f"after a warm-up; gates: fp32 {plan.fp32_gate:g} dB, fp16 {plan.fp16_gate:g} dB per stem"
    )
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="stemboard-gpu-check-") as scratch:
        for config in plan.configs:
            print(f"checking {config}", file=sys.stderr, flush=True)
            found, notes = check_config(config, plan, Path(scratch))
            rows += found
            header += notes
    print("\n".join(header))
    print("\n".join(table(rows, plan.seconds)))
    print(
        "speed-up: against the first timed row of its check (io binding: off; node vs torch: "
        "torch through the node's overlap-add; batch size: the first batch size)"
    )
    failed = [row for row in rows if row.failed]
    if failed:
        print(f"{len(failed)} of {len(rows)} rows failed:")
        for row in failed:
            print(f"- {row.config} {row.check} {row.variant}: {row.result}")
        return 1
    print(f"every check passed ({len(rows)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
