"""OpenVINO and onnxruntime without their telemetry: stemboard never sends anything anywhere.

``import openvino`` starts Intel's usage telemetry unless the user opted out: it counts
imports in ``~/intel/stats``, creates a client id and sends an event to Google Analytics (a DNS
lookup of its host was seen on import, with no consent asked). Every stemboard module imports
OpenVINO through :func:`import_openvino`, which makes the telemetry package unimportable for
this process, so OpenVINO falls back to its own no-op stub. A process that imported OpenVINO
before stemboard keeps whatever it already started.

``import onnxruntime`` (1.32 on Linux, its official wheels) starts Microsoft's 1DS telemetry
client (``core/platform/telemetry_1ds.cc``): it writes a random device id and an SQLite queue,
``deviceid`` and ``onnxruntime.db`` in ``~/.cache/Microsoft/DeveloperTools/.onnxruntime``, a
session file ``$TMPDIR/.ses`` (first launch time and an SDK id), queues a ``ProcessInfo`` event
(OS, CPU model, memory, container, program path, network type, the hashed device id) and uploads
it to ``mobile.events.data.microsoft.com`` (the DNS lookups were seen). The one switch that stops
all of it is ``ORT_DISABLE_TELEMETRY=1`` in the environment before onnxruntime initialises;
``onnxruntime.disable_telemetry_events()`` only drops later events. :func:`keep_onnxruntime_offline`
sets the first (for this process and the processes it starts) and calls the second where
onnxruntime was imported before stemboard, which then keeps its files and its first event.

One more thing every onnxruntime CPU session stemboard opens needs, kept here for the node and
the exporter's check alike: :func:`cpu_disabled_optimizers`.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType


def import_openvino() -> ModuleType:
    """``openvino``, imported with its telemetry disabled (the first import decides)."""
    if "openvino" not in sys.modules:
        # None in sys.modules makes `import openvino_telemetry` raise ImportError, which
        # OpenVINO answers with its stub (openvino.tools.ovc.telemetry_stub).
        sys.modules.setdefault("openvino_telemetry", None)
    import openvino

    return openvino


def keep_onnxruntime_offline() -> None:
    """Switch onnxruntime's telemetry off; call it before onnxruntime is imported.

    Overrides an ``ORT_DISABLE_TELEMETRY`` the user set to anything else. Imports nothing.
    """
    os.environ["ORT_DISABLE_TELEMETRY"] = "1"
    onnxruntime = sys.modules.get("onnxruntime")
    if onnxruntime is not None:
        onnxruntime.disable_telemetry_events()


FP16_CPU_DISABLED_OPTIMIZERS = ["NchwcTransformer"]
"""onnxruntime's CPU optimizers that must stay off for a float16 graph: its NCHWc layout
transformer crashes the process (a segmentation fault, onnxruntime 1.32) while preparing
demucs v4's float16 graphs, and its blocked-layout kernels are float32-only anyway."""


def cpu_disabled_optimizers(float16: bool) -> list[str] | None:
    """The ``disabled_optimizers`` of a CPU session for a float16 graph or a float32 one."""
    return list(FP16_CPU_DISABLED_OPTIMIZERS) if float16 else None
