"""The studio's web layer: a Starlette app that turns HTTP requests into :class:`Studio` calls.

Routes and their answers are listed in ``docs/studio.md``. This module adds only what HTTP
needs: the guard (a request's ``Host`` must be the studio's own address and its ``Origin``, if
any, the page's own, so neither another web site nor a DNS-rebinding page can drive it), the
upload size limit (checked against ``Content-Length`` and again while the body streams in),
JSON errors with one readable line, and the page's static files. No path from a request reaches
the file system: tracks, stems, jobs and exported files are looked up by id.

Nothing a client sends is answered with a 5xx: a JSON body is read by
:mod:`~stemboard.studio.request_data` (its size, nesting, numbers and text held to limits), a
number in a query or a path is ASCII digits (``str.isdigit`` also passes '²', which ``int``
refuses), a request whose client goes away ends quietly, and a method a route does not take is
a JSON 405.

Example::

    app = create_app(Studio("demo"), hosts=["127.0.0.1:8000", "localhost:8000"])
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from stemboard.errors import InvalidValueError, StemboardError
from stemboard.studio.request_data import (
    MAX_BODY_BYTES,
    BodyTooLargeError,
    read_json,
    shown,
    too_large,
)
from stemboard.studio.workspace import (
    NotFoundError,
    NotReadyError,
    Studio,
    UploadTooLargeError,
)

STATIC = Path(__file__).resolve().parent / "static"
_SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
        b"style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]
_DIGITS = re.compile(r"[0-9]+")
_MAX_DIGITS = 9


def _status(error: BaseException) -> int:
    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, NotReadyError):
        return 409
    if isinstance(error, UploadTooLargeError | BodyTooLargeError):
        return 413
    return 400


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class _Guard:
    """Refuse a request whose Host is not the studio's or whose Origin is not the page's."""

    def __init__(self, app: ASGIApp, hosts: Sequence[str]):
        self.app = app
        self.hosts = {host.lower() for host in hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "").lower()
        origin = headers.get("origin")
        problem = None
        if host not in self.hosts:
            problem = f"refused: Host {shown(host or '(none)')} is not this studio's address"
        elif origin is not None and origin.lower() != f"http://{host}":
            problem = f"refused: requests from {shown(origin)} are not allowed, only from the page"
        if problem is not None:
            await _error(problem, 403)(scope, receive, send)
            return

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], *_SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _path(request: Request) -> str:
    """The request's path, as an error message shows it: one short line."""
    path = request.url.path
    return path if len(path) <= 80 else f"{path[:77]}..."


def _whole_number(text: str, name: str) -> int:
    """A query or path parameter that must be a whole number: ASCII digits, at most 9."""
    if not (_DIGITS.fullmatch(text) and len(text) <= _MAX_DIGITS):
        raise InvalidValueError(
            f"{name} must be a whole number of at most {_MAX_DIGITS} digits, got {shown(text)}"
        )
    return int(text)


def _declared_size(request: Request) -> int:
    """The body's size as its Content-Length says (0 when it says no number)."""
    text = request.headers.get("content-length", "")
    if not _DIGITS.fullmatch(text):
        return 0
    return int(text) if len(text) <= 18 else sys.maxsize


async def _json(request: Request) -> dict:
    """The body's JSON object (see :func:`~stemboard.studio.request_data.read_json`), read no
    further than :data:`~stemboard.studio.request_data.MAX_BODY_BYTES`."""
    if _declared_size(request) > MAX_BODY_BYTES:
        raise too_large()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise too_large()
    return read_json(bytes(body))


def create_app(studio: Studio, hosts: Sequence[str]) -> Starlette:
    """The studio's app; ``hosts`` are the ``host:port`` values a request's Host may have."""

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-store"})

    async def info(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(studio.info))

    async def tracks(request: Request) -> Response:
        return JSONResponse({"tracks": [t.to_json() for t in studio.open_tracks()]})

    async def upload(request: Request) -> Response:
        name = request.query_params.get("name", "")
        if not name:
            raise StemboardError("name the uploaded file: POST api/tracks?name=song.wav")
        if _declared_size(request) > studio.max_upload_bytes:
            raise UploadTooLargeError(studio.too_large(name))
        target = studio.upload_target(name)
        try:
            size = 0
            with open(target, "wb") as f:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > studio.max_upload_bytes:
                        raise UploadTooLargeError(studio.too_large(name))
                    f.write(chunk)
        except BaseException:
            studio.discard_upload(target)
            raise
        track = await run_in_threadpool(studio.open_upload, target)
        return JSONResponse(track.to_json(), status_code=201)

    async def track(request: Request) -> Response:
        return JSONResponse(studio.track(request.path_params["track"]).to_json())

    async def stem(request: Request) -> Response:
        path = studio.stem_file(request.path_params["track"], request.path_params["stem"])
        return FileResponse(path, media_type="audio/wav")

    async def track_peaks(request: Request) -> Response:
        buckets = _whole_number(request.query_params.get("buckets", "1000"), "buckets")
        found = await run_in_threadpool(studio.peaks, request.path_params["track"], buckets)
        return JSONResponse({"buckets": buckets, "peaks": found})

    async def preview(request: Request) -> Response:
        body = await _json(request)
        names, audio, rate = await run_in_threadpool(
            studio.preview,
            request.path_params["track"],
            body.get("preset"),
            body.get("start"),
            body.get("end"),
            body.get("mode", "mix"),
        )
        return Response(
            audio.astype("<f4").tobytes(),
            media_type="application/octet-stream",
            headers={
                "x-stemboard-outputs": ",".join(names),
                "x-stemboard-frames": str(audio.shape[-1]),
                "x-stemboard-sample-rate": f"{rate:g}",
                "cache-control": "no-store",
            },
        )

    async def export(request: Request) -> Response:
        body = await _json(request)
        job = await run_in_threadpool(
            studio.export, request.path_params["track"], body.get("preset")
        )
        return JSONResponse(job.to_json(), status_code=202)

    async def job(request: Request) -> Response:
        return JSONResponse(studio.job(request.path_params["job"]).to_json())

    async def exported(request: Request) -> Response:
        index = request.path_params["index"]
        if not (_DIGITS.fullmatch(index) and len(index) <= _MAX_DIGITS):
            raise NotFoundError(f"not found: {_path(request)}")
        path = studio.export_file(request.path_params["job"], int(index))
        return FileResponse(path, filename=path.name)

    async def presets(request: Request) -> Response:
        return JSONResponse({"presets": await run_in_threadpool(studio.shipped_names)})

    async def shipped(request: Request) -> Response:
        data = await run_in_threadpool(studio.shipped, request.path_params["name"])
        return JSONResponse({"preset": data})

    async def parse(request: Request) -> Response:
        body = await _json(request)
        data = await run_in_threadpool(studio.parse, body.get("yaml"), body.get("name"))
        return JSONResponse({"preset": data})

    async def check(request: Request) -> Response:
        body = await _json(request)
        preset = await run_in_threadpool(studio.check_preset, body.get("preset"))
        return JSONResponse({"preset": studio.preset_data(preset)})

    async def save(request: Request) -> Response:
        body = await _json(request)
        path, text = await run_in_threadpool(studio.save, body.get("preset"), body.get("filename"))
        return JSONResponse({"path": str(path), "yaml": text})

    async def refused(request: Request, error: Exception) -> Response:
        return _error(str(error), _status(error))

    async def unknown(request: Request, error: Exception) -> Response:
        return _error(f"not found: {_path(request)}", 404)

    async def http_error(request: Request, error: HTTPException) -> Response:
        message = f"{request.method} {_path(request)}: {error.detail}"
        return JSONResponse({"error": message}, error.status_code, headers=error.headers)

    async def cut_off(request: Request, error: Exception) -> Response:
        # the client went away before its body arrived (or the studio, stopping, cut it off):
        # nobody reads this answer, and there is nothing to report
        return _error("the request was cut off", 400)

    routes = [
        Route("/", page),
        Route("/api/info", info),
        Route("/api/tracks", tracks, methods=["GET"]),
        Route("/api/tracks", upload, methods=["POST"]),
        Route("/api/tracks/{track}", track),
        Route("/api/tracks/{track}/stems/{stem}.wav", stem),
        Route("/api/tracks/{track}/peaks", track_peaks),
        Route("/api/tracks/{track}/preview", preview, methods=["POST"]),
        Route("/api/tracks/{track}/export", export, methods=["POST"]),
        Route("/api/jobs/{job}", job),
        Route("/api/exports/{job}/{index}", exported),
        Route("/api/presets", presets),
        Route("/api/presets/parse", parse, methods=["POST"]),
        Route("/api/presets/check", check, methods=["POST"]),
        Route("/api/presets/save", save, methods=["POST"]),
        Route("/api/presets/{name}", shipped),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            StemboardError: refused,
            ClientDisconnect: cut_off,
            HTTPException: http_error,
            404: unknown,
        },
    )
    app.add_middleware(_Guard, hosts=hosts)
    return app
