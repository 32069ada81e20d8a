"""Shared fixtures: models are made here (random or saved weights), never downloaded.

torch is imported inside the fixtures that need it, so the runtime's tests run where torch is
not installed (tests/test_without_torch.py proves it): those fixtures skip there.
"""

import dataclasses
import hashlib
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from stemboard import registry
from stemboard.registry import architecture

# Tests that import onnxruntime themselves switch its telemetry off, as stemboard does.
os.environ["ORT_DISABLE_TELEMETRY"] = "1"

# A safety net under "nothing reaches the internet": HTTP(S) from this process and every process
# it starts goes through a proxy at a closed local port, except to the test servers on
# 127.0.0.1. A test that forgot to serve a file fails at once instead of fetching the real one.
# (The openDAW fixture gives npm :func:`registry_environment`: it installs from the registry.)
CLOSED_PROXY = {
    **dict.fromkeys(
        ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"), "http://127.0.0.1:9"
    ),
    **dict.fromkeys(("no_proxy", "NO_PROXY"), "127.0.0.1,localhost"),
}
os.environ.update(CLOSED_PROXY)


def registry_environment() -> dict[str, str]:
    """This process's environment without the closed proxy: for a package registry."""
    return {key: value for key, value in os.environ.items() if key not in CLOSED_PROXY}


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """Exports and the quality gate's record go to a folder of the run's, never ~/.cache."""
    previous = os.environ.get("STEMBOARD_CACHE")
    os.environ["STEMBOARD_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if previous is None:
        os.environ.pop("STEMBOARD_CACHE", None)
    else:
        os.environ["STEMBOARD_CACHE"] = previous


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory):
    """The `tiny` architecture (random weights, seed 0) exported with its fp16 variant."""
    pytest.importorskip("torch")
    from stemboard.export import export_hdemucs

    out = tmp_path_factory.mktemp("tiny") / "tiny.onnx"
    logged: list[str] = []
    result = export_hdemucs(out, config="tiny", seed=0, segment=5.0, fp16=True, log=logged.append)
    result.log = logged
    return result


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A `tiny` state_dict saved with torch.save, as the official file is; (path, model)."""
    torch = pytest.importorskip("torch")
    from torchaudio.models import HDemucs

    torch.manual_seed(7)
    model = HDemucs(**architecture("tiny").hdemucs_kwargs()).eval()
    path = tmp_path_factory.mktemp("checkpoint") / "tiny.pt"
    torch.save(model.state_dict(), path)
    return path, model


@pytest.fixture(scope="session", autouse=True)
def loopback_only():
    """No test of this process talks to anything but 127.0.0.1: a name or an address elsewhere
    is refused before any packet (DNS included) leaves."""
    import ipaddress
    import socket

    resolve = socket.getaddrinfo

    def loopback(host, *args, **kwargs):
        text = host.decode() if isinstance(host, bytes) else host
        if text not in (None, "localhost") and not _is_loopback(text, ipaddress):
            raise OSError(f"the tests talk to 127.0.0.1 only, not {text!r}")
        return resolve(host, *args, **kwargs)

    socket.getaddrinfo = loopback
    yield
    socket.getaddrinfo = resolve


def _is_loopback(text: str, ipaddress) -> bool:
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False


@pytest.fixture(scope="session")
def tiny_graphs(tiny_export, tmp_path_factory):
    """`tiny`'s weight-free graphs (5 s segments, float32 and float16), made from the torch
    exporter's own files as the shipped ones are: a folder to put in place of
    ``stemboard.pretrained.binding.SHIPPED_DIR``."""
    import gzip

    onnx = pytest.importorskip("onnx")
    from torchaudio.models import HDemucs

    from stemboard.export.stripping import weight_free
    from stemboard.pretrained.binding import shipped_path

    tiny = architecture("tiny")
    folder = tmp_path_factory.mktemp("weight_free")
    shapes = {k: tuple(v.shape) for k, v in HDemucs(**tiny.hdemucs_kwargs()).state_dict().items()}
    for path, fp16 in ((tiny_export.path, False), (tiny_export.fp16_path, True)):
        data = weight_free(onnx.load(path), shapes, "tiny").SerializeToString()
        (folder / shipped_path(tiny, fp16).name).write_bytes(gzip.compress(data))
    return folder


@pytest.fixture
def ship_tiny(monkeypatch, tiny_graphs):
    """Make the `tiny` architecture one stemboard ships a weight-free graph for (5 s segments)."""
    from stemboard.pretrained import binding

    tiny = architecture("tiny")
    monkeypatch.setitem(registry.ARCHITECTURES, "tiny", dataclasses.replace(tiny, weight_free=True))
    monkeypatch.setattr(binding, "SHIPPED_DIR", tiny_graphs)


@pytest.fixture(scope="session")
def high_checkpoint(tmp_path_factory):
    """The full-size `high` architecture (random weights, seed 0) saved with torch.save, as the
    official file is (335 MB); (path, model)."""
    torch = pytest.importorskip("torch")
    from torchaudio.models import HDemucs

    torch.manual_seed(0)
    model = HDemucs(**architecture("high").hdemucs_kwargs()).eval()
    path = tmp_path_factory.mktemp("high") / "high.pt"
    torch.save(model.state_dict(), path)
    return path, model


@pytest.fixture(scope="session")
def high_export(high_checkpoint, tmp_path_factory):
    """``high_checkpoint`` exported by the torch exporter at the default segment, with its fp16
    variant, verified against PyTorch (>= 60 dB fp32, >= 30 dB fp16)."""
    from stemboard.export import export_hdemucs

    out = tmp_path_factory.mktemp("high_export") / "high.onnx"
    logged: list[str] = []
    result = export_hdemucs(
        out, checkpoint=high_checkpoint[0], config="high", fp16=True, log=logged.append
    )
    result.log = logged
    return result


def write_identity_model(path, segment=4096, sources=("drums", "bass", "other", "vocals"), **meta):
    """An ONNX file following the contract whose every stem is its input: ``stems[:, s] = mix``."""
    import onnx
    from onnx import TensorProto, helper

    count = len(sources)
    nodes = [
        helper.make_node("Unsqueeze", ["mix", "axis"], ["one"]),
        helper.make_node("Concat", ["one"] * count, ["stems"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "identity",
        [helper.make_tensor_value_info("mix", TensorProto.FLOAT, ["batch", 2, segment])],
        [helper.make_tensor_value_info("stems", TensorProto.FLOAT, ["batch", count, 2, segment])],
        [helper.make_tensor("axis", TensorProto.INT64, [1], [1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    metadata = {
        "stemboard.format": "1",
        "stemboard.sources": ",".join(sources),
        "stemboard.sample_rate": "44100",
        "stemboard.segment_samples": str(segment),
        "stemboard.model": "identity",
        "stemboard.weights_sha256": "0" * 64,
        **meta,
    }
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=str(value))
    onnx.save(model, path)
    return path


@pytest.fixture(scope="session")
def make_identity_model():
    """``write_identity_model``, for tests that need a variant."""
    return write_identity_model


@pytest.fixture(scope="session")
def identity_model(tmp_path_factory):
    return write_identity_model(tmp_path_factory.mktemp("identity") / "identity.onnx")


@dataclasses.dataclass
class Served:
    """One request a :class:`LocalServer` answered: its path, its Range header, the status and
    the number of body bytes sent."""

    path: str
    range: str | None
    status: int
    sent: int


@dataclasses.dataclass
class _File:
    body: bytes
    content_length: int
    status: int = 200
    content_type: str | None = None
    cut_after: int | None = None
    ranges: bool = True


class LocalServer:
    """Files served over HTTP on 127.0.0.1, with a record of the paths requested (``requests``)
    and of what was answered (``served``)."""

    def __init__(self):
        self.files: dict[str, _File] = {}
        self.requests: list[str] = []
        self.served: list[Served] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _LocalHandler)
        self.httpd.owner = self

    def serve(
        self,
        path: str,
        body: bytes,
        content_length: int | None = None,
        *,
        status: int = 200,
        content_type: str | None = None,
        cut_after: int | None = None,
        ranges: bool = True,
    ) -> str:
        """Serve ``body`` at ``path``, announcing ``content_length`` bytes (a ``body`` shorter
        than that is a truncated file); its URL.

        ``status`` other than 200 answers with that error; ``content_type`` is sent as the
        Content-Type; ``cut_after`` closes the connection after that many body bytes of every
        answer; ``Range: bytes=N-`` is answered with 206 and the rest unless ``ranges`` is
        false (then the whole file, 200), and with 416 from the end of the file on.
        """
        self.files[path] = _File(
            body,
            len(body) if content_length is None else content_length,
            status,
            content_type,
            cut_after,
            ranges,
        )
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"


class _LocalHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        owner = self.server.owner
        owner.requests.append(self.path)
        asked = self.headers.get("Range")
        served = Served(self.path, asked, 404, 0)
        owner.served.append(served)
        file = owner.files.get(self.path)
        if file is None or file.status != 200:
            served.status = 404 if file is None else file.status
            self.send_error(served.status)
            return
        start = int(asked[len("bytes=") : -1]) if asked and file.ranges else 0
        if asked and file.ranges and start >= file.content_length:
            served.status = 416
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{file.content_length}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        served.status = 206 if start else 200
        self.send_response(served.status)
        self.send_header("Content-Length", str(file.content_length - start))
        if start:
            last = file.content_length - 1
            self.send_header("Content-Range", f"bytes {start}-{last}/{file.content_length}")
        if file.content_type:
            self.send_header("Content-Type", file.content_type)
        self.end_headers()
        payload = file.body[start:][: file.cut_after]
        self.wfile.write(payload)
        served.sent = len(payload)
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    """A :class:`LocalServer` running for the test."""
    running = LocalServer()
    thread = threading.Thread(target=running.httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield running
    running.httpd.shutdown()
    running.httpd.server_close()
    thread.join()


@pytest.fixture
def local_bundle(server, tiny_checkpoint):
    """The official bundle record, for the `tiny` architecture, served by ``server``."""
    data = tiny_checkpoint[0].read_bytes()
    return served_bundle(
        dataclasses.replace(registry.bundle("hdemucs_high_musdb_plus"), architecture="tiny"),
        server.serve("/models/hdemucs_high_trained.pt", data),
        data,
    )


def served_bundle(record, url, *data, **changes):
    """``record`` with its files' URLs, sizes and sha256 those of ``data`` (one body per file)
    served at ``url`` (one, or one per file); ``changes`` to every file record besides."""
    urls = [url] if isinstance(url, str) else list(url)
    files = tuple(
        dataclasses.replace(
            file,
            url=address,
            size=len(body),
            sha256=hashlib.sha256(body).hexdigest(),
            **changes,
        )
        for file, address, body in zip(record.files, urls, data, strict=True)
    )
    return dataclasses.replace(record, files=files)


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB file system, full after a few seconds of audio."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", disk], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("needs root to mount a small tmpfs")
    yield disk
    subprocess.run(["umount", "-l", disk], check=True)
