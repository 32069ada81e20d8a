"""How quickly ``stemboard studio`` answers: page load, level changes, preview renders.

    python benchmarks/studio_responsiveness.py                  # a 30 s song, demo model
    python benchmarks/studio_responsiveness.py --seconds 240 --loads 3

Three measurements in one run, on a song of the synthetic test split (generated first, not
timed), with a stem cache of the run's own:

(a) page load to a playable mixer. ``stemboard studio SONG`` is started once to separate the
    song into the stem cache (the cold-cache separation is printed), stopped, and started again
    with the same song, which the cache answers at once. Each of ``--loads`` fresh pages
    (headless Chromium, a new browser context each, so the browser caches nothing) is timed
    from ``page.goto`` to ``#mixer[data-ready="true"]``: the page's modules, the stems fetched
    and decoded, the waveforms drawn.
(b) a level change is heard without a request. A gain fader is set to -12 dB and a mute button
    clicked while every request the page makes is recorded (and for a second after, for any
    debounced one); the count must be 0. An init script records the page's
    ``AudioParam.setTargetAtTime`` calls, so the time from the input event to the call that
    schedules the new gain is printed, and the gain's AudioParam is read back until it is
    within 1 % of the level law's value, or under -80 dB for the mute (that includes the
    page's 10 ms smoothing).
(c) the preview of a ``--loop`` s region with a Compressor and a Reverb on every stem and a
    Limiter on the master: ``POST api/tracks/{id}/preview``, modes "mix" and "stems", through
    the studio's Starlette app in this process (starlette's test client, no browser), one
    warm-up then ``--runs`` runs: median and max. The target is under 2 s.

(a) and (b) need Chromium (``apt-get install chromium``) and the ``playwright`` package; without
them only (c) runs. The studio binds 127.0.0.1 only; nothing is fetched from elsewhere.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

STEMBOARD = [sys.executable, "-m", "stemboard.cli"]
URL_LINE = re.compile(r"stemboard studio: (http://127\.0\.0\.1:\d+/)")
CHAIN = [
    {"plugin": "Compressor", "threshold_db": -18.0, "ratio": 4.0},
    {"plugin": "Reverb", "room_size": 0.6},
]
# Recorded in the page before its modules run: input events and the gains they schedule.
RECORDER = """
window.__levels = [];
window.__events = [];
for (const kind of ["input", "click"]) {
  document.addEventListener(kind, (event) => window.__events.push(event.timeStamp), true);
}
const schedule = AudioParam.prototype.setTargetAtTime;
AudioParam.prototype.setTargetAtTime = function (target, time, constant) {
  window.__levels.push({ at: performance.now(), target, param: this });
  return schedule.call(this, target, time, constant);
};
"""
# After one action: the delay from its event to the first gain it scheduled, then the time
# until that AudioParam reads within 1 % of its target (bounded: 2 s).
SETTLED = """async (target) => {
  const event = window.__events.at(-1);
  const call = window.__levels.find((c) => c.at >= event && Math.abs(c.target - target) < 1e-6);
  if (!call) return null;
  const near = () => Math.abs(call.param.value - target) <= Math.max(0.01 * target, 1e-4);
  while (!near() && performance.now() - event < 2000) await new Promise((r) => setTimeout(r, 1));
  const settled = performance.now() - event;
  return { scheduled: call.at - event, settled, value: call.param.value };
}"""


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


class RunningStudio:
    """``stemboard studio SONG`` in a child process, on 127.0.0.1 and a free port."""

    def __init__(self, song: Path, out: Path):
        self.started = time.perf_counter()
        command = [*STEMBOARD, "studio", song, "--model", "demo", "--no-browser"]
        self.process = subprocess.Popen(
            [*command, "--port", "0", "--out", out],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.url = self._url(timeout=120.0)
        self.http = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _url(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        said = []
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            said.append(line)
            found = URL_LINE.search(line)
            if found:
                return found.group(1)
        self.stop()
        raise SystemExit(f"stemboard studio printed no URL in {timeout:g} s:\n{''.join(said)}")

    def separated(self, timeout: float = 600.0) -> float:
        """Seconds from the command's start until the opened song's stems are ready."""
        while time.perf_counter() - self.started < timeout:
            with self.http.open(self.url + "api/tracks", timeout=10) as answer:
                tracks = json.load(answer)["tracks"]
            if tracks and tracks[0]["stems_ready"]:
                return time.perf_counter() - self.started
            if tracks and tracks[0]["job"]["state"] == "failed":
                raise SystemExit(f"separation failed: {tracks[0]['job']['error']}")
            time.sleep(0.05)
        raise SystemExit(f"the song was not separated in {timeout:g} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def in_the_browser(song: Path, out: Path, chromium: str, loads: int) -> dict:
    """(a) and (b): page loads, and level changes with the requests they make."""
    from playwright.sync_api import sync_playwright

    first = RunningStudio(song, out)
    try:
        found = {"separation": first.separated()}
    finally:
        first.stop()
    studio = RunningStudio(song, out)
    try:
        found["cache answers"] = studio.separated()
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=chromium,
                headless=True,
                args=["--autoplay-policy=no-user-gesture-required"],
            )
            try:
                found["loads"] = [load(browser, studio.url) for _ in range(loads)]
                found.update(levels(browser, studio.url))
            finally:
                browser.close()
    finally:
        studio.stop()
    return found


def load(browser, url: str) -> float:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        started = time.perf_counter()
        page.goto(url)
        page.wait_for_selector('#mixer[data-ready="true"]', state="attached", timeout=120_000)
        return time.perf_counter() - started
    finally:
        context.close()


def levels(browser, url: str) -> dict:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        page.add_init_script(RECORDER)
        page.goto(url)
        page.wait_for_selector('#mixer[data-ready="true"]', state="attached", timeout=120_000)
        page.click("#play")  # the first gesture starts the page's AudioContext
        page.wait_for_timeout(300)
        requests = []
        page.on("request", lambda request: requests.append(f"{request.method} {request.url}"))
        page.fill('.strip[data-strip="drums"] input.gain', "-12")
        gain = page.evaluate(SETTLED, 10 ** (-12 / 20))
        page.click('.strip[data-strip="vocals"] button.mute')
        mute = page.evaluate(SETTLED, 0.0)
        page.wait_for_timeout(1000)
        return {"gain": gain, "mute": mute, "requests": requests}
    finally:
        context.close()


def previews(song: Path, out: Path, loop: float, runs: int) -> dict[str, list[float]]:
    """(c): preview renders of the loop region with a chain on every stem, through the app."""
    from starlette.testclient import TestClient

    from stemboard.studio.app import create_app
    from stemboard.studio.workspace import Studio

    studio = Studio("demo", out_dir=out)
    try:
        track = studio.open_file(song)
        for _ in range(6000):
            if track.stems is not None or track.job.state == "failed":
                break
            time.sleep(0.1)
        track = studio.ready(track.id)
        start = max(0.0, min(10.0, track.info.duration - loop))
        preset = {
            "stemboard_preset": 1,
            "name": "bench",
            "stems": {stem: {"chain": CHAIN} for stem in studio.node.sources},
            "master": [{"plugin": "Limiter"}],
        }
        times: dict[str, list[float]] = {}
        with TestClient(create_app(studio, hosts=["testserver"])) as client:
            for mode in ("mix", "stems"):
                body = {"preset": preset, "start": start, "end": start + loop, "mode": mode}
                times[mode] = []
                for run in range(runs + 1):
                    started = time.perf_counter()
                    answer = client.post(f"api/tracks/{track.id}/preview", json=body)
                    if answer.status_code != 200:
                        raise SystemExit(f"preview ({mode}) failed: {answer.text}")
                    if run:  # the first is the warm-up
                        times[mode].append(time.perf_counter() - started)
        return times
    finally:
        studio.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="the song's length")
    parser.add_argument("--loads", type=int, default=5, help="page loads timed (a)")
    parser.add_argument("--loop", type=float, default=10.0, help="the preview's region (c)")
    parser.add_argument("--runs", type=int, default=5, help="preview renders timed (c)")
    args = parser.parse_args()

    from stemboard.synth import generate_song, split_seeds, write_song

    with tempfile.TemporaryDirectory() as scratch:
        os.environ["STEMBOARD_CACHE"] = str(Path(scratch) / "cache")
        seed = split_seeds("test", 1)[0]
        folder = write_song(generate_song(seed, args.seconds, 44100), Path(scratch) / "song")
        song, out = folder / "mixture.wav", Path(scratch) / "out"
        chromium = chromium_path()
        try:
            import playwright  # noqa: F401
        except ImportError:
            chromium = None
        browser = in_the_browser(song, out, chromium, args.loads) if chromium else None
        rendered = previews(song, out, args.loop, args.runs)

    print(f"stemboard studio, demo model, a {args.seconds:g} s song, CPU ({os.cpu_count()} cores)")
    print(f"{'what':<52}{'median':>10}{'max':>10}")
    if browser is None:
        print("(a), (b): skipped, no Chromium or no playwright (apt-get install chromium)")
    else:
        for what, label in (
            ("separation", "stemboard studio SONG to stems ready, cold cache"),
            ("cache answers", "the same again, the stem cache answering"),
        ):
            print(f"{label:<52}{browser[what]:>8.2f} s")
        loads = browser["loads"]
        label = f"(a) page load to ready mixer ({len(loads)} loads)"
        print(f"{label:<52}{statistics.median(loads):>8.2f} s{max(loads):>8.2f} s")
        for what, reached in (("gain", "within 1 %"), ("mute", "under -80 dB")):
            found = browser[what]
            if found is None:
                print(f"(b) {what}: the page scheduled no gain")
                continue
            for label, ms in (
                (f"(b) {what}: event to gain scheduled", found["scheduled"]),
                (f"(b) {what}: event to AudioParam {reached}", found["settled"]),
            ):
                print(f"{label:<52}{ms:>7.1f} ms")
        requests = browser["requests"]
        print(f"{'(b) requests made by the fader and the mute':<52}{len(requests):>10}")
        for request in requests:
            print(f"    {request}")
    for mode, times in rendered.items():
        label = f"(c) preview {args.loop:g} s, {mode}, chains on all ({len(times)} runs)"
        print(f"{label:<52}{statistics.median(times):>8.2f} s{max(times):>8.2f} s")
    worst = max(max(times) for times in rendered.values())
    print(f"preview target < 2 s: {'met' if worst < 2.0 else 'NOT met'} (worst {worst:.2f} s)")
    return 1 if browser is not None and browser["requests"] else 0


if __name__ == "__main__":
    sys.exit(main())
