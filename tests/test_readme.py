"""The README's snippets run as written, in order, offline, in an empty folder; and what it
shows "in full" is the file in full."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
NOT_RUN = re.compile(r"<!-- not run: [^>]+ -->\s*$")
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.S | re.M)


def snippets() -> list[tuple[str, str, int]]:
    """``(language, code, line)`` of every bash and python block not marked ``not run``."""
    text = README.read_text()
    found = []
    for match in BLOCK.finditer(text):
        language, code = match[1], match[2]
        before = text[: match.start()].rstrip("\n").splitlines()
        if language not in ("bash", "python") or (before and NOT_RUN.search(before[-1])):
            continue
        found.append((language, code, text.count("\n", 0, match.start()) + 1))
    return found


def test_the_readme_has_runnable_snippets_and_marks_the_others():
    languages = [language for language, _, _ in snippets()]
    assert languages.count("bash") >= 5 and languages.count("python") >= 3
    text = README.read_text()
    # the two set-up commands, real music (a download, twice: the tour and the models' section),
    # the bundle export, the example shown in full (run below it) and the studio (a server:
    # tests/test_studio_browser.py runs it)
    assert text.count("<!-- not run:") == 7


@pytest.mark.slow
def test_every_readme_snippet_runs_as_written(tmp_path):
    pytest.importorskip("torch")  # the export snippets need the export extra
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "STEMBOARD_CACHE": str(tmp_path / "cache"),  # nothing known is exported here
        "TORCH_HOME": str(tmp_path / "torch"),
    }
    for language, code, line in snippets():
        command = (
            ["bash", "-euo", "pipefail", "-c", code]
            if language == "bash"
            else [sys.executable, "-c", code]
        )
        done = subprocess.run(
            command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, f"README line {line}:\n{code}\n{done.stdout}\n{done.stderr}"
        assert "Traceback" not in done.stderr, f"README line {line}: {done.stderr}"
    assert (tmp_path / "out" / "song" / "vocals.wav").is_file()
    assert (tmp_path / "out-cli" / "song" / "karaoke.wav").is_file()
    # nothing was exported; the cache holds at most the quality gate's verdicts
    assert not list((tmp_path / "cache").glob("*.onnx"))


def test_what_the_readme_shows_in_full_is_the_whole_example():
    text = README.read_text()
    shown = re.search(r"is, in full:\n\n<!--[^\n]*-->\n```python\n(.*?)^```$", text, re.S | re.M)[1]
    assert shown == (ROOT / "examples" / "karaoke_and_reverb.py").read_text()


@pytest.mark.parametrize("script", ["karaoke_and_reverb.py", "stems_with_effects.py"])
def test_the_examples_run_without_a_model_argument(script, tmp_path):
    from audio_files import write_audio

    from stemboard.signals import music_like

    song = write_audio(tmp_path / "song.wav", music_like(3.0, seed=2))
    target = tmp_path / ("out.wav" if script.startswith("karaoke") else "stems")
    subprocess.run(
        [sys.executable, str(ROOT / "examples" / script), str(song), str(target)],
        check=True,
        timeout=300,
    )
    assert target.exists()


def test_the_readme_says_the_examples_are_not_installed_and_they_are_not():
    """A newcomer with ``pip install stemboard`` has no examples/: the README says so where it
    shows them, and the package data indeed leaves them out."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11 and newer

    text = " ".join(README.read_text().split())
    assert "`examples/` holds two short scripts" in text
    assert "in the repository, not in the installed package" in text
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    setuptools = project["tool"]["setuptools"]
    assert setuptools["packages"]["find"]["include"] == ["stemboard*"]
    assert not any("examples" in pattern for pattern in setuptools["package-data"]["stemboard"])
