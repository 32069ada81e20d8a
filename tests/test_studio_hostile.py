"""The studio under hostile input: whatever a client sends or does, the studio answers below 500,
every refusal is a 4xx ``{"error": "one line"}``, and its terminal shows no traceback.

The requests go through Starlette's test client, which raises whatever the app lets out (so a
request that would be a 500 fails its test), and, where the issue is the terminal or Ctrl-C,
to the ``stemboard studio`` command itself over sockets on 127.0.0.1. Every loop of requests is
bounded in count, every wait in time.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.audio_files import write_audio

pytest.importorskip("starlette", reason="no studio extra: pip install 'stemboard[studio]'")

from starlette.testclient import TestClient

from stemboard.studio.app import create_app
from stemboard.studio.request_data import MAX_BODY_BYTES, MAX_DEPTH, MAX_VALUES
from stemboard.studio.server import STOP_SECONDS
from stemboard.studio.workspace import Studio

RATE = 44100
WAIT_SECONDS = 60.0
PRESET = {"stemboard_preset": 1}
HUGE = "9" * 400  # a whole number far beyond a float's range
DEEP = 100_000


def song_audio(seconds: float) -> np.ndarray:
    rng = np.random.default_rng(3)
    return (0.1 * rng.standard_normal((2, round(seconds * RATE)))).astype(np.float32)


@pytest.fixture
def song(tmp_path) -> Path:
    return write_audio(tmp_path / "song.wav", song_audio(2.0))


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


@pytest.fixture
def track_id(client, song) -> str:
    """A track whose stems are ready."""
    answer = client.post("/api/tracks", params={"name": "song.wav"}, content=song.read_bytes())
    assert answer.status_code == 201, answer.text
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        track = client.get(f"/api/tracks/{answer.json()['id']}").json()
        if track["job"]["state"] in ("done", "failed"):
            assert track["stems_ready"], track
            return track["id"]
        time.sleep(0.02)
    pytest.fail(f"not separated after {WAIT_SECONDS:g} s")


def refused(answer, status: int = 400) -> str:
    """The one-line error of a refusal with ``status``."""
    assert answer.status_code == status, (answer.status_code, answer.text[:300])
    assert answer.headers["content-type"] == "application/json"
    message = answer.json()["error"]
    assert message and "\n" not in message and "Traceback" not in message
    assert len(message) < 500, message
    return message


def json_endpoints(track_id: str) -> list[str]:
    return [
        "/api/presets/check",
        "/api/presets/parse",
        "/api/presets/save",
        f"/api/tracks/{track_id}/preview",
        f"/api/tracks/{track_id}/export",
    ]


# -- JSON bodies ------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["body", "preset"])
def test_json_nested_100000_deep_is_refused_by_every_json_endpoint(client, track_id, where):
    deep = "[" * DEEP + "]" * DEEP
    body = deep if where == "body" else f'{{"preset": {deep}, "start": 0, "end": 1}}'
    for path in json_endpoints(track_id):
        message = refused(client.post(path, content=body))
        assert message == f"the request body is nested deeper than {MAX_DEPTH} levels", path


def test_json_nested_past_the_limit_is_refused_where_it_is(client, track_id):
    name = "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5)
    body = f'{{"preset": {{"stemboard_preset": 1, "name": {name}}}, "start": 0, "end": 1}}'
    for path in json_endpoints(track_id):
        message = refused(client.post(path, content=body))
        assert message.startswith("the request body: preset.name[0][0]"), message
        assert message.endswith(f"nested deeper than {MAX_DEPTH} levels")


@pytest.mark.parametrize(
    "number, message",
    [
        ("NaN", "the request body is not JSON: NaN is not a JSON number"),
        ("Infinity", "the request body is not JSON: Infinity is not a JSON number"),
        ("-Infinity", "the request body is not JSON: -Infinity is not a JSON number"),
        ("1e999", "the number '1e999' is beyond the range of a float"),
        ("-1e999", "the number '-1e999' is beyond the range of a float"),
        (HUGE, "the number '999999999"),
        ("-" + "9" * 5000, "the number '-99999999"),  # past int()'s 4300 digits
    ],
)
def test_numbers_beyond_a_float_are_refused_in_every_json_field(client, track_id, number, message):
    bodies = [
        '{"preset": {"stemboard_preset": 1}, "start": V, "end": 1}',
        '{"preset": {"stemboard_preset": 1}, "start": 0, "end": V}',
        '{"preset": {"stemboard_preset": 1, "tail_seconds": V}, "start": 0, "end": 1}',
        '{"preset": {"stemboard_preset": 1, "stems": {"drums": {"gain_db": V}}}}',
        '{"preset": {"stemboard_preset": 1, "stems": {"drums": {"pan": V}}}}',
        '{"preset": {"stemboard_preset": 1, "buses": {"b": {"inputs": ["drums"], "gain_db": V}}}}',
    ]
    for body in bodies:
        for path in json_endpoints(track_id):
            answer = client.post(path, content=body.replace("V", number))
            assert refused(answer).startswith(message), (path, body)


def test_an_integer_beyond_a_float_is_refused_with_its_key_path(client, track_id):
    beyond = str(2 * 10**308)  # few enough digits for JSON to read, too many for a float
    body = '{"preset": {"stemboard_preset": 1, "stems": {"drums": {"gain_db": V}}}}'
    for path in json_endpoints(track_id):
        assert refused(client.post(path, content=body.replace("V", beyond))) == (
            "the request body: preset.stems.drums.gain_db: "
            "an integer of 309 digits is beyond the range of a float"
        )


def test_a_preview_bound_of_400_digits_is_refused_with_a_reason(studio, song):
    track = studio.open_file(song)
    deadline = time.monotonic() + WAIT_SECONDS
    while track.job.state != "done" and time.monotonic() < deadline:
        time.sleep(0.02)
    # the Python API too: the bound is formatted into the message, and a float cannot hold it
    for start, end in [(0, 10**400), (10**400, 1), (-(10**400), 1), (0, float("nan"))]:
        with pytest.raises(ValueError, match=r"^(start|end) must be a number of seconds, got "):
            studio.preview(track.id, PRESET, start, end, "mix")


def test_text_that_is_not_unicode_is_refused(client, track_id):
    surrogate = '"\\ud800"'  # JSON's escape for half of a UTF-16 pair, alone
    bodies = [
        '{"preset": {"stemboard_preset": 1, "name": V}, "start": 0, "end": 1}',
        '{"preset": {"stemboard_preset": 1, "stems": {V: {}}}, "start": 0, "end": 1}',
        '{"preset": {"stemboard_preset": 1}, "filename": V, "yaml": "a: 1"}',
        '{"preset": {"stemboard_preset": 1}, "name": V, "yaml": "a: 1"}',
    ]
    for body in bodies:
        for path in json_endpoints(track_id):
            message = refused(client.post(path, content=body.replace("V", surrogate)))
            assert "is not Unicode text (it holds a lone surrogate)" in message, (path, body)


@pytest.mark.parametrize(
    "body, message",
    [
        (b"", "the request body is not JSON"),
        (b"\xff\xfe{", "the request body is not JSON"),
        (b"null", "expected a JSON object"),
        (b'"preset"', "expected a JSON object"),
        (b"3", "expected a JSON object"),
        (b'{"preset": "x", "start": 0, "end": 1}', "expected a preset mapping, got str"),
        (b'{"preset": [], "start": 0, "end": 1}', "expected a preset mapping, got list"),
    ],
)
def test_a_body_of_the_wrong_shape_is_refused(client, track_id, body, message):
    paths = json_endpoints(track_id)
    if "expected a preset" in message:  # parse reads "yaml"; save checks "filename" first
        paths = [path for path in paths if not path.endswith(("/parse", "/save"))]
    for path in paths:
        assert message in refused(client.post(path, content=body)), path


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("mode", [], r"^mode must be 'stems' or 'mix', got \[\]$"),
        ("mode", "x" * 10_000, r"^mode must be 'stems' or 'mix', got 'xxx.*\.\.\.$"),
        ("start", "0", r"^start must be a number of seconds, got '0'$"),
        ("start", None, r"^start must be a number of seconds, got None$"),
        ("end", {"s": 1}, r"^end must be a number of seconds, got \{'s': 1\}$"),
        ("end", 1e-9, r"^the region \[0, 1e-09\] s is shorter than one sample"),
        ("end", 1e308, r"^the region \[0, 1e\+308\] s is not inside the track"),
    ],
)
def test_a_preview_field_of_the_wrong_type_or_size_is_refused(
    client, track_id, field, value, message
):
    body = {"preset": PRESET, "start": 0, "end": 1, "mode": "mix", field: value}
    answer = client.post(f"/api/tracks/{track_id}/preview", json=body)
    assert re.search(message, refused(answer))


def test_a_json_body_over_the_limit_is_refused_before_it_is_read(client, track_id):
    big = json.dumps({"preset": PRESET, "padding": "x" * MAX_BODY_BYTES}).encode()
    for path in json_endpoints(track_id):
        assert "the request body is larger than 1 MB" in refused(
            client.post(path, content=big), 413
        )

        def chunks():  # no Content-Length: the limit holds while the body streams in
            for start in range(0, len(big), 65536):
                yield big[start : start + 65536]

        assert "larger than 1 MB" in refused(client.post(path, content=chunks()), 413)


def test_every_json_endpoint_refuses_hostile_preset_values_with_a_reason(client, track_id):
    """A sweep: each hostile value in each place of a preset, to each endpoint (bounded)."""
    places = [
        '{"stemboard_preset": V}',
        '{"stemboard_preset": 1, "name": V}',
        '{"stemboard_preset": 1, "tail_seconds": V}',
        '{"stemboard_preset": 1, "stems": V}',
        '{"stemboard_preset": 1, "stems": {"drums": V}}',
        '{"stemboard_preset": 1, "stems": {"drums": {"gain_db": V, "pan": V, "mute": V}}}',
        '{"stemboard_preset": 1, "stems": {"drums": {"chain": V}}}',
        '{"stemboard_preset": 1, "stems": {"drums": {"chain": [{"plugin": V}]}}}',
        '{"stemboard_preset": 1, "stems": {"drums": {"chain": [{"plugin": "Reverb", '
        '"room_size": V}]}}}',
        '{"stemboard_preset": 1, "stems": {"drums": {"chain": [{"plugin": "Bitcrush", '
        '"bit_depth": V}]}}}',
        '{"stemboard_preset": 1, "master": V}',
        '{"stemboard_preset": 1, "buses": V}',
        '{"stemboard_preset": 1, "buses": {"b": {"inputs": V, "gain_db": V}}}',
        '{"stemboard_preset": 1, "outputs": V}',
        '{"stemboard_preset": 1, "outputs": {"stems": V, "format": V, "bit_depth": V}}',
        '{"stemboard_preset": 1, "model": V}',
    ]
    values = ["1" + "0" * 300, "-1e308", "1e-320", "-0.0", '"x"', '""', "[]", "{}", "null", "true"]
    paths = ["/api/presets/check", "/api/presets/save", f"/api/tracks/{track_id}/preview"]
    deadline = time.monotonic() + 120
    for place in places:
        for value in values:
            preset = place.replace("V", value)
            body = f'{{"preset": {preset}, "start": 0, "end": 0.5, "filename": "p"}}'
            for path in paths:
                answer = client.post(path, content=body)
                assert answer.status_code < 500, (path, body)
                if answer.status_code >= 400:
                    refused(answer, answer.status_code)
            assert time.monotonic() < deadline, "the sweep took over two minutes"


# -- preset files (YAML) ----------------------------------------------------------------------


def parse(client: TestClient, text: str):
    return client.post("/api/presets/parse", json={"yaml": text, "name": "mine.yaml"})


def test_yaml_nested_very_deep_is_refused(client):
    for text in ["[" * DEEP + "]" * DEEP, "{a: " * 20_000 + "1" + "}" * 20_000]:
        assert refused(parse(client, text)) == "mine.yaml: invalid YAML: nested too deeply"
    # deep enough to trouble the checks after it, not the reader
    text = "stemboard_preset: 1\nname: " + "[" * 200 + "]" * 200
    message = refused(parse(client, text))
    assert message.startswith("mine.yaml: name[0][0]")
    assert message.endswith(f"nested deeper than {MAX_DEPTH} levels")
    assert refused(parse(client, "a: &a [*a]")).endswith("nested deeper than 32 levels")


def test_a_yaml_alias_bomb_is_refused_without_expanding_it(client):
    lines = ["stemboard_preset: 1", "l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 9)]
    lines.append("name: *l8")  # 10^9 strings, once expanded
    started = time.monotonic()
    assert refused(parse(client, "\n".join(lines))) == f"mine.yaml: more than {MAX_VALUES} values"
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    "text, message",
    [
        ("stemboard_preset: 1\ntail_seconds: " + HUGE, "tail_seconds: an integer of 400 digits"),
        ("stemboard_preset: 1\ntail_seconds: 0x" + "f" * 5000, "an integer of 6021 digits"),
        ("stemboard_preset: 1\ntail_seconds: " + "9" * 5000, "invalid YAML: Exceeds the limit"),
        ("stemboard_preset: 1\nstems: {drums: {gain_db: -" + HUGE + "}}", "stems.drums.gain_db:"),
        ("stemboard_preset: 1\nname: 2001-13-45", "invalid YAML: month must be in 1..12"),
        ('stemboard_preset: 1\nname: "\\ud800"', "name: '\\ud800' is not Unicode text"),
        ("stemboard_preset: 1\ntail_seconds: .nan", "tail_seconds: nan is out of range"),
        ("stemboard_preset: 1\ntail_seconds: -.inf", "tail_seconds: -inf is out of range"),
    ],
)
def test_a_preset_file_with_a_value_python_cannot_use_is_refused(client, text, message):
    said = refused(parse(client, text))
    assert said.startswith("mine.yaml: ") and message in said


# -- query and path parameters ----------------------------------------------------------------


@pytest.mark.parametrize("buckets", ["²", "①", "٣٣", "１６", "9" * 5000, "1e3", "-16", " 16"])
def test_peaks_buckets_must_be_ascii_digits(client, track_id, buckets):
    answer = client.get(f"/api/tracks/{track_id}/peaks", params={"buckets": buckets})
    assert refused(answer).startswith("buckets must be a whole number of at most 9 digits, got ")


def test_an_export_index_of_any_length_is_not_found(client):
    for index in ["9" * 5000, "²", "-1", "0x1"]:
        assert refused(client.get(f"/api/exports/nope/{index}"), 404).startswith("not found: ")
    assert refused(client.get("/api/exports/nope/0"), 404) == "no export 'nope'"


def test_a_content_length_of_any_form_is_no_trouble(client):
    for declared in [b"9" * 400, "²".encode("latin-1")]:  # uvicorn refuses these itself
        answer = client.post(
            "/api/tracks",
            params={"name": "a.wav"},
            content=b"RIFF",
            headers={"content-length": declared},
        )
        assert answer.status_code in (400, 413)
        refused(answer, answer.status_code)


def test_a_method_a_route_does_not_take_is_a_json_405(client):
    for method, path in [
        ("PUT", "/api/presets/check"),
        ("DELETE", "/api/tracks"),
        ("GET", "/api/tracks/nope/preview"),
        ("POST", "/api/info"),
    ]:
        message = refused(client.request(method, path), 405)
        assert message == f"{method} {path}: Method Not Allowed"


# -- the command, on its terminal ---------------------------------------------------------------


STEMBOARD = [sys.executable, "-m", "stemboard.cli"]
URL_LINE = re.compile(r"stemboard studio: http://127\.0\.0\.1:(\d+)/ \(Ctrl-C to stop\)")
STOPPED = "stemboard studio: stopped; saved presets and exports are in "
TRACEBACK_WORDS = ("Traceback", "Error", "CancelledError", "ClientDisconnect", "Exception in")


class Running:
    """``stemboard studio FILE`` on 127.0.0.1, and raw connections to it."""

    def __init__(self, tmp_path: Path, model: Path, song: Path):
        command = [*STEMBOARD, "studio", str(song), "--model", str(model), "--no-browser"]
        self.process = subprocess.Popen(
            [*command, "--out", str(tmp_path / "studio-out")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "STEMBOARD_CACHE": str(tmp_path / "cache")},
        )
        self.held: list[socket.socket] = []
        ready, _, _ = select.select([self.process.stdout], [], [], WAIT_SECONDS)
        line = self.process.stdout.readline() if ready else ""
        found = URL_LINE.search(line)
        if not found:
            self.process.kill()
            pytest.fail(f"the studio did not start: {line!r} {self.process.stderr.read()}")
        self.port = int(found.group(1))
        self.host = f"127.0.0.1:{self.port}"

    def connect(self, receive_buffer: int | None = None) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.settimeout(10)
        sock.connect(("127.0.0.1", self.port))
        self.held.append(sock)
        return sock

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, dict]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=body)
            answer = connection.getresponse()
            return answer.status, json.loads(answer.read() or b"{}")
        finally:
            connection.close()

    def track(self) -> dict:
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            (track,) = self.request("GET", "/api/tracks")[1]["tracks"]
            if track["stems_ready"]:
                return track
            time.sleep(0.05)
        pytest.fail("the file named on the command line was not separated")

    def hold_upload(self) -> socket.socket:
        """An upload that announces 1 MB, sends a little and then waits."""
        sock = self.connect()
        head = f"POST /api/tracks?name=held.wav HTTP/1.1\r\nHost: {self.host}\r\n"
        sock.sendall(f"{head}Content-Length: 1000000\r\n\r\n".encode() + b"RIFF" * 100)
        return sock

    def stop(self, interrupts: int = 1) -> tuple[float, str, str]:
        """Ctrl-C (``interrupts`` times, 0.3 s apart); the seconds it took to exit, stdout and
        stderr."""
        started = time.monotonic()
        try:
            for count in range(interrupts):
                if count:
                    time.sleep(0.3)
                self.process.send_signal(signal.SIGINT)
            stdout, stderr = self.process.communicate(timeout=STOP_SECONDS + 20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            stdout, stderr = self.process.communicate()
            pytest.fail(f"still serving {STOP_SECONDS + 20:g} s after Ctrl-C: {stderr[-2000:]}")
        finally:
            for sock in self.held:
                sock.close()
        return time.monotonic() - started, stdout, stderr


def stopped_cleanly(running: Running, seconds: float, stdout: str, stderr: str) -> None:
    assert running.process.returncode == 0, stderr
    assert STOPPED in stdout
    assert not [word for word in TRACEBACK_WORDS if word in stderr], stderr
    assert seconds < STOP_SECONDS + 5, f"took {seconds:.1f} s to stop"


def test_the_terminal_shows_no_traceback_for_what_clients_send(tmp_path, identity_model, song):
    running = Running(tmp_path, identity_model, song)
    try:
        track = running.track()
        deep = b"[" * DEEP + b"]" * DEEP
        for path in ["/api/presets/check", "/api/presets/save", "/api/presets/parse"]:
            status, answer = running.request("POST", path, deep)
            assert status == 400 and "nested deeper" in answer["error"]
        body = '{"preset": {"stemboard_preset": 1}, "start": 0, "end": V}'.replace("V", HUGE)
        status, answer = running.request(
            "POST", f"/api/tracks/{track['id']}/preview", body.encode()
        )
        assert status == 400 and "beyond the range of a float" in answer["error"]
        for buckets in ["%C2%B2", "%E2%91%A0"]:  # ² and ①
            status, answer = running.request(
                "GET", f"/api/tracks/{track['id']}/peaks?buckets={buckets}"
            )
            assert status == 400 and "whole number" in answer["error"]
        status, answer = running.request("GET", "/api/exports/nope/" + "9" * 5000)
        assert status == 404

        # bodies cut off halfway: an upload, and a JSON body
        for path in ["/api/tracks?name=cut.wav", "/api/presets/check"]:
            sock = running.connect()
            head = f"POST {path} HTTP/1.1\r\nHost: {running.host}\r\nContent-Length: 100000\r\n\r\n"
            sock.sendall(head.encode() + b"RIFF" * 100)
            time.sleep(0.2)
            sock.close()
        time.sleep(0.5)
        assert running.request("GET", "/api/info")[0] == 200  # still serving
        running.hold_upload()
        time.sleep(0.3)
    finally:
        seconds, stdout, stderr = running.stop()
    stopped_cleanly(running, seconds, stdout, stderr)


def test_one_ctrl_c_stops_the_studio_while_a_client_does_not_read_its_answer(
    tmp_path, identity_model
):
    long_song = write_audio(tmp_path / "long.wav", song_audio(60.0))  # 21 MB a stem
    running = Running(tmp_path, identity_model, long_song)
    try:
        track = running.track()
        sock = running.connect(receive_buffer=4096)
        request = f"GET /api/tracks/{track['id']}/stems/drums.wav HTTP/1.1\r\nHost: {running.host}"
        sock.sendall(f"{request}\r\n\r\n".encode())  # and never read
        time.sleep(0.5)
    finally:
        seconds, stdout, stderr = running.stop()
    stopped_cleanly(running, seconds, stdout, stderr)


def test_a_second_ctrl_c_while_an_upload_is_held_stops_at_once_without_tracebacks(
    tmp_path, identity_model, song
):
    running = Running(tmp_path, identity_model, song)
    try:
        running.track()
        running.hold_upload()
        time.sleep(0.3)
    finally:
        seconds, stdout, stderr = running.stop(interrupts=2)
    stopped_cleanly(running, seconds, stdout, stderr)
    assert seconds < STOP_SECONDS, f"took {seconds:.1f} s to stop after the second Ctrl-C"
