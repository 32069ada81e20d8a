"""The studio's server through its HTTP API (Starlette's test client, no socket), and the
``stemboard studio`` command as a user starts it.

The identity model (every stem is the mix) makes what the server answers checkable sample for
sample: a preview must equal the same graph run on the whole cached stems, an export must
equal ``stemboard render`` with the saved preset.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest

from stemboard import cli
from stemboard.graph.presets import build_graph, shipped_presets
from stemboard.studio.stem_cache import read_stems
from tests.audio_files import read_audio, write_audio

# the studio extra (in dev); its test client needs httpx2, also in dev: missing, it fails loudly
pytest.importorskip("starlette", reason="no studio extra: pip install 'stemboard[studio]'")

from starlette.testclient import TestClient

from stemboard.studio.app import create_app
from stemboard.studio.server import addresses, is_loopback
from stemboard.studio.workspace import Studio

RATE = 44100
SECONDS = 6.0
SOURCES = ("drums", "bass", "other", "vocals")
WAIT_SECONDS = 60.0
SIX_STEM_PRESETS = {"guitar_lead"}
"""Shipped presets that name guitar and piano: a four-stem studio does not offer them."""


def song_audio(seconds: float = SECONDS, seed: int = 1) -> np.ndarray:
    """Stereo noise with a slow swell, quiet enough that no effect below clips it."""
    rng = np.random.default_rng(seed)
    n = round(seconds * RATE)
    swell = 0.5 + 0.5 * np.sin(np.linspace(0, 6 * np.pi, n))
    return (0.1 * swell * rng.standard_normal((2, n))).astype(np.float32)


@pytest.fixture
def song(tmp_path) -> Path:
    return write_audio(tmp_path / "song.wav", song_audio())


@pytest.fixture
def studio(tmp_path, identity_model):
    made = Studio(identity_model, out_dir=tmp_path / "out", cache=tmp_path / "cache")
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def client(studio):
    with TestClient(create_app(studio, ["testserver"])) as test_client:
        yield test_client


def wait_for(client: TestClient, path: str) -> dict:
    """Poll a track or a job until its work is done (or failed), for at most WAIT_SECONDS."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        answer = client.get(path).json()
        job = answer.get("job", answer)
        if job["state"] in ("done", "failed"):
            return answer
        time.sleep(0.05)
    pytest.fail(f"{path} still not done after {WAIT_SECONDS:g} s")


def upload(client: TestClient, path: Path, name: str | None = None) -> dict:
    answer = client.post(
        "/api/tracks", params={"name": name or path.name}, content=path.read_bytes()
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def opened(client: TestClient, path: Path) -> str:
    """Upload ``path`` and wait for its stems; the track's id."""
    track = upload(client, path)
    done = wait_for(client, f"/api/tracks/{track['id']}")
    assert done["job"]["state"] == "done", done
    assert done["stems_ready"] is True
    return track["id"]


def separated(studio: Studio, path: Path):
    """Open ``path`` in ``studio`` and wait for its stems; the track."""
    track = studio.open_file(path)
    deadline = time.monotonic() + WAIT_SECONDS
    while track.job.state not in ("done", "failed") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert track.job.state == "done", track.job.error
    return track


def error_of(answer, status: int) -> str:
    assert answer.status_code == status, (answer.status_code, answer.text)
    message = answer.json()["error"]
    assert "\n" not in message and "Traceback" not in message
    return message


PRESET = {
    "stemboard_preset": 1,
    "name": "studio_test",
    "stems": {
        "drums": {
            "chain": [
                {"plugin": "Gain", "gain_db": 4.0},
                {"plugin": "LowShelfFilter", "cutoff_frequency_hz": 200.0, "gain_db": 3.0},
            ],
            "gain_db": -2.0,
            "pan": 0.3,
        },
        "bass": {"chain": [{"plugin": "Gain", "gain_db": -6.0}]},
        "vocals": {"mute": True},
    },
    "master": [{"plugin": "Gain", "gain_db": -12.0}],
}


# -- the session, opening and separating ------------------------------------------------------


def test_info_describes_the_model_the_effects_and_the_limits(client, studio):
    info = client.get("/api/info").json()
    assert info["model"]["sources"] == list(SOURCES)
    assert info["model"]["sample_rate"] == RATE
    assert info["max_upload_bytes"] == studio.max_upload_bytes
    assert info["max_preview_seconds"] == 30
    assert info["out_dir"] == str(studio.out_dir)
    assert info["presets"] == four_stem_presets()
    ratio = info["effects"]["Compressor"]["parameters"]["ratio"]
    assert ratio["kind"] == "float" and ratio["low"] == 1.0
    assert "Reverb" in info["effects"] and "room_size" in info["effects"]["Reverb"]["parameters"]


def test_an_upload_is_separated_into_stems_the_page_can_play(client, song):
    track = upload(client, song)
    assert track["name"] == "song.wav" and track["sample_rate"] == RATE
    assert track["channels"] == 2 and track["frames"] == round(SECONDS * RATE)
    track_id = track["id"]
    done = wait_for(client, f"/api/tracks/{track_id}")
    assert done["stems_ready"] and done["job"]["kind"] == "separate"
    assert [t["id"] for t in client.get("/api/tracks").json()["tracks"]] == [track_id]

    mix, _ = read_audio(song)
    for stem in SOURCES:
        answer = client.get(f"/api/tracks/{track_id}/stems/{stem}.wav")
        assert answer.status_code == 200 and answer.headers["content-type"] == "audio/wav"
        path = song.parent / f"got-{stem}.wav"
        path.write_bytes(answer.content)
        audio, rate = read_audio(path)
        assert rate == RATE and audio.shape == mix.shape
        np.testing.assert_allclose(audio, mix, atol=1e-6)  # the identity model's stems

    found = client.get(f"/api/tracks/{track_id}/peaks", params={"buckets": 64}).json()
    assert found["buckets"] == 64 and set(found["peaks"]) == set(SOURCES)
    low, high = np.array(found["peaks"]["drums"]).T
    assert len(low) == 64 and np.all(low <= high)
    assert np.isclose(high.max(), mix.max(), atol=1e-4)


def test_a_song_opened_again_comes_from_the_cache(tmp_path, identity_model, song):
    first = Studio(identity_model, out_dir=tmp_path / "out", cache=tmp_path / "cache")
    try:
        folder = separated(first, song).stems
    finally:
        first.close()
    again = Studio(identity_model, out_dir=tmp_path / "out", cache=tmp_path / "cache")
    try:
        other = again.open_file(song)
        assert other.job.state == "done" and other.stems == folder  # no separation job ran
        assert again.jobs.jobs == {other.job.id: other.job}
    finally:
        again.close()
    changed = Studio(
        identity_model, out_dir=tmp_path / "out", cache=tmp_path / "cache", overlap=0.5
    )
    try:
        assert changed.open_file(song).stems is None  # other options: separated anew
    finally:
        changed.close()


def test_a_separation_killed_a_day_ago_leaves_nothing_behind(tmp_path, identity_model, song):
    cache = tmp_path / "cache"
    stale, fresh = cache / ".deadbeef.0001", cache / ".cafe.0002"
    for folder in (stale, fresh):
        folder.mkdir(parents=True)
        (folder / "drums.wav").write_bytes(b"half a file")
    day_ago = time.time() - 25 * 3600
    os.utime(stale, (day_ago, day_ago))
    studio = Studio(identity_model, out_dir=tmp_path / "out", cache=cache)
    try:
        track = separated(studio, song)
    finally:
        studio.close()
    # the stale folder is gone; one that may be another studio's separation running now stays
    assert sorted(p.name for p in cache.iterdir()) == sorted([track.stems.name, fresh.name])


def test_the_stem_cache_keeps_under_its_limit_dropping_the_least_recently_used(
    tmp_path, identity_model
):
    songs = [write_audio(tmp_path / f"s{i}.wav", song_audio(1.0, seed=i)) for i in range(4)]
    entry = 4 * 2 * 4 * RATE + 4096  # four stereo float stems of 1 s, and some headers
    cache = tmp_path / "cache"

    def studio(limit: int) -> Studio:
        return Studio(
            identity_model, out_dir=tmp_path / "out", cache=cache, cache_limit_bytes=limit
        )

    first = studio(10 * entry)
    try:
        folders = [separated(first, song).stems for song in songs[:3]]
    finally:
        first.close()
    os.utime(folders[0] / "stems.json", (1, 1))  # used long ago ...
    os.utime(folders[1] / "stems.json", (2, 2))
    os.utime(folders[2] / "stems.json", (3, 3))
    second = studio(3 * entry)
    try:
        assert separated(second, songs[0]).stems == folders[0]  # ... and now again: a hit
        newest = separated(second, songs[3]).stems  # four entries: one must go
    finally:
        second.close()
    assert sorted(p.name for p in cache.iterdir()) == sorted(
        [folders[0].name, folders[2].name, newest.name]
    )  # the least recently used went, not the oldest made

    third = studio(0)  # 0: only what this studio has open stays
    try:
        track = separated(third, songs[1])
        assert [p.name for p in cache.iterdir()] == [track.stems.name]
        assert third.stem_file(track.id, "drums").is_file()
    finally:
        third.close()


def test_stems_are_refused_until_they_are_separated(client, studio, song):
    gate = threading.Event()
    studio.jobs.submit("hold", lambda progress: gate.wait(WAIT_SECONDS) and [])  # the queue waits
    try:
        track = upload(client, song)
        assert track["job"]["state"] == "queued" and track["stems_ready"] is False
        for answer in (
            client.get(f"/api/tracks/{track['id']}/stems/drums.wav"),
            client.get(f"/api/tracks/{track['id']}/peaks"),
            client.post(
                f"/api/tracks/{track['id']}/preview",
                json={"preset": PRESET, "start": 0, "end": 1},
            ),
        ):
            assert "not separated yet" in error_of(answer, 409)
    finally:
        gate.set()
    assert wait_for(client, f"/api/tracks/{track['id']}")["stems_ready"]


# -- preview ----------------------------------------------------------------------------------


def whole_graph(studio: Studio, track_id: str, data: dict, names: list[str]) -> np.ndarray:
    """The graph run on all of the track's cached stems at once: what a preview cuts from."""
    track = studio.ready(track_id)
    graph = build_graph(studio.check_preset(data), separator=studio.node)
    stems = read_stems(track.stems, SOURCES, 0, track.info.frames)
    stream = graph.open_stream(RATE, channels=2, separated=True)
    ready, rest = stream.push(stems), stream.finish()
    return np.stack([np.concatenate([ready[n], rest[n]], axis=-1) for n in names])


def preview(client: TestClient, track_id: str, **body) -> tuple[list[str], np.ndarray]:
    answer = client.post(f"/api/tracks/{track_id}/preview", json=body)
    assert answer.status_code == 200, answer.text
    names = answer.headers["x-stemboard-outputs"].split(",")
    frames = int(answer.headers["x-stemboard-frames"])
    assert float(answer.headers["x-stemboard-sample-rate"]) == RATE
    audio = np.frombuffer(answer.content, dtype="<f4").reshape(len(names), 2, frames)
    return names, audio


@pytest.mark.parametrize("start, end", [(2.0, 4.5), (0.0, 1.0), (5.0, SECONDS)])
def test_a_mix_preview_is_the_graphs_mix_over_the_region(client, studio, song, start, end):
    track_id = opened(client, song)
    names, audio = preview(client, track_id, preset=PRESET, start=start, end=end, mode="mix")
    assert names == ["mix"]
    first, stop = round(start * RATE), round(end * RATE)
    expected = whole_graph(studio, track_id, PRESET, ["mix"])[..., first:stop]
    assert audio.shape == expected.shape
    # the chains start a second early, so a filter's state has settled by the region
    np.testing.assert_allclose(audio, expected, atol=1e-5)
    assert np.abs(audio).max() > 0.01


def test_a_stems_preview_runs_each_stems_chain_and_leaves_levels_to_the_page(client, studio, song):
    track_id = opened(client, song)
    names, audio = preview(client, track_id, preset=PRESET, start=1.0, end=3.0, mode="stems")
    assert names == list(SOURCES)
    chains_only = {
        "stemboard_preset": 1,
        "stems": {
            name: {"chain": s["chain"]} for name, s in PRESET["stems"].items() if "chain" in s
        },
        "outputs": {"mix": False, "stems": list(SOURCES)},
    }
    expected = whole_graph(studio, track_id, chains_only, list(SOURCES))[
        ..., round(1.0 * RATE) : round(3.0 * RATE)
    ]
    np.testing.assert_allclose(audio, expected, atol=1e-5)
    mix, _ = read_audio(song)
    # vocals are muted in the preset, but a stems preview plays them: the page mutes them
    np.testing.assert_allclose(audio[3], mix[:, RATE : 3 * RATE], atol=1e-6)
    assert np.allclose(audio[1], 10 ** (-6 / 20) * mix[:, RATE : 3 * RATE], atol=1e-6)


@pytest.mark.parametrize(
    "body, message",
    [
        ({"start": 3.0, "end": 2.0}, r"the region \[3, 2\] s is not inside the track"),
        ({"start": -1.0, "end": 2.0}, "is not inside the track"),
        ({"start": 0.0, "end": SECONDS + 1}, "is not inside the track"),
        ({"start": "0", "end": 2.0}, "start must be a number of seconds"),
        ({"start": 0.0, "end": True}, "end must be a number of seconds"),
        ({"start": 0.0, "end": 2.0, "mode": "loud"}, "mode must be 'stems' or 'mix'"),
        ({"start": 0.0, "end": 2.0, "preset": []}, "expected a preset mapping"),
        (
            {
                "start": 0.0,
                "end": 2.0,
                "preset": {
                    "stemboard_preset": 1,
                    "stems": {"drums": {"chain": [{"plugin": "Reverbb"}]}},
                },
            },
            "Reverbb",
        ),
        (
            {
                "start": 0.0,
                "end": 2.0,
                "preset": {
                    "stemboard_preset": 1,
                    "stems": {"drums": {"chain": [{"plugin": "Reverb", "room_size": 5}]}},
                },
            },
            "room_size",
        ),
        (
            {"start": 0.0, "end": 2.0, "preset": {"stemboard_preset": 1, "stems": {"guitar": {}}}},
            "guitar",
        ),
    ],
)
def test_a_bad_preview_request_is_refused_with_a_reason(client, song, body, message):
    track_id = opened(client, song)
    body = {"preset": {"stemboard_preset": 1}, "mode": "mix", **body}
    answer = client.post(f"/api/tracks/{track_id}/preview", json=body)
    assert re.search(message, error_of(answer, 400))


def test_a_preview_is_at_most_thirty_seconds(client, tmp_path):
    long_song = write_audio(tmp_path / "long.wav", song_audio(32.0))
    track_id = opened(client, long_song)
    answer = client.post(
        f"/api/tracks/{track_id}/preview",
        json={"preset": {"stemboard_preset": 1}, "start": 0, "end": 31},
    )
    assert "a preview is at most 30 s" in error_of(answer, 400)


def test_the_studio_loads_no_external_plugin(client):
    preset = {
        "stemboard_preset": 1,
        "stems": {"drums": {"chain": [{"plugin": "external", "path": "/tmp/evil.vst3"}]}},
    }
    for path in ("/api/presets/check", "/api/presets/save"):
        answer = client.post(path, json={"preset": preset, "filename": "evil"})
        assert "external plugin '/tmp/evil.vst3' refused" in error_of(answer, 400)
    effects = client.get("/api/info").json()["effects"]
    assert not {"external", "VST3Plugin", "AudioUnitPlugin"} & set(effects)


def test_another_host_is_served_only_when_asked_and_with_a_warning(studio, monkeypatch, caplog):
    import uvicorn

    from stemboard.studio import server

    served, bind = [], server.bind

    def loopback_instead(host: str, port: int) -> socket.socket:  # the test binds loopback only
        served.append(host)
        return bind("127.0.0.1", 0)

    monkeypatch.setattr(server, "bind", loopback_instead)
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: None)
    said: list[str] = []
    with caplog.at_level("WARNING", logger="stemboard.studio.server"):
        server.serve(studio, "192.0.2.7", 0, open_browser=False, say=said.append)
    assert served == ["192.0.2.7"]
    assert "serving on 192.0.2.7: anyone who can reach this machine" in caplog.text
    assert said[0].startswith("stemboard studio: http://192.0.2.7:")
    assert said[-1].startswith("stemboard studio: stopped")
    caplog.clear()
    with caplog.at_level("WARNING", logger="stemboard.studio.server"):
        server.serve(studio, "127.0.0.1", 0, open_browser=False, say=said.append)
    assert caplog.text == ""


def test_the_studio_answers_to_its_loopback_names_only():
    assert addresses("127.0.0.1", 8000) == ["127.0.0.1:8000", "[::1]:8000", "localhost:8000"]
    assert addresses("::1", 8000) == ["127.0.0.1:8000", "[::1]:8000", "localhost:8000"]
    assert addresses("192.0.2.7", 8000) == ["192.0.2.7:8000"]  # --host: that name only
    assert is_loopback("localhost") and is_loopback("127.0.0.2") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.7")


def test_a_body_that_is_not_a_json_object_is_refused(client, song):
    track_id = opened(client, song)
    answer = client.post(f"/api/tracks/{track_id}/preview", content=b"{not json")
    assert error_of(answer, 400) == "the request body is not JSON"
    answer = client.post(f"/api/tracks/{track_id}/export", json=[1, 2])
    assert error_of(answer, 400) == "expected a JSON object"


# -- presets ----------------------------------------------------------------------------------


def four_stem_presets() -> list[str]:
    return [path.stem for path in shipped_presets() if path.stem not in SIX_STEM_PRESETS]


def test_every_shipped_preset_for_four_stems_loads_with_the_studios_model(client, studio):
    names = client.get("/api/presets").json()["presets"]
    assert names and names == four_stem_presets()
    for name in names:
        answer = client.get(f"/api/presets/{name}")
        assert answer.status_code == 200, (name, answer.text)
        data = answer.json()["preset"]
        assert data["model"]["name"] == studio.model.name  # the studio's model, not the file's
    for name in SIX_STEM_PRESETS:
        said = error_of(client.get(f"/api/presets/{name}"), 400)
        assert "unknown stems 'guitar', 'piano' (the model has: drums, bass, other, vocals)" in said
    assert "no shipped preset 'nope'" in error_of(client.get("/api/presets/nope"), 404)


def test_a_saved_preset_reads_back_as_the_same_data(client, studio):
    checked = client.post("/api/presets/check", json={"preset": PRESET}).json()["preset"]
    answer = client.post("/api/presets/save", json={"preset": PRESET, "filename": "mine.yaml"})
    assert answer.status_code == 200, answer.text
    saved = answer.json()
    assert saved["path"] == str(studio.out_dir / "mine.yaml")
    assert Path(saved["path"]).read_text(encoding="utf-8") == saved["yaml"]
    back = client.post("/api/presets/parse", json={"yaml": saved["yaml"], "name": "mine.yaml"})
    assert back.json()["preset"] == checked
    assert checked["stems"]["vocals"]["mute"] is True


@pytest.mark.parametrize("filename", ["../escape", "a/b", "", ".hidden", "x" * 65, None, 3])
def test_a_preset_file_name_cannot_leave_the_out_folder(client, studio, filename):
    answer = client.post("/api/presets/save", json={"preset": PRESET, "filename": filename})
    assert "preset file name" in error_of(answer, 400)
    assert not list(studio.out_dir.parent.rglob("escape*"))
    assert not studio.out_dir.exists() or not list(studio.out_dir.iterdir())


def test_a_preset_file_with_an_error_is_refused_where_it_is_wrong(client):
    text = "stemboard_preset: 1\nstems:\n  drums:\n    chain: [{plugin: Reverb, room_size: 3}]\n"
    answer = client.post("/api/presets/parse", json={"yaml": text, "name": "../../bad.yaml"})
    message = error_of(answer, 400)
    assert message.startswith("bad.yaml: stems.drums.chain[0]: Reverb.room_size=3")
    answer = client.post("/api/presets/parse", json={"yaml": "a: [", "name": "broken.yaml"})
    assert "broken.yaml" in error_of(answer, 400)
    assert "bus name 'master' is reserved" in error_of(
        client.post(
            "/api/presets/check",
            json={"preset": {"stemboard_preset": 1, "buses": {"master": {"inputs": ["drums"]}}}},
        ),
        400,
    )


# -- export -----------------------------------------------------------------------------------


def test_an_export_writes_what_stemboard_render_writes_with_the_saved_preset(
    client, studio, song, tmp_path, capsys
):
    track_id = opened(client, song)
    data = {**PRESET, "outputs": {"mix": True, "stems": ["drums"], "format": "wav"}}
    answer = client.post(f"/api/tracks/{track_id}/export", json={"preset": data})
    assert answer.status_code == 202, answer.text
    job = wait_for(client, f"/api/jobs/{answer.json()['id']}")
    assert job["state"] == "done" and job["kind"] == "export", job
    assert [f["name"] for f in job["files"]] == ["mix", "drums"]

    saved = client.post("/api/presets/save", json={"preset": data, "filename": "exported"})
    rendered = tmp_path / "rendered"
    code = cli.main(["render", saved.json()["path"], str(song), "-o", str(rendered)])
    assert code == 0, capsys.readouterr().err
    for index, file in enumerate(job["files"]):
        path = Path(file["path"])
        assert path.is_relative_to(studio.out_dir)
        answer = client.get(f"/api/exports/{job['id']}/{index}")
        assert answer.status_code == 200 and answer.content == path.read_bytes()
        theirs = rendered / path.relative_to(studio.out_dir)
        ours_audio, _ = read_audio(path)
        their_audio, _ = read_audio(theirs)
        assert np.array_equal(ours_audio, their_audio), file["name"]
        assert np.abs(ours_audio).max() > 0.001
    assert "no file 2" in error_of(client.get(f"/api/exports/{job['id']}/2"), 404)


def test_an_export_writes_the_daw_sessions_ticked_as_stemboard_render_writes_them(
    client, studio, song, tmp_path, capsys
):
    track_id = opened(client, song)
    outputs = {"mix": False, "sessions": ["dawproject", "rpp"], "session_chains": "dry"}
    data = {**PRESET, "buses": {"rhythm": {"inputs": ["drums", "bass"]}}, "outputs": outputs}
    answer = client.post(f"/api/tracks/{track_id}/export", json={"preset": data})
    assert answer.status_code == 202, answer.text
    job = wait_for(client, f"/api/jobs/{answer.json()['id']}")
    assert job["state"] == "done", job
    assert [f["name"] for f in job["files"]] == ["session:dawproject", "session:rpp"]
    folder = studio.out_dir / "song"
    assert sorted(p.name for p in folder.iterdir()) == [
        "studio_test-media",
        "studio_test.dawproject",
        "studio_test.rpp",
    ]
    dawproject = zipfile.ZipFile(folder / "studio_test.dawproject")
    project = ElementTree.fromstring(dawproject.read("project.xml"))
    (rhythm,) = [t for t in project.iter("Track") if t.get("name") == "rhythm"]
    assert rhythm.get("contentType") == "tracks"
    assert [t.get("name") for t in rhythm.findall("Track")] == ["drums", "bass"]
    (drums,) = [t for t in project.iter("Track") if t.get("name") == "drums"]
    assert [d.tag for d in drums.findall("Channel/Devices/*")] == ["Equalizer"]  # dry: its shelf
    answer = client.get(f"/api/exports/{job['id']}/0")
    assert answer.content == (folder / "studio_test.dawproject").read_bytes()

    saved = client.post("/api/presets/save", json={"preset": data, "filename": "sessions"})
    assert "sessions:" in saved.json()["yaml"]
    rendered = tmp_path / "rendered"
    code = cli.main(["render", saved.json()["path"], str(song), "-o", str(rendered)])
    assert code == 0, capsys.readouterr().err
    theirs = rendered / "song"
    assert (folder / "studio_test.rpp").read_text() == (theirs / "studio_test.rpp").read_text()
    media = sorted(p.name for p in (theirs / "studio_test-media").iterdir())
    assert media == ["bass.wav", "drums.wav", "other.wav", "vocals.wav"]
    for name in media:
        ours = (folder / "studio_test-media" / name).read_bytes()
        assert ours == (theirs / "studio_test-media" / name).read_bytes(), name
    their_project = zipfile.ZipFile(theirs / "studio_test.dawproject")
    assert dawproject.namelist() == their_project.namelist()
    for name in dawproject.namelist():
        assert dawproject.read(name) == their_project.read(name), name


def test_closing_the_studio_cancels_an_export_and_leaves_no_file(tmp_path, identity_model):
    long_song = write_audio(tmp_path / "long.wav", song_audio(120.0))
    studio = Studio(identity_model, out_dir=tmp_path / "out", cache=tmp_path / "cache")
    closed = False
    try:
        track = separated(studio, long_song)
        deadline = time.monotonic() + WAIT_SECONDS
        slow = {
            "stemboard_preset": 1,
            "stems": {s: {"chain": [{"plugin": "Reverb"}, {"plugin": "Chorus"}]} for s in SOURCES},
            "outputs": {"mix": True, "stems": list(SOURCES)},
        }
        job = studio.export(track.id, slow)
        while job.state == "queued" and time.monotonic() < deadline:
            time.sleep(0.01)
        while job.progress == 0 and job.state == "running" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert job.state == "running", job.to_json()  # two minutes of reverbs take a while
        studio.close()
        closed = True
        assert job.state == "failed" and job.error == "cancelled: the studio closed"
        assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    finally:
        if not closed:
            studio.close()


# -- uploads and the guard --------------------------------------------------------------------


def test_an_upload_over_the_limit_is_refused_and_leaves_nothing(tmp_path, identity_model, song):
    studio = Studio(
        identity_model, out_dir=tmp_path / "out", cache=tmp_path / "cache", max_upload_bytes=4096
    )
    try:
        with TestClient(create_app(studio, ["testserver"])) as client:
            body = song.read_bytes()
            answer = client.post("/api/tracks", params={"name": "big.wav"}, content=body)
            assert "big.wav: larger than the upload limit" in error_of(answer, 413)

            def chunks():  # no Content-Length: the limit holds while the body streams in
                for start in range(0, len(body), 1000):
                    yield body[start : start + 1000]

            answer = client.post("/api/tracks", params={"name": "big.wav"}, content=chunks())
            assert "larger than the upload limit" in error_of(answer, 413)
            assert list(studio.uploads.iterdir()) == []
            assert client.get("/api/tracks").json()["tracks"] == []
    finally:
        studio.close()
    assert not studio.uploads.exists()


@pytest.mark.parametrize(
    "name, body, message",
    [
        ("notes.wav", b"this is not audio at all" * 100, r"^notes\.wav: "),
        ("empty.wav", b"", r"^empty\.wav: the upload is empty$"),
        ("", b"RIFF", r"name the uploaded file"),
        ("..", b"RIFF", r"is not a usable file name"),
    ],
)
def test_an_upload_that_is_not_audio_is_refused_by_its_name(client, studio, name, body, message):
    answer = client.post("/api/tracks", params={"name": name}, content=body)
    said = error_of(answer, 400)
    assert re.search(message, said) and str(studio.uploads) not in said
    assert list(studio.uploads.iterdir()) == []


def test_an_uploads_name_cannot_choose_where_it_is_stored(client, studio, song):
    track = upload(client, song, name="../../../etc/evil.wav")
    assert track["name"] == "evil.wav"
    stored = studio.track(track["id"]).path
    assert stored.parent.parent == studio.uploads.resolve()


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "http://evil.example"},
        {"origin": "null"},
        {"origin": "http://testserver.evil.example"},
        {"host": "evil.example"},
        {"host": "127.0.0.1:1"},
    ],
)
def test_a_request_from_another_site_or_host_is_refused(client, headers):
    for method, path in [("GET", "/api/info"), ("GET", "/"), ("POST", "/api/presets/check")]:
        answer = client.request(method, path, headers=headers, json={"preset": {}})
        assert error_of(answer, 403).startswith("refused:")


def test_the_pages_own_origin_is_welcome_and_answers_carry_the_security_headers(client):
    answer = client.get("/api/info", headers={"origin": "http://testserver"})
    assert answer.status_code == 200
    for page in ("/", "/static/main.js", "/api/info"):
        headers = client.get(page).headers
        assert "default-src 'self'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "path",
    [
        "/static/../pyproject.toml",
        "/static/%2e%2e/%2e%2e/pyproject.toml",
        "/static/..%2f..%2fpyproject.toml",
        "/api/exports/..%2f..%2f/0",
        "/api/tracks/nope/stems/..%2f..%2fpyproject.wav",
        "/api/nowhere",
    ],
)
def test_no_path_reaches_a_file_outside_the_page(client, path):
    answer = client.get(path)
    assert answer.status_code == 404
    assert b"[project]" not in answer.content


def test_unknown_ids_are_not_found(client, song):
    assert "no track 'nope'" in error_of(client.get("/api/tracks/nope"), 404)
    assert "no job 'nope'" in error_of(client.get("/api/jobs/nope"), 404)
    assert "no export 'nope'" in error_of(client.get("/api/exports/nope/0"), 404)
    track_id = opened(client, song)
    answer = client.get(f"/api/tracks/{track_id}/stems/guitar.wav")
    assert "no stem 'guitar'" in error_of(answer, 404)
    answer = client.get(f"/api/tracks/{track_id}/peaks", params={"buckets": "lots"})
    assert "buckets must be a whole number" in error_of(answer, 400)
    answer = client.get(f"/api/tracks/{track_id}/peaks", params={"buckets": 8})
    assert "buckets must be in [16, 16384]" in error_of(answer, 400)


# -- the command ------------------------------------------------------------------------------


STEMBOARD = [sys.executable, "-m", "stemboard.cli"]
URL_LINE = re.compile(r"stemboard studio: (http://127\.0\.0\.1:(\d+)/) \(Ctrl-C to stop\)")


def test_stemboard_studio_serves_on_loopback_and_stops_on_ctrl_c(tmp_path, identity_model, song):
    env = {**os.environ, "STEMBOARD_CACHE": str(tmp_path / "cache")}
    out = tmp_path / "studio-out"
    command = [*STEMBOARD, "studio", str(song), "--model", str(identity_model)]
    process = subprocess.Popen(
        [*command, "--no-browser", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = process.stdout.readline()  # blocks until the studio listens (or exits)
        found = URL_LINE.search(line)
        assert found, line + process.stderr.read()
        url = found.group(1)
        with urllib.request.urlopen(url + "api/info", timeout=10) as answer:
            info = json.load(answer)
        assert info["model"]["name"] == str(identity_model)
        with urllib.request.urlopen(url + "api/tracks", timeout=10) as answer:
            (track,) = json.load(answer)["tracks"]  # the file named on the command line
        assert track["name"] == "song.wav"
        foreign = urllib.request.Request(
            url + "api/info", headers={"Origin": "http://evil.example"}
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(foreign, timeout=10)
        assert refused.value.code == 403
    finally:
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert f"stemboard studio: stopped; saved presets and exports are in {out}" in stdout


def test_stemboard_studio_with_a_missing_file_says_so_in_one_line(tmp_path, identity_model):
    done = subprocess.run(
        [*STEMBOARD, "studio", str(tmp_path / "missing.wav"), "--model", str(identity_model)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "STEMBOARD_CACHE": str(tmp_path / "cache")},
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        f"stemboard: error: {tmp_path / 'missing.wav'}: no such file"
    ]


def test_stemboard_studio_says_in_one_line_when_its_port_is_taken(tmp_path, identity_model):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        command = ["studio", "--model", str(identity_model), "--no-browser", "--port", str(port)]
        done = subprocess.run(
            [*STEMBOARD, *command],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "STEMBOARD_CACHE": str(tmp_path / "cache")},
        )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"stemboard: error: cannot listen on 127.0.0.1:{port}: ")
    done = subprocess.run(
        [*STEMBOARD, "studio", "--model", str(identity_model), "--port", "99999"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "stemboard studio: error: argument --port: expected a port in [0, 65535], got '99999'"
    )
