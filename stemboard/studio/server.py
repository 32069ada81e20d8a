"""Running the studio: bind the address, say where it is, open the browser, serve until Ctrl-C.

The socket is bound before the app is made, so the Host check knows the real port even when
port 0 lets the system pick one. Loopback is the default; any other address serves everyone who
can reach this machine, and :func:`serve` says so.

Ctrl-C stops the studio within :data:`STOP_SECONDS`, whatever its clients do. uvicorn alone
waits for every open request to end, however long a client takes to send a body or to read an
answer, and a second Ctrl-C makes it cancel those requests, which prints their tracebacks.
Here the requests still open after :data:`STOP_SECONDS` (at once after a second Ctrl-C) have
their connections cut, so each ends as if its client had gone away, and the server then stops
as usual.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import threading
import webbrowser
from collections.abc import Callable
from types import FrameType

import uvicorn

from stemboard.errors import InvalidValueError
from stemboard.studio.workspace import Studio

log = logging.getLogger(__name__)

STOP_SECONDS = 2.0
"""How long the requests open at Ctrl-C have to finish before their connections are cut."""


class _Server(uvicorn.Server):
    """uvicorn's server, which stops within :data:`STOP_SECONDS` of Ctrl-C (see the module)."""

    hurry = False  # a second Ctrl-C came: cut the connections now

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit:  # not uvicorn's forced exit, which cancels requests mid-way
            self.hurry = True
        else:
            super().handle_exit(sig, frame)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        cutter = asyncio.create_task(self._cut_connections())
        try:
            await super().shutdown(sockets)
        finally:
            cutter.cancel()

    async def _cut_connections(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STOP_SECONDS
        while loop.time() < deadline and not self.hurry:
            await asyncio.sleep(0.05)
        for connection in list(self.server_state.connections):
            connection.transport.abort()  # the request sees its client gone, and ends


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (``port`` 0: any free one)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise InvalidValueError(f"--host {host}: {error.strerror}") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as error:
        sock.close()
        raise InvalidValueError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def addresses(host: str, port: int) -> list[str]:
    """The Host header values the studio answers to."""
    names = {host if ":" not in host else f"[{host}]"}
    if is_loopback(host):
        names |= {"127.0.0.1", "localhost", "[::1]"}
    return sorted(f"{name}:{port}" for name in names)


def serve(
    studio: Studio,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    open_browser: bool = True,
    say: Callable[[str], None] = print,
) -> None:
    """Serve ``studio`` on ``host:port`` until Ctrl-C (which ends it normally); the studio is
    closed after, cancelling a running job (whose files are removed)."""
    from stemboard.studio.app import create_app

    sock = bind(host, port)
    port = sock.getsockname()[1]
    shown = host if ":" not in host else f"[{host}]"
    url = f"http://{shown}:{port}/"
    if not is_loopback(host):
        log.warning(
            "serving on %s: anyone who can reach this machine can use the studio and hear the "
            "files you open in it",
            host,
        )
    app = create_app(studio, addresses(host, port))
    server = _Server(uvicorn.Config(app, log_level="warning", access_log=False))
    say(f"stemboard studio: {url} (Ctrl-C to stop)")
    if open_browser:
        threading.Timer(0.5, webbrowser.open, args=(url,)).start()
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn shut down gracefully, then raised the signal again
        pass
    finally:
        sock.close()
        studio.close()
    say(f"stemboard studio: stopped; saved presets and exports are in {studio.out_dir}")
