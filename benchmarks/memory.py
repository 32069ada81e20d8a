"""Peak memory of ``stemboard separate`` on long files: under 1 GB, and the same for any length?

    python benchmarks/memory.py                          # 10 and 60 minutes, tiny model, CPU
    python benchmarks/memory.py --minutes 1,2            # a quick trial
    python benchmarks/memory.py --model tiny.onnx        # reuse an export
    python benchmarks/memory.py --precision fp32         # the path of a CPU without native bf16
    python benchmarks/memory.py --keep /tmp/memory-run   # keep the WAVs, model and stems there

Exports the ``tiny`` model (random weights, 10 s segments) unless ``--model`` names one; the
export needs torch and is not measured. For each length in ``--minutes`` it writes that much
stereo 44.1 kHz 16-bit music-like audio block by block (so this script stays small too), then
runs ``/usr/bin/time -v stemboard separate ... --device cpu --format FORMAT`` and reads the
child's maximum resident set size and wall time. Checks that every stem has the input's length
and prints one row per length, then two verdicts: the largest peak against 1 GB (1000 MB), and
the spread of the peaks against 50 MB (memory must not grow with the input). The files
(several GB for an hour) are removed at the end, also on failure, unless ``--keep`` is given.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from pedalboard.io import AudioFile

from stemboard.errors import StemboardError
from stemboard.model_format import ModelInfo, read_file_metadata
from stemboard.signals import music_like

SAMPLE_RATE = 44100
CLIP_SECONDS = 10.0
LIMIT_MB = 1000  # the "under 1 GB"
SPREAD_MB = 50  # the most the peaks of different lengths may differ
MB = 1e6
GNU_TIME = Path("/usr/bin/time")
BIN = Path(sys.executable).parent


def export_tiny(path: Path) -> None:
    """``stemboard export --config tiny`` into ``path`` (a subprocess: it needs torch)."""
    command = [str(BIN / "stemboard"), "export", "--config", "tiny", "--segment", "10"]
    if subprocess.run([*command, "--no-verify", "--out", str(path)]).returncode != 0:
        raise SystemExit("memory.py: stemboard export failed (it needs torch: stemboard[export])")


def write_long_wav(path: Path, minutes: float) -> int:
    """Write ``minutes`` of stereo 16-bit audio, one 10 s clip at a time; return its frames."""
    total = round(minutes * 60 * SAMPLE_RATE)
    written = 0
    with AudioFile(str(path), "w", SAMPLE_RATE, 2, bit_depth=16) as f:
        seed = 0
        while written < total:
            clip = music_like(CLIP_SECONDS, SAMPLE_RATE, seed=seed)[:, : total - written]
            f.write(clip)
            written += clip.shape[1]
            seed += 1
    return written


def _seconds(clock: str) -> float:
    """GNU time's ``h:mm:ss`` or ``m:ss.ss`` -> seconds."""
    seconds = 0.0
    for part in clock.split(":"):
        seconds = seconds * 60 + float(part)
    return seconds


def measure(command: list[str]) -> tuple[int, float]:
    """Run ``command`` under ``/usr/bin/time -v``; return (peak RSS in KiB, wall seconds).

    The two run in their own process group, ended together if this script is interrupted
    (GNU time passes no signal on, and the child would go on writing gigabytes).
    """
    with subprocess.Popen(
        [str(GNU_TIME), "-v", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            output, report = process.communicate()
        except BaseException:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait()
            raise
    if process.returncode != 0:
        sys.stderr.write(output + report)
        raise SystemExit(f"memory.py: {' '.join(command[:2])} failed ({process.returncode})")
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", report)
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", report)
    if peak is None or wall is None:
        raise SystemExit(f"memory.py: cannot read /usr/bin/time's report:\n{report}")
    return int(peak.group(1)), _seconds(wall.group(1))


def check_stems(folder: Path, sources: tuple[str, ...], frames: int, format: str) -> None:
    """Every ``folder/<source>.<format>`` exists and has ``frames`` frames (headers only)."""
    for name in sources:
        path = folder / f"{name}.{format}"
        if not path.is_file():
            raise SystemExit(f"memory.py: stem {path} was not written")
        with AudioFile(str(path)) as f:
            if f.frames != frames:
                raise SystemExit(f"memory.py: {path} has {f.frames} frames, the input {frames}")


def measure_length(scratch: Path, minutes: float, model: Path, options: list[str], format: str):
    """One row: (minutes, input bytes, peak RSS bytes, wall seconds) of separating ``minutes``."""
    sources = ModelInfo.from_metadata(read_file_metadata(model), str(model)).sources
    wav = scratch / f"long-{minutes:g}min.wav"
    print(f"writing {minutes:g} min of audio to {wav}", flush=True)
    frames = write_long_wav(wav, minutes)
    out = scratch / "out"
    if out.exists():
        shutil.rmtree(out)
    command = [str(BIN / "stemboard"), "separate", str(wav), "-o", str(out)]
    command += ["--model", str(model), "--device", "cpu", "--format", format, *options]
    print("measuring: " + " ".join(command), flush=True)
    peak_kib, wall = measure(command)
    check_stems(out / wav.stem, sources, frames, format)
    size = wav.stat().st_size
    shutil.rmtree(out)
    wav.unlink()  # an hour is 606 MiB, and its stems several GB while they are written
    return frames / SAMPLE_RATE / 60, size, peak_kib * 1024, wall


def run(scratch: Path, lengths: list[float], model: Path | None, options: list[str], format: str):
    if model is None:
        model = scratch / "tiny.onnx"
        print(f"exporting tiny to {model} (not measured)", flush=True)
        export_tiny(model)
    rows = [measure_length(scratch, minutes, model, options, format) for minutes in lengths]

    print(
        f"{'input min':>10}{'input MiB':>11}{'peak RSS MiB':>14}{'peak MB':>9}{'wall s':>9}"
        f"{'x realtime':>12}"
    )
    for minutes, size, peak, wall in rows:
        print(
            f"{minutes:>10.1f}{size / 2**20:>11.0f}{peak / 2**20:>14.0f}{peak / MB:>9.0f}"
            f"{wall:>9.1f}{minutes * 60 / wall:>12.1f}"
        )
    peaks = [peak for _, _, peak, _ in rows]
    highest, spread = max(peaks), max(peaks) - min(peaks)
    under = highest < LIMIT_MB * MB
    flat = spread < SPREAD_MB * MB
    print(
        f"largest peak {highest / MB:.0f} MB ({highest / 2**20:.0f} MiB), limit {LIMIT_MB} MB: "
        f"{'PASS' if under else 'FAIL'}"
    )
    print(
        f"spread of the peaks {spread / MB:.1f} MB ({spread / 2**20:.1f} MiB), limit "
        f"{SPREAD_MB} MB: {'PASS' if flat else 'FAIL'}"
    )
    return under and flat


def _lengths(text: str) -> list[float]:
    try:
        lengths = [float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected minutes such as 10,60, got {text!r}") from None
    if not lengths or not all(minutes > 0 for minutes in lengths):
        raise argparse.ArgumentTypeError(f"every length must be positive, got {text!r}")
    return lengths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--minutes", type=_lengths, default=[10.0, 60.0], help="input lengths (default 10,60)"
    )
    parser.add_argument("--model", type=Path, help="an exported .onnx (default: export tiny)")
    parser.add_argument("--precision", help="passed to stemboard separate (default: its own, auto)")
    parser.add_argument("--format", default="flac", help="the stems' format (default flac)")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="work in DIR and keep the files")
    args = parser.parse_args()
    if args.model is not None and not args.model.is_file():
        parser.error(f"--model {args.model} does not exist")
    if not GNU_TIME.is_file():
        parser.error("needs GNU time at /usr/bin/time; install it with: apt-get install -y time")
    options = ["--precision", args.precision] if args.precision else []

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up on kill, too
    try:
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
            return 0 if run(args.keep, args.minutes, args.model, options, args.format) else 1
        with tempfile.TemporaryDirectory(prefix="stemboard-memory-") as scratch:
            return 0 if run(Path(scratch), args.minutes, args.model, options, args.format) else 1
    except StemboardError as error:
        print(f"memory.py: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
