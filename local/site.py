"""The static site: ``frontend/`` and ``/config.json``, with the headers CloudFront serves.

``/config.json`` is ``p2pchat.settings.site_config`` (the body CDK writes into the bucket)
with this machine's WebSocket URL, built from the Host the browser asked, so ``localhost``,
``127.0.0.1`` and ``[::1]`` all work. Every page and file, 404s included, carries
``infra/headers.py``'s ``security_headers`` (the same CSP, no HSTS on plain HTTP).
"""

from __future__ import annotations

import functools
import mimetypes
import stat
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from infra.headers import security_headers
from local.settings import SETTINGS, WS_PATH
from p2pchat.settings import site_config


def add_site(app: web.Application) -> None:
    """``/config.json`` and the files of ``static_dir`` (last: it matches every path)."""
    app.middlewares.append(site_headers)
    app.router.add_get("/config.json", config_json)
    app.router.add_get("/{path:.*}", static_file)


def signaling_url(request: web.Request) -> str:
    """The WebSocket URL as the browser should reach it: same host and port as the page."""
    return f"ws://{request.host}{WS_PATH}"


@web.middleware
async def site_headers(request: web.Request, handler: Callable) -> web.StreamResponse:
    """Every page and file (404s too) gets the security headers the cloud serves; not the
    WebSocket or the Management API, which API Gateway answers itself."""
    try:
        response = await handler(request)
    except web.HTTPException as error:
        _add_site_headers(request, error)
        raise
    _add_site_headers(request, response)
    return response


def _add_site_headers(request: web.Request, response: web.StreamResponse) -> None:
    if request.path == WS_PATH or "/@connections/" in request.path:
        return
    response.headers.update(security_headers(signaling_url(request), https=False))
    response.headers.setdefault("Cache-Control", "no-cache")


async def config_json(request: web.Request) -> web.Response:
    policy = request.app[SETTINGS].ice_transport_policy
    return web.json_response(site_config(signaling_url(request), policy))


async def static_file(request: web.Request) -> web.StreamResponse:
    root = request.app[SETTINGS].static_dir
    if root is None:
        raise web.HTTPNotFound()
    relative = request.match_info.get("path", "") or "index.html"
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()):
        raise web.HTTPNotFound()
    try:
        body, content_type = _read_site_file(path)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise web.HTTPNotFound() from None
    return web.Response(body=body, content_type=content_type)


@functools.lru_cache(maxsize=256)
def _cached_site_file(path: Path, mtime_ns: int, size: int) -> tuple[bytes, str]:
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return path.read_bytes(), content_type


def _read_site_file(path: Path) -> tuple[bytes, str]:
    """The file's bytes (a folder's index.html) from memory while it is unchanged on disk
    (edits show on reload), with one stat per request.

    The site is a few small files: served from memory in the event loop, a page's dozen
    requests cost a fraction of FileResponse's (a thread hop to open and stat each file).
    """
    info = path.stat()
    if stat.S_ISDIR(info.st_mode):
        path = path / "index.html"
        info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise IsADirectoryError(path)
    return _cached_site_file(path, info.st_mtime_ns, info.st_size)
