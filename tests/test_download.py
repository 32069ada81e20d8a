"""Fetching a pretrained weights file without torch: resumed, verified, one download at a time,
every failure one line; served by a local HTTP server, never the network."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import random
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from stemboard import registry
from stemboard.cli.output import DownloadProgress, ProgressLine
from stemboard.errors import CheckpointError, CheckpointNotFoundError
from stemboard.pretrained import download
from stemboard.pretrained.download import checkpoint_path, fetch_file, find_or_fetch

NAME = "hdemucs_high_musdb_plus"
SIZE = 300_000


@pytest.fixture(autouse=True)
def private_places(tmp_path, monkeypatch):
    """stemboard's cache and torch's hub in the test's folder; no proxy between us and the
    local server."""
    monkeypatch.setenv("STEMBOARD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for proxy in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)
        monkeypatch.delenv(proxy.upper(), raising=False)
    return tmp_path


@pytest.fixture
def data():
    """A stand-in for the weights file: a zip's magic, then random bytes."""
    return b"PK\x03\x04" + random.Random(0).randbytes(SIZE - 4)


@pytest.fixture
def bundle(server, data):
    """The official record's file, served by ``server``."""
    return dataclasses.replace(
        registry.bundle(NAME).files[0],
        url=server.serve("/models/hdemucs_high_trained.pt", data),
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )


@pytest.fixture
def cached(bundle):
    """Where the bundle's file lands: <cache>/checkpoints/hdemucs_high_trained.pt."""
    return checkpoint_path(bundle)


def part_of(path: Path) -> Path:
    return path.with_name(path.name + ".part")


def files_in_cache() -> list[str]:
    cache = registry.cache_dir()
    return sorted(p.relative_to(cache).as_posix() for p in cache.rglob("*") if p.is_file())


def one_line(raised: pytest.ExceptionInfo) -> str:
    message = str(raised.value)
    assert "\n" not in message
    return message


def test_download_lands_in_the_cache_with_the_right_bytes(server, bundle, cached, data):
    logged, seen = [], []

    path = find_or_fetch(bundle, log=logged.append, progress=lambda *args: seen.append(args))

    assert path == registry.cache_dir() / "checkpoints" / "hdemucs_high_trained.pt" == cached
    assert path.read_bytes() == data
    assert files_in_cache() == [
        "checkpoints/hdemucs_high_trained.pt",
        "checkpoints/hdemucs_high_trained.pt.lock",
        "checkpoints/hdemucs_high_trained.pt.sha256",
    ]
    assert logged == [f"downloading {NAME} (0.3 MB) from {bundle.url}"]
    assert seen[0] == (0, SIZE) and seen[-1] == (SIZE, SIZE)
    assert [s.range for s in server.served] == [None]


def test_verified_file_is_used_without_a_request_or_hashing_it_again(server, bundle, monkeypatch):
    first = find_or_fetch(bundle, log=print)
    monkeypatch.setattr(download, "sha256_file", lambda path: pytest.fail("hashed again"))

    assert find_or_fetch(bundle, log=print) == first
    assert server.requests == ["/models/hdemucs_high_trained.pt"]


def test_corrupt_cached_file_is_replaced(server, bundle, cached, data):
    find_or_fetch(bundle, log=print)
    cached.write_bytes(bytes(SIZE))  # same size, so only its sha256 tells
    os.utime(cached, ns=(1, 1))  # as a later write would (this one may share the clock's tick)
    logged = []

    assert find_or_fetch(bundle, log=logged.append) == cached

    assert cached.read_bytes() == data
    assert logged[0].startswith(f"deleting {cached}: it is not the file of {NAME} (its sha256 is")
    assert len(server.requests) == 2


def test_cached_file_of_the_wrong_size_is_replaced_without_hashing(
    server, bundle, cached, data, monkeypatch
):
    cached.parent.mkdir(parents=True)
    cached.write_bytes(data[:1000])
    monkeypatch.setattr(download, "sha256_file", lambda path: pytest.fail("hashed"))
    logged = []

    find_or_fetch(bundle, log=logged.append)

    assert cached.read_bytes() == data
    assert (
        logged[0]
        == f"deleting {cached}: it is not the file of {NAME} (it has 1,000 bytes, expected 300,000)"
    )


def test_interrupted_download_is_kept_and_resumed_with_a_range_request(
    server, bundle, cached, data
):
    server.serve("/models/hdemucs_high_trained.pt", data, cut_after=50_000)

    with pytest.raises(CheckpointError) as raised:
        find_or_fetch(bundle, log=print)

    # the first request and the two automatic resumes were each cut after 50,000 bytes
    assert [(s.range, s.status, s.sent) for s in server.served] == [
        (None, 200, 50_000),
        ("bytes=50000-", 206, 50_000),
        ("bytes=100000-", 206, 50_000),
    ]
    assert one_line(raised) == (
        f"cannot download {NAME} from {bundle.url} (the connection closed before the end; "
        "the 0.1 MB downloaded so far are kept and the next try resumes): put the file "
        f"(300,000 bytes, sha256 {bundle.sha256}) at {cached}, or run "
        f"`stemboard models import {NAME} FILE`"
    )
    assert part_of(cached).read_bytes() == data[:150_000]
    assert not cached.exists()

    server.serve("/models/hdemucs_high_trained.pt", data)
    logged = []
    assert find_or_fetch(bundle, log=logged.append).read_bytes() == data

    assert server.served[-1].range == "bytes=150000-"
    assert server.served[-1].sent == SIZE - 150_000
    assert logged == [f"resuming the download of {NAME} at 0.1 of 0.3 MB from {bundle.url}"]
    assert not part_of(cached).exists()


def test_connection_cut_once_is_resumed_within_the_call(server, bundle, data):
    server.serve("/models/hdemucs_high_trained.pt", data, cut_after=200_000)

    assert find_or_fetch(bundle, log=print).read_bytes() == data
    assert [(s.range, s.sent) for s in server.served] == [
        (None, 200_000),
        ("bytes=200000-", 100_000),
    ]


def test_ctrl_c_keeps_the_part_file_for_the_next_call(server, bundle, cached, data):
    def interrupt(done, total):
        if done:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        find_or_fetch(bundle, log=print, progress=interrupt)
    kept = part_of(cached).stat().st_size
    assert kept == download.CHUNK_BYTES

    assert find_or_fetch(bundle, log=print).read_bytes() == data
    assert server.served[-1].range == f"bytes={kept}-"


def test_part_file_holding_the_whole_file_is_moved_into_place_without_a_request(
    server, bundle, cached, data
):
    cached.parent.mkdir(parents=True)
    part_of(cached).write_bytes(data)  # a process killed between the last byte and the rename

    assert find_or_fetch(bundle, log=print).read_bytes() == data
    assert server.requests == []


def test_part_file_that_completes_to_another_file_is_deleted(server, bundle, cached, data):
    cached.parent.mkdir(parents=True)
    part_of(cached).write_bytes(bytes(SIZE))

    with pytest.raises(CheckpointError, match=r"its sha256 is .* the download was deleted"):
        find_or_fetch(bundle, log=print)
    assert server.requests == []
    assert files_in_cache() == ["checkpoints/hdemucs_high_trained.pt.lock"]


def test_server_ignoring_the_range_starts_again_from_the_beginning(server, bundle, cached, data):
    cached.parent.mkdir(parents=True)
    part_of(cached).write_bytes(b"x" * 100_000)  # a beginning the fresh answer replaces
    server.serve("/models/hdemucs_high_trained.pt", data, ranges=False)

    assert find_or_fetch(bundle, log=print).read_bytes() == data
    assert [(s.range, s.status, s.sent) for s in server.served] == [("bytes=100000-", 200, SIZE)]


def test_server_with_a_shorter_file_answers_416_and_the_fresh_answer_is_refused(
    server, bundle, cached, data
):
    cached.parent.mkdir(parents=True)
    part_of(cached).write_bytes(data[:150_000])
    server.serve("/models/hdemucs_high_trained.pt", data[:100_000])

    with pytest.raises(CheckpointError) as raised:
        find_or_fetch(bundle, log=print)

    assert [(s.range, s.status) for s in server.served] == [("bytes=150000-", 416), (None, 200)]
    assert one_line(raised).startswith(
        f"refused {NAME} from {bundle.url}: the server announces 100,000 bytes, expected "
        "300,000; the download was deleted: put the file (300,000 bytes, sha256 "
    )
    assert files_in_cache() == ["checkpoints/hdemucs_high_trained.pt.lock"]


def test_content_range_of_another_file_starts_again(server, bundle, cached, data):
    cached.parent.mkdir(parents=True)
    part_of(cached).write_bytes(data[:100_000])
    server.serve("/models/hdemucs_high_trained.pt", data + b"more")

    with pytest.raises(CheckpointError, match="the server announces 300,004 bytes"):
        find_or_fetch(bundle, log=print)

    assert [(s.range, s.status) for s in server.served] == [("bytes=100000-", 206), (None, 200)]
    assert files_in_cache() == ["checkpoints/hdemucs_high_trained.pt.lock"]


def test_wrong_checksum_is_one_line_and_nothing_is_cached(bundle, cached, data):
    wrong = dataclasses.replace(bundle, sha256="0" * 64)

    with pytest.raises(CheckpointError) as raised:
        find_or_fetch(wrong, log=print)

    assert one_line(raised) == (
        f"refused {NAME} from {bundle.url}: its sha256 is {bundle.sha256}, expected "
        f"{'0' * 64}; the download was deleted: put the file (300,000 bytes, sha256 "
        f"{'0' * 64}) at {cached}, or run `stemboard models import {NAME} FILE`"
    )
    assert files_in_cache() == ["checkpoints/hdemucs_high_trained.pt.lock"]


def test_truncated_download_is_kept_and_completes_once_the_server_is_fixed(
    server, bundle, cached, data
):
    server.serve("/models/hdemucs_high_trained.pt", data[:100_000], content_length=SIZE)

    with pytest.raises(CheckpointError) as raised:
        find_or_fetch(bundle, log=print)

    assert re.search(
        r"\(the connection closed before the end; the 0\.1 MB downloaded so far are kept and "
        r"the next try resumes\): put the file",
        one_line(raised),
    )
    assert part_of(cached).read_bytes() == data[:100_000]

    server.serve("/models/hdemucs_high_trained.pt", data)
    assert find_or_fetch(bundle, log=print).read_bytes() == data
    assert server.served[-1].range == "bytes=100000-"


@pytest.mark.parametrize(
    ("page", "content_type"),
    [
        (b"<!DOCTYPE html><html><body>Sign in</body></html>", "text/html; charset=utf-8"),
        (b"\n  <HTML><body>Not here</body></HTML>", None),
    ],
    ids=["content-type", "body"],
)
def test_web_page_is_refused_and_nothing_is_left(server, bundle, page, content_type):
    server.serve("/models/hdemucs_high_trained.pt", page, content_type=content_type)

    with pytest.raises(CheckpointError) as raised:
        find_or_fetch(bundle, log=print)

    assert one_line(raised).startswith(
        f"refused {NAME} from {bundle.url}: it served a web page, not the file; "
        "the download was deleted: put the file"
    )
    assert files_in_cache() == ["checkpoints/hdemucs_high_trained.pt.lock"]


@pytest.mark.parametrize(("status", "reason"), [(404, "Not Found"), (500, "Internal Server Error")])
def test_http_error_is_one_line(server, bundle, cached, status, reason):
    server.serve("/models/hdemucs_high_trained.pt", b"", status=status)

    with pytest.raises(CheckpointError) as raised:
        find_or_fetch(bundle, log=print)

    assert one_line(raised) == (
        f"cannot download {NAME} from {bundle.url} (HTTP {status} {reason}): put the file "
        f"(300,000 bytes, sha256 {bundle.sha256}) at {cached}, or run "
        f"`stemboard models import {NAME} FILE`"
    )
    assert files_in_cache() == ["checkpoints/hdemucs_high_trained.pt.lock"]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_server_is_one_line_naming_where_to_put_the_file(bundle, cached):
    offline = dataclasses.replace(bundle, url=f"http://127.0.0.1:{closed_port()}/weights.pt")

    with pytest.raises(CheckpointError) as raised:
        find_or_fetch(offline, log=print)

    assert one_line(raised) == (
        f"cannot download {NAME} from {offline.url} (Connection refused): put the file "
        f"(300,000 bytes, sha256 {bundle.sha256}) at {checkpoint_path(offline)}, or run "
        f"`stemboard models import {NAME} FILE`"
    )


def test_server_that_never_answers_times_out(bundle, monkeypatch):
    monkeypatch.setattr(download, "TIMEOUT_S", 0.2)
    with socket.socket() as silent:  # accepts connections (its backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        mute = dataclasses.replace(bundle, url=f"http://127.0.0.1:{port}/weights.pt")

        with pytest.raises(CheckpointError, match=r"\(no answer within 0\.2 s\): put the file"):
            find_or_fetch(mute, log=print)


def test_torchaudio_copy_is_used_in_place_without_a_request(server, bundle, data):
    theirs = registry.torch_hub_copy(bundle)
    theirs.parent.mkdir(parents=True)
    theirs.write_bytes(data)
    logged = []

    assert find_or_fetch(bundle, log=logged.append) == theirs

    assert logged == [f"using torchaudio's copy of {NAME} at {theirs}"]
    assert server.requests == []
    assert "checkpoints/hdemucs_high_trained.pt" not in files_in_cache()


def test_torchaudio_copy_that_does_not_verify_is_left_alone_and_the_file_downloaded(
    server, bundle, cached, data
):
    theirs = registry.torch_hub_copy(bundle)
    theirs.parent.mkdir(parents=True)
    theirs.write_bytes(b"not the weights")
    logged = []

    assert find_or_fetch(bundle, log=logged.append) == cached

    assert logged[0] == (
        f"not using torchaudio's copy of {NAME} at {theirs}: it has 15 bytes, expected 300,000"
    )
    assert theirs.read_bytes() == b"not the weights"
    assert cached.read_bytes() == data


def test_without_download_a_missing_file_names_both_places_and_the_import_command(
    server, bundle, cached
):
    with pytest.raises(CheckpointNotFoundError) as raised:
        find_or_fetch(bundle, download=False, log=print)

    assert one_line(raised) == (
        f"no verified copy of {NAME} at {cached} or {registry.torch_hub_copy(bundle)}, and "
        f"downloading is off: put the file (300,000 bytes, sha256 {bundle.sha256}) at "
        f"{cached}, or run `stemboard models import {NAME} FILE`"
    )
    assert server.requests == []


def test_two_fetching_at_once_download_once_and_both_get_the_file(server, bundle, data):
    first_started, second_waits = threading.Event(), threading.Event()
    results, second_log = {}, []

    def first_progress(done, total):
        first_started.set()
        assert second_waits.wait(10)

    def second_says(line):
        second_log.append(line)
        if line.startswith("waiting for another"):
            second_waits.set()

    def fetch(key, **options):
        results[key] = find_or_fetch(bundle, **options)

    first = threading.Thread(
        target=fetch, args=("first",), kwargs={"progress": first_progress, "log": print}
    )
    first.start()
    assert first_started.wait(10)
    second = threading.Thread(target=fetch, args=("second",), kwargs={"log": second_says})
    second.start()
    first.join(10)
    second.join(10)

    assert results["first"] == results["second"]
    assert results["first"].read_bytes() == data
    assert second_log == [f"waiting for another stemboard process downloading {NAME}"]
    assert server.requests == ["/models/hdemucs_high_trained.pt"]


def test_fetch_file_words_the_remedy_as_its_caller_asks(tmp_path, bundle):
    gone = bundle.url.replace("hdemucs_high_trained.pt", "gone.pt")
    with pytest.raises(CheckpointError) as raised:
        fetch_file(
            gone,
            tmp_path / "w.pt",
            size=10,
            sha256="a" * 64,
            name="w",
            log=print,
            otherwise="export it yourself",
        )
    assert one_line(raised).endswith(
        f"(HTTP 404 Not Found): put the file (10 bytes, sha256 {'a' * 64}) at "
        f"{tmp_path / 'w.pt'}, or export it yourself"
    )


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({"STEMBOARD_CACHE": "/sb", "XDG_CACHE_HOME": "/xdg"}, "/sb"),
        ({"XDG_CACHE_HOME": "/xdg"}, "/xdg/stemboard"),
        ({"XDG_CACHE_HOME": "relative"}, "HOME/.cache/stemboard"),
        ({}, "HOME/.cache/stemboard"),
    ],
)
def test_cache_dir_follows_stemboard_cache_then_xdg(tmp_path, monkeypatch, environment, expected):
    for variable in ("STEMBOARD_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(variable, raising=False)
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.setenv("HOME", str(tmp_path))

    assert registry.cache_dir() == Path(expected.replace("HOME", str(tmp_path)))


@pytest.mark.parametrize(
    "environment",
    [
        {"TORCH_HOME": "/th", "XDG_CACHE_HOME": "/xdg"},
        {"TORCH_HOME": "~/th"},
        {"XDG_CACHE_HOME": "/xdg"},
        {"XDG_CACHE_HOME": "~/xdg"},
        {},
    ],
)
def test_torch_hub_dir_is_where_torch_hub_looks(tmp_path, monkeypatch, environment):
    torch = pytest.importorskip("torch")
    for variable in ("TORCH_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(variable, raising=False)
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.setenv("HOME", str(tmp_path))

    assert registry.torch_hub_dir() == Path(torch.hub.get_dir())
    bundle = registry.bundle(NAME).files[0]
    assert registry.torch_hub_copy(bundle) == Path(
        torch.hub.get_dir(), "torchaudio", "models", "hdemucs_high_trained.pt"
    )


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def drawn(stream: io.StringIO) -> list[str]:
    return [text.replace("\x1b[K", "") for text in stream.getvalue().split("\r") if text]


def test_download_progress_shows_size_rate_and_eta_and_ends_the_line():
    terminal, clock = FakeTerminal(), Clock()
    progress = DownloadProgress(NAME, ProgressLine(stream=terminal), timer=clock)

    progress(120_500_000, 334_700_000)  # resumed: these bytes count as done, not as speed
    clock.now = 1.0
    progress(144_600_000, 334_700_000)
    clock.now = 1.05
    progress(145_000_000, 334_700_000)  # under a tenth of a second: not drawn
    clock.now = 2.0
    progress(334_700_000, 334_700_000)

    assert drawn(terminal) == [
        f"downloading {NAME}  120.5/334.7 MB",
        f"downloading {NAME}  144.6/334.7 MB  24.1 MB/s  ETA 8 s",
        f"downloading {NAME}  334.7/334.7 MB  107.1 MB/s  ETA 0 s\n",
    ]


def test_download_progress_rate_is_over_the_last_seconds():
    terminal, clock = FakeTerminal(), Clock()
    progress = DownloadProgress(NAME, ProgressLine(stream=terminal), timer=clock)
    for now, done in [(0, 0), (1, 100_000_000), (2, 101_000_000), (7, 106_000_000)]:
        clock.now = now
        progress(done, 400_000_000)

    # since second 2 (the window's start): 5 MB in 5 s, not 106 MB in 7 s
    assert drawn(terminal)[-1] == f"downloading {NAME}  106.0/400.0 MB  1.0 MB/s  ETA 4:54"


@pytest.mark.parametrize(
    ("stream", "quiet"), [(io.StringIO(), False), (FakeTerminal(), True)], ids=["pipe", "quiet"]
)
def test_download_progress_is_silent_without_a_terminal_or_with_quiet(stream, quiet):
    progress = DownloadProgress(NAME, ProgressLine(quiet, stream=stream))
    progress(0, 10)
    progress(10, 10)
    progress.close()
    assert stream.getvalue() == ""


def test_the_downloader_loads_no_torch():
    code = "import sys, stemboard.pretrained.download; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
