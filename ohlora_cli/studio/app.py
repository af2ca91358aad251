"""The studio's web app (FastAPI): the page, and thin JSON endpoints over :class:`~ohlora_cli.studio.engine.Studio`.

Safe by default: requests whose Host header is not the bound ``host:port`` are refused (DNS rebinding),
so are POSTs from another origin; bodies must be JSON objects of at most 64 KiB; every error is
``{"error": "<one line>"}`` with a 4xx status.  No endpoint takes a file path: downloads are streamed
from memory, and the only file read is the page shipped in the package.
"""

from __future__ import annotations

import json
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from ohlora_cli.errors import CatalogLockedError, NotFoundError, OhloraError, UsageError
from ohlora_cli.studio.engine import (
    NAME_RE,
    Conflict,
    Studio,
    parse_export,
    parse_request,
)

MAX_BODY = 64 * 1024
LOOPBACK = ("127.0.0.1", "localhost", "::1")
# The page loads nothing from elsewhere; the browser enforces it.
CSP = ("default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def allowed_hosts(host: str, port: int) -> set[str]:
    """Host headers accepted: the bound host:port (and localhost:port when bound to the loopback)."""
    names = {f"[{host}]:{port}" if ":" in host else f"{host}:{port}"}
    if host in LOOPBACK:
        names |= {f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"} if host != "::1" else {f"[::1]:{port}"}
    return names


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers={"Cache-Control": "no-store"})


def _status(err: OhloraError) -> int:
    if isinstance(err, Conflict):
        return 409
    if isinstance(err, CatalogLockedError):
        return 503
    if isinstance(err, NotFoundError):
        return 404
    return 400


def page() -> str:
    return resources.files("ohlora_cli.studio").joinpath("static/index.html").read_text(encoding="utf-8")


def create_app(studio: Studio, *, host: str = "127.0.0.1", port: int = 8765) -> FastAPI:
    """The app for ``studio`` served at ``host:port`` (used for the Host / Origin checks)."""
    app = FastAPI(title="ohlora studio", docs_url=None, redoc_url=None, openapi_url=None)
    hosts = allowed_hosts(host, port)
    origins = {f"http://{h}" for h in hosts}
    html = page()

    @app.middleware("http")
    async def guard(request: Request, call_next):
        got = request.headers.get("host", "")
        if got not in hosts:
            return _error(400, f"Host header {got[:60]!r} is not this studio's address. "
                               f"Open http://{sorted(hosts)[0]}/ instead")
        origin = request.headers.get("origin")
        if request.method not in ("GET", "HEAD") and origin is not None and origin not in origins:
            return _error(403, f"requests from {origin[:60]!r} are refused. Use the studio page itself")
        response = await call_next(request)
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    @app.exception_handler(OhloraError)
    async def ohlora_error(_request: Request, err: OhloraError):
        return _error(_status(err), err.message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException):
        if err.status_code == 404:
            return _error(404, f"no page {request.url.path[:60]!r}. Open / for the studio")
        if err.status_code == 405:
            return _error(405, f"{request.method} is not allowed on {request.url.path[:60]}. See the page for usage")
        return _error(err.status_code, str(err.detail))

    @app.exception_handler(Exception)
    async def internal_error(_request: Request, err: Exception):
        line = (str(err).splitlines() or [""])[0][:200]
        return _error(500, f"internal error ({type(err).__name__}: {line}). Please report it with the request")

    async def body_of(request: Request) -> dict:
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise UsageError("the request must be JSON (Content-Type: application/json)", "Send a JSON object")
        raw = await request.body()
        if len(raw) > MAX_BODY:
            raise UsageError(f"the request body is {len(raw)} bytes, more than {MAX_BODY}", "Send a smaller request")
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise UsageError("the request body is not valid JSON", 'Send e.g. {"seed": 7}') from None
        if not isinstance(body, dict):
            raise UsageError("the request body must be a JSON object", 'Send e.g. {"seed": 7}')
        return body

    def cfg_of(body: dict):
        return parse_request({k: v for k, v in body.items() if k not in ("sweep_range", "sweep_steps", "name")},
                             device=studio.device_name)

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return HTMLResponse(html, headers={"Content-Security-Policy": CSP, "X-Frame-Options": "DENY"})

    @app.get("/api/info")
    def info() -> JSONResponse:
        return JSONResponse(studio.info())

    @app.post("/api/render")
    async def render(request: Request) -> JSONResponse:
        cfg = cfg_of(await body_of(request))
        return JSONResponse(await _in_thread(studio.render, cfg))

    @app.post("/api/measure")
    async def measure(request: Request) -> JSONResponse:
        cfg = cfg_of(await body_of(request))
        return JSONResponse(await _in_thread(studio.measure_request, cfg))

    @app.post("/api/export/{kind}")
    async def export(kind: str, request: Request) -> Response:
        if kind not in ("png", "sweep", "animation"):
            raise NotFoundError(f"unknown export {kind!r}", "Use /api/export/png, sweep or animation")
        body = await body_of(request)
        cfg, ex = cfg_of(body), parse_export(body)
        data, media, filename, command = await _in_thread(studio.export, cfg, kind, ex)
        return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{filename}"',
                                                          "X-Ohlora-Command": command})

    @app.post("/api/identity")
    async def identity(request: Request) -> JSONResponse:
        body = await body_of(request)
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise UsageError("name is missing", "Type a name for the identity, e.g. my-face-1")
        if not NAME_RE.match(name):
            raise UsageError(f"identity name {name[:40]!r} may use letters, digits, . _ - (up to 64)",
                             "Type a name like my-face-1")
        cfg = cfg_of(body)
        return JSONResponse(await _in_thread(studio.save_identity, cfg, name), status_code=201)

    return app


async def _in_thread(fn, *args):
    """Run the studio's (blocking, locked) work off the event loop."""
    return await run_in_threadpool(fn, *args)
