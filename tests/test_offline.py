"""stemboard.offline: onnxruntime runs without its telemetry (OpenVINO's is in test_backends)."""

import os
import subprocess
import sys
import types

import pytest

from stemboard.offline import keep_onnxruntime_offline

# onnxruntime switches its telemetry off by itself where one of these says "CI"
# (core/platform/telemetry_environment.h); the test must not pass for that reason.
CI_VARIABLES = (
    "CI",
    "TF_BUILD",
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "CIRCLECI",
    "TRAVIS",
    "JENKINS_URL",
    "CODEBUILD_BUILD_ID",
    "BUILDKITE",
    "TEAMCITY_VERSION",
    "APPVEYOR",
    "BITBUCKET_BUILD_NUMBER",
    "SYSTEM_TEAMFOUNDATIONCOLLECTIONURI",
    "ORT_RUNNING_UNIT_TESTS",
    "ORT_DISABLE_TELEMETRY",
)


def test_an_onnxruntime_session_leaves_no_files_in_home_tmpdir_or_the_working_folder(tmp_path):
    """onnxruntime's 1DS client would write ~/.cache/Microsoft/DeveloperTools/.onnxruntime/
    {deviceid,onnxruntime.db} and $TMPDIR/.ses on import; through stemboard nothing appears."""
    pytest.importorskip("onnxruntime")
    home, temporary, work = tmp_path / "home", tmp_path / "tmp", tmp_path / "work"
    for folder in (home, temporary, work):
        folder.mkdir()
    code = (
        "import numpy as np\n"
        "from stemboard import SeparatorNode\n"
        "node = SeparatorNode('demo', device='cpu', backend='onnxruntime')\n"
        "stems = node.separate(np.zeros((2, 4410), np.float32), 44100)\n"
        "print(node.session.backend, sorted(stems))\n"
    )
    env = {key: value for key, value in os.environ.items() if key not in CI_VARIABLES}
    env |= {"HOME": str(home), "TMPDIR": str(temporary), "XDG_CACHE_HOME": str(home / ".cache")}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=work, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == "onnxruntime"
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == [
        "home",
        "tmp",
        "work",
    ]


def test_an_onnxruntime_imported_before_stemboard_has_its_events_switched_off(monkeypatch):
    calls = []
    runtime = types.SimpleNamespace(disable_telemetry_events=lambda: calls.append("disabled"))
    monkeypatch.setitem(sys.modules, "onnxruntime", runtime)
    monkeypatch.setenv("ORT_DISABLE_TELEMETRY", "0")
    keep_onnxruntime_offline()
    assert os.environ["ORT_DISABLE_TELEMETRY"] == "1"
    assert calls == ["disabled"]
