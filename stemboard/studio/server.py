"""Running the studio: bind the address, say where it is, open the browser, serve until Ctrl-C.

The socket is bound before the app is made, so the Host check knows the real port even when
port 0 lets the system pick one. Loopback is the default; any other address serves everyone who
can reach this machine, and :func:`serve` says so.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import webbrowser
from collections.abc import Callable

from stemboard.errors import InvalidValueError
from stemboard.studio.workspace import Studio

log = logging.getLogger(__name__)


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
    import uvicorn

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
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
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
