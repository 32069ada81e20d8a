"""The studio in a real browser: open a song, mute a stem, add an effect, preview, tick a
DAWproject session, save and export; the saved preset renders with ``stemboard render`` to
exactly the exported files.

Playwright drives Debian's Chromium (``apt-get install chromium``); nothing is downloaded, and
the test is skipped where either is missing. The studio runs as ``stemboard studio`` on
127.0.0.1, as a user starts it. With ``STEMBOARD_SCREENSHOTS=1`` the test also writes the
mixer's screenshot into ``docs/images/``.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from pedalboard.io import AudioFile

from stemboard.synth import generate_song, split_seeds, write_song

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "docs" / "images" / "studio-mixer.png"
URL_LINE = re.compile(r"stemboard studio: (http://127\.0\.0\.1:\d+/)")
STEMBOARD = [sys.executable, "-m", "stemboard.cli"]
# what the page says, for a failure's message
PAGE_STATE = """() => Object.fromEntries(
    ["track-status", "message", "preview-status", "saved-path", "export-status"].map(
        (id) => [id, document.getElementById(id)?.textContent ?? null]))"""


def chromium_path() -> str | None:
    """Debian's Chromium, where it is installed."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


class RunningStudio:
    """``stemboard studio`` in a child process: its URL, its out folder, its environment."""

    def __init__(self, out: Path, env: dict[str, str]):
        self.out = out
        self.env = env
        self.process = subprocess.Popen(
            [*STEMBOARD, "studio", "--model", "demo", "--no-browser", "--port", "0", "--out", out],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.said: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def url(self, timeout: float = 60.0) -> str:
        """The address the studio prints once it listens."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.said.append(line)
            found = URL_LINE.search(line)
            if found:
                return found.group(1)
        pytest.fail(f"stemboard studio printed no URL in {timeout:g} s:\n{''.join(self.said)}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@pytest.fixture
def song(tmp_path) -> Path:
    """An 8-second song of the synthetic test split."""
    folder = write_song(generate_song(split_seeds("test", 1)[0], 8.0, 44100), tmp_path / "song")
    return folder / "mixture.wav"


@pytest.fixture
def studio(tmp_path):
    env = {**os.environ, "STEMBOARD_CACHE": str(tmp_path / "cache")}
    running = RunningStudio(tmp_path / "studio-out", env)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def browser():
    chromium = chromium_path()
    if chromium is None:
        pytest.skip("no Chromium: apt-get install chromium")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="no playwright: pip install playwright"
    )
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=chromium,
            headless=True,
            args=["--autoplay-policy=no-user-gesture-required"],
        )
        try:
            yield launched
        finally:
            launched.close()


def read(path: Path) -> tuple[np.ndarray, float]:
    with AudioFile(str(path)) as f:
        return f.read(f.frames), f.samplerate


def test_a_preset_built_in_the_page_renders_to_the_exported_file(browser, studio, song, tmp_path):
    url = studio.url()
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.set_default_timeout(30_000)

    try:
        page.goto(url)
        page.wait_for_selector('#track-status[data-state="idle"]')  # the page is wired up
        page.set_input_files("#open-file", str(song))
        page.wait_for_selector('#mixer[data-ready="true"]', timeout=60_000)

        page.click('.strip[data-strip="vocals"] button.mute')
        page.select_option('.strip[data-strip="drums"] select.add-effect', "Reverb")
        page.click('.strip[data-strip="drums"] button.add-effect-btn')
        page.wait_for_selector('.strip[data-strip="drums"] li.effect[data-plugin="Reverb"]')

        page.click("#preview")
        page.wait_for_selector('#preview-status[data-state="wet"]')
        if os.environ.get("STEMBOARD_SCREENSHOTS") == "1":
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)

        page.check("#out-session-dawproject")
        page.fill("#preset-name", "browser_test")
        page.click("#save-preset")
        page.locator("#saved-path").filter(has_text="browser_test.yaml").wait_for()
        page.check("#out-mix")
        page.click("#export")
        page.wait_for_selector('#export-status[data-state="done"]', timeout=60_000)
    except Exception as error:
        said = page.evaluate(PAGE_STATE)
        pytest.fail(f"{error}\npage: {said}\n" + "\n".join(problems))
    page.close()
    assert not problems, "\n".join(problems)

    saved = studio.out / "browser_test.yaml"
    data = yaml.safe_load(saved.read_text(encoding="utf-8"))
    assert data["stems"]["vocals"]["mute"] is True
    assert [effect["plugin"] for effect in data["stems"]["drums"]["chain"]] == ["Reverb"]
    assert data["outputs"]["sessions"] == ["dawproject"]

    exported = sorted(p.relative_to(studio.out) for p in studio.out.rglob("*.wav"))
    assert exported, f"the export wrote no WAV into {studio.out}"
    rendered_dir = tmp_path / "rendered"
    done = subprocess.run(
        [*STEMBOARD, "render", str(saved), str(song), "-o", str(rendered_dir)],
        capture_output=True,
        text=True,
        env=studio.env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.relative_to(rendered_dir) for p in rendered_dir.rglob("*.wav")) == exported
    for name in exported:
        (ours, our_rate), (theirs, their_rate) = read(studio.out / name), read(rendered_dir / name)
        assert our_rate == their_rate
        assert ours.shape == theirs.shape and np.array_equal(ours, theirs), name
        assert np.abs(ours).max() > 0.01, f"{name} is silent"
    sessions = sorted(p.relative_to(studio.out) for p in studio.out.rglob("*.dawproject"))
    assert sessions == [Path("mixture/browser_test.dawproject")]
    ours, theirs = (zipfile.ZipFile(folder / sessions[0]) for folder in (studio.out, rendered_dir))
    assert ours.namelist() == theirs.namelist()
    for name in ours.namelist():
        assert ours.read(name) == theirs.read(name), name
