"""OpenVINO without its telemetry: stemboard never sends anything anywhere.

``import openvino`` starts Intel's usage telemetry unless the user opted out: it counts
imports in ``~/intel/stats``, creates a client id and sends an event to Google Analytics (a DNS
lookup of its host was seen on import, with no consent asked). Every stemboard module imports
OpenVINO through :func:`import_openvino`, which makes the telemetry package unimportable for
this process, so OpenVINO falls back to its own no-op stub. A process that imported OpenVINO
before stemboard keeps whatever it already started.
"""

from __future__ import annotations

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
