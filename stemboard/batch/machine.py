"""How many workers this machine runs by default: its GPUs, its usable cores, its memory.

Example::

    default_workers("cpu")     # one single-threaded worker per usable core, as memory allows
"""

from __future__ import annotations

import os
import shutil
import subprocess

from stemboard.node.backend import usable_cores

WORKER_MEMORY_BYTES = 2 * 2**30
"""Memory to allow per CPU worker: one ``high`` worker peaked at 1.85 GB separating 30 s
(the demo model at 0.86 GB); docs/benchmarks.md."""


def gpu_count() -> int:
    """NVIDIA GPUs visible here (``CUDA_VISIBLE_DEVICES`` respected); 0 without a driver."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([part for part in visible.split(",") if part.strip() not in ("", "-1")])
    if shutil.which("nvidia-smi") is None:
        return 0
    try:
        listed = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(line.startswith("GPU ") for line in listed.stdout.splitlines())


def available_memory() -> int | None:
    """Bytes of memory available for new work (Linux's MemAvailable), if known."""
    try:
        with open("/proc/meminfo") as file:
            for line in file:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def default_workers(device: str) -> int:
    """One worker per GPU on the GPU. On the CPU one single-threaded worker per usable core,
    which measured fastest (1.30x one worker with both cores on the demo model, 1.05x on
    ``high``: docs/benchmarks.md, ``benchmarks/batch_throughput.py``), as many as the
    available memory holds at :data:`WORKER_MEMORY_BYTES` each."""
    gpus = gpu_count() if device in ("cuda", "auto") else 0
    if gpus:
        return gpus
    memory = available_memory()
    fits = usable_cores() if memory is None else max(1, memory // WORKER_MEMORY_BYTES)
    return max(1, min(usable_cores(), fits))


def threads_per_worker(engine: str, workers: int) -> int | None:
    """CPU threads for each local worker: its share of the usable cores (None for Ray, whose
    actors take the CPUs Ray gives them)."""
    return max(1, usable_cores() // workers) if engine == "local" else None
