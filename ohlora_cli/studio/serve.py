"""Serving the studio with uvicorn: bind first (so a busy port fails with one line and ``--port 0``
gets a free one), then serve until Ctrl-C; or serve from a thread (tests, the benchmark)."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

import uvicorn

from ohlora_cli.catalog.db import Catalog
from ohlora_cli.errors import UsageError
from ohlora_cli.studio.app import create_app
from ohlora_cli.studio.engine import Studio


def check_host(host: str) -> str:
    """A host to bind: an address or ``localhost``; wildcard addresses are refused (they answer every name)."""
    if host == "localhost":
        return host
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        raise UsageError(f"--host {host!r} is not an IP address", "Pass e.g. --host 127.0.0.1") from None
    if addr.is_unspecified:
        raise UsageError(f"--host {host} would listen on every interface",
                         "Pass the one address to serve on (default 127.0.0.1)")
    return host


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (``port`` 0: a free one)."""
    check_host(host)
    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be 0..65535, got {port}", "Pass e.g. --port 8765 (0 = any free port)")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port} ({err.strerror or err})",
                         "Pass another --port, or --port 0 for a free one") from None
    sock.listen(128)
    return sock


def url_of(host: str, port: int) -> str:
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def _server(studio: Studio, sock: socket.socket, host: str, quiet: bool) -> uvicorn.Server:
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(studio, host=host, port=port), log_level="error" if quiet else "warning",
                            access_log=False, lifespan="off", timeout_graceful_shutdown=2)
    return uvicorn.Server(config)


def serve(catalog: Catalog, *, catalog_arg: str, model: str | None, directions: str | None, host: str,
          port: int, device: str, quiet: bool, on_ready: Callable[[str], None]) -> None:
    """Serve until Ctrl-C (uvicorn shuts down cleanly, then the interrupt is swallowed here)."""
    studio = Studio(catalog, catalog_arg=catalog_arg, model=model, directions=directions, device=device)
    sock = bind(host, port)
    server = _server(studio, sock, host, quiet)
    on_ready(url_of(host, sock.getsockname()[1]))
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()


@contextmanager
def running(studio: Studio, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``studio`` from a thread; yields its URL; stops it on exit."""
    sock = bind(host, port)
    server = _server(studio, sock, host, quiet=True)
    thread = threading.Thread(target=server.run, kwargs=dict(sockets=[sock]), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield url_of(host, sock.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
