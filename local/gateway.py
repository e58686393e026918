"""An aiohttp imitation of API Gateway's WebSocket API, its Management API, and the static site.

One app, one port:

- ``GET /ws``: the WebSocket API. Each connection gets an id like API Gateway's; the Lambda
  handler is called with API Gateway-shaped events for ``$connect`` (a non-2xx answer refuses the
  upgrade), ``$disconnect``, and the route chosen by ``$request.body.action`` (``$default`` when
  absent or not a known route). Handlers run in a thread pool, concurrently, in no promised
  order, as Lambda does. Limits: frames over 32 KB or messages over 128 KB close with 1009,
  binary frames with 1003, idle and maximum duration close with 1001.
- ``POST|GET|DELETE [/{stage}]/@connections/{id}``: the Management API, for boto3's unchanged
  ``apigatewaymanagementapi`` client; gone ids answer 410 ``GoneException`` as AWS does.
- ``GET /config.json`` (``{"signalingUrl": "ws://HOST/ws", "iceTransportPolicy": "all"}``) and
  ``frontend/`` with the security headers of ``infra/headers.py``.

Usage::

    app = create_app(handler, Settings.from_env())
    runner = await serve(app, "127.0.0.1", 8080)
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import json
import logging
import mimetypes
import os
import secrets
import stat
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web
from aiohttp.http_websocket import WebSocketError

from infra.headers import security_headers
from local import ROOT

log = logging.getLogger("local.gateway")

WS_PATH = "/ws"
KB = 1024

Handler = Callable[[dict[str, Any], Any], Any]
# RTCConfiguration.iceTransportPolicy, handed to browsers in config.json: "relay" sends media
# through the TURN servers only, so neither side learns the other's IP addresses.
ICE_TRANSPORT_POLICIES = ("all", "relay")


class SettingError(ValueError):
    """An environment variable with a value the gateway cannot use; one line for the user."""


@dataclass(frozen=True)
class Settings:
    """What the imitation can be told; ``from_env`` reads the documented variables."""

    stage: str = "local"
    api_id: str = "local"
    routes: frozenset[str] = frozenset()  # route keys besides $connect/$disconnect/$default
    idle_timeout: float = 600.0  # API Gateway: 10 minutes
    max_duration: float = 7200.0  # API Gateway: 2 hours
    frame_limit: int = 32 * KB
    message_limit: int = 128 * KB
    max_workers: int = 32  # handler invocations running at once
    static_dir: Path | None = ROOT / "frontend"
    function_name: str = "p2pchat-local"
    region: str = "us-east-1"
    ice_transport_policy: str = "all"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if env is None else env
        read = {
            "stage": ("STAGE", str),
            "idle_timeout": ("IDLE_TIMEOUT_SECONDS", float),
            "max_duration": ("MAX_CONNECTION_SECONDS", float),
            "max_workers": ("HANDLER_CONCURRENCY", int),
            "region": ("AWS_REGION", str),
            "ice_transport_policy": ("ICE_TRANSPORT_POLICY", str),
        }
        values = {}
        for name, (var, cast) in read.items():
            if not env.get(var):
                continue
            try:
                values[name] = cast(env[var])
            except ValueError:
                raise SettingError(f"{var} must be a number, not {env[var]!r}") from None
        policy = values.get("ice_transport_policy", cls.ice_transport_policy)
        if policy not in ICE_TRANSPORT_POLICIES:
            raise SettingError(
                f"ICE_TRANSPORT_POLICY must be one of {', '.join(ICE_TRANSPORT_POLICIES)}, "
                f"not {policy!r}"
            )
        return cls(**{**values, **overrides})


@dataclass
class Connection:
    """One open WebSocket, as the Management API knows it."""

    id: str
    ws: web.WebSocketResponse
    source_ip: str
    user_agent: str
    domain: str  # the Host the client connected to
    connected_at: float  # epoch seconds
    last_active_at: float
    tasks: set[asyncio.Task] = field(default_factory=set)
    close_reason: tuple[int, str] | None = None  # set when the gateway closes it


@dataclass
class FakeLambdaContext:
    """What Lambda passes as ``context``, enough for Powertools."""

    function_name: str
    invoked_function_arn: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    log_group_name: str = "/aws/lambda/p2pchat-local"
    log_stream_name: str = "local"
    timeout_seconds: float = 29.0  # API Gateway's integration timeout
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.started + self.timeout_seconds - time.monotonic()) * 1000))


HANDLER = web.AppKey("handler", Handler)
SETTINGS = web.AppKey("settings", Settings)
CONNECTIONS = web.AppKey("connections", dict[str, Connection])
EXECUTOR = web.AppKey("executor", ThreadPoolExecutor)


# ---- events ---------------------------------------------------------------------------------
def new_connection_id() -> str:
    """16 characters of URL-safe base64 ending in ``=``, like ``BFaT_fALIAMCKug=``."""
    return base64.urlsafe_b64encode(secrets.token_bytes(11)).decode()


def _request_time(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")


def _iso(epoch: float) -> str:
    return (
        datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def request_context(settings: Settings, conn: Connection, route: str, kind: str) -> dict[str, Any]:
    """``requestContext`` as API Gateway sends it (see Powertools' apigw_websocket models)."""
    now = time.time()
    request_id = new_connection_id()
    identity = {"sourceIp": conn.source_ip}
    if conn.user_agent:
        identity["userAgent"] = conn.user_agent
    return {
        "routeKey": route,
        "eventType": kind,
        "extendedRequestId": request_id,
        "requestTime": _request_time(now),
        "messageDirection": "IN",
        "stage": settings.stage,
        "connectedAt": int(conn.connected_at * 1000),
        "requestTimeEpoch": int(now * 1000),
        "identity": identity,
        "requestId": request_id,
        "domainName": conn.domain,
        "connectionId": conn.id,
        "apiId": settings.api_id,
    }


def _headers_event(headers: Mapping[str, str]) -> dict[str, Any]:
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in headers.items():
        multi.setdefault(name, []).append(value)
        single[name] = value
    return {"headers": single, "multiValueHeaders": multi}


def select_route(body: str, routes: frozenset[str]) -> str:
    """``$request.body.action``: a known route, or ``$default``."""
    try:
        action = json.loads(body).get("action")
    except (ValueError, AttributeError):
        return "$default"
    return action if isinstance(action, str) and action in routes else "$default"


# ---- handler invocation ---------------------------------------------------------------------
async def invoke(app: web.Application, event: dict[str, Any]) -> Any:
    """Run the handler off the event loop, as Lambda would, and return its result."""
    settings = app[SETTINGS]
    context = FakeLambdaContext(
        function_name=settings.function_name,
        invoked_function_arn=(
            f"arn:aws:lambda:{settings.region}:000000000000:function:{settings.function_name}"
        ),
    )
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(app[EXECUTOR], app[HANDLER], event, context)


def _status(result: Any) -> int:
    if isinstance(result, Mapping) and isinstance(result.get("statusCode"), int):
        return result["statusCode"]
    return 200


# ---- the WebSocket API ----------------------------------------------------------------------
_DATA_OPCODES = frozenset({0x0, 0x1, 0x2})  # continuation, text, binary


class _FrameLimit:
    """Sits in front of aiohttp's WebSocket parser and watches frame headers on the wire:
    a data frame longer than ``limit`` makes the parser fail with 1009, as API Gateway closes."""

    def __init__(self, parser: Any, queue: Any, limit: int) -> None:
        self._parser, self._queue, self._limit = parser, queue, limit
        self._header = b""  # bytes of a frame header read so far
        self._skip = 0  # payload bytes left in the current frame
        self._failed = False

    def feed_eof(self) -> None:
        self._parser.feed_eof()

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if self._failed:
            return True, b""
        if self._too_big(bytes(data)):
            self._failed = True
            self._queue.set_exception(
                WebSocketError(WSCloseCode.MESSAGE_TOO_BIG, "Frame size exceeds the limit")
            )
            return True, b""
        return self._parser.feed_data(data)

    def _too_big(self, data: bytes) -> bool:
        pos, end = 0, len(data)
        while pos < end:
            if self._skip:  # inside a payload: jump over it
                step = min(self._skip, end - pos)
                self._skip -= step
                pos += step
                continue
            self._header += data[pos : pos + 1]  # headers are 2 to 14 bytes: byte by byte
            pos += 1
            need = self._header_length()
            if need is None or len(self._header) < need:
                continue
            opcode, length = self._header[0] & 0x0F, self._payload_length()
            self._header = b""
            if opcode in _DATA_OPCODES and length > self._limit:
                return True
            self._skip = length
        return False

    def _header_length(self) -> int | None:
        if len(self._header) < 2:
            return None
        size = self._header[1] & 0x7F
        masked = 4 if self._header[1] & 0x80 else 0
        return 2 + {126: 2, 127: 8}.get(size, 0) + masked

    def _payload_length(self) -> int:
        size = self._header[1] & 0x7F
        if size == 126:
            return int.from_bytes(self._header[2:4], "big")
        if size == 127:
            return int.from_bytes(self._header[2:10], "big")
        return size


class _LimitedWebSocket(web.WebSocketResponse):
    """aiohttp's WebSocketResponse with API Gateway's per-frame limit in front of its parser
    (aiohttp itself only limits whole messages)."""

    def __init__(self, frame_limit: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._frame_limit = frame_limit

    def _post_start(self, request: web.BaseRequest, protocol: str | None, writer: Any) -> None:
        super()._post_start(request, protocol, writer)
        # The one private hook: aiohttp has no frame-size option (pinned aiohttp; a test
        # sends a 32 KB + 1 frame and expects 1009, so an upgrade that breaks this shows).
        request.protocol._payload_parser = _FrameLimit(
            request.protocol._payload_parser, self._reader, self._frame_limit
        )


def _client_ip(request: web.Request) -> str:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    return peer[0] if peer else "127.0.0.1"


async def websocket_api(request: web.Request) -> web.StreamResponse:
    app = request.app
    settings = app[SETTINGS]
    ws = _LimitedWebSocket(
        settings.frame_limit,
        max_msg_size=settings.message_limit,
        compress=False,  # API Gateway negotiates no permessage-deflate
        timeout=2.0,  # how long a close waits for the client's answer (shutdown stays quick)
    )
    if not ws.can_prepare(request).ok:
        return web.Response(status=426, text="Upgrade Required\n")

    now = time.time()
    conn = Connection(
        id=new_connection_id(),
        ws=ws,
        source_ip=_client_ip(request),
        user_agent=request.headers.get("User-Agent", ""),
        domain=request.host,
        connected_at=now,
        last_active_at=now,
    )
    event = {
        **_headers_event(request.headers),
        "requestContext": request_context(settings, conn, "$connect", "CONNECT"),
        "isBase64Encoded": False,
    }
    if request.query:
        event["queryStringParameters"] = dict(request.query)
        event["multiValueQueryStringParameters"] = {
            key: request.query.getall(key) for key in request.query
        }
    started = time.monotonic()
    try:
        status = _status(await invoke(app, event))
    except Exception:
        log.exception("$connect handler failed for %s", conn.id)
        status = 500
    origin = request.headers.get("Origin", "-")
    log.info("connect    %s from %s origin=%s -> %d (%s)", conn.id, conn.source_ip, origin,
             status, _ms(started))  # fmt: skip
    if not 200 <= status < 300:
        return web.Response(status=status, text=f"{_reason(status)}\n")

    app[CONNECTIONS][conn.id] = conn  # before the 101 leaves: the client may be told its id
    try:
        await ws.prepare(request)
    except BaseException:
        app[CONNECTIONS].pop(conn.id, None)
        raise
    watchdog = asyncio.create_task(_watch_limits(conn, settings))
    try:
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                conn.last_active_at = time.time()
                _start(conn, _route_message(app, conn, msg.data))
            elif msg.type is WSMsgType.ERROR and isinstance(msg.data, WebSocketError):
                conn.close_reason = (msg.data.code, str(msg.data))  # 1009: frame or message
            elif msg.type is WSMsgType.BINARY:
                # API Gateway takes no binary frames from clients: it closes with 1003.
                conn.close_reason = (WSCloseCode.UNSUPPORTED_DATA, "Binary frames unsupported")
                await ws.close(code=WSCloseCode.UNSUPPORTED_DATA, message=b"Binary frames")
    finally:
        watchdog.cancel()
        app[CONNECTIONS].pop(conn.id, None)
        await asyncio.shield(_disconnect(app, conn))
    return ws


def _start(conn: Connection, coro: Awaitable[None]) -> None:
    task = asyncio.ensure_future(coro)
    conn.tasks.add(task)
    task.add_done_callback(conn.tasks.discard)


async def _route_message(app: web.Application, conn: Connection, body: str) -> None:
    route = select_route(body, app[SETTINGS].routes)
    context = {
        **request_context(app[SETTINGS], conn, route, "MESSAGE"),
        "messageId": new_connection_id(),
    }
    event = {"requestContext": context, "body": body, "isBase64Encoded": False}
    started = time.monotonic()
    try:
        result = _status(await invoke(app, event))
    except Exception:
        log.exception("%s handler failed for %s", route, conn.id)
        result = "error"
        # What API Gateway tells the client when the integration fails.
        failure = {"message": "Internal server error", "connectionId": conn.id,
                   "requestId": context["requestId"]}  # fmt: skip
        with contextlib.suppress(ConnectionError, RuntimeError):
            await conn.ws.send_str(json.dumps(failure))
    log.info("message    %s %s %d B -> %s (%s)", conn.id, route, len(body), result, _ms(started))


async def _disconnect(app: web.Application, conn: Connection) -> None:
    code = conn.ws.close_code
    if conn.close_reason is not None:
        code, reason = conn.close_reason
    elif code is None or code == WSCloseCode.ABNORMAL_CLOSURE:
        code, reason = 1006, "Connection closed abnormally"
    elif code in (0, 1005):  # a close frame without a status code
        code, reason = 1005, "Client-side close frame status not set"
    else:
        reason = "Client-side close frame status set"
    event = {
        **_headers_event({"Host": conn.domain, "X-Forwarded-For": conn.source_ip}),
        "requestContext": {
            **request_context(app[SETTINGS], conn, "$disconnect", "DISCONNECT"),
            "disconnectStatusCode": code,
            "disconnectReason": reason,
        },
        "isBase64Encoded": False,
    }
    started = time.monotonic()
    try:
        result: Any = _status(await invoke(app, event))
    except Exception:
        log.exception("$disconnect handler failed for %s", conn.id)
        result = "error"
    log.info("disconnect %s %d %s -> %s (%s)", conn.id, code, reason, result, _ms(started))


async def _watch_limits(conn: Connection, settings: Settings) -> None:
    """Close the connection at the idle timeout or the maximum duration, with 1001."""
    deadline = conn.connected_at + settings.max_duration
    while True:
        now = time.time()
        idle_deadline = conn.last_active_at + settings.idle_timeout
        if now >= deadline or now >= idle_deadline:
            which = "Connection duration exceeded" if now >= deadline else "Idle timeout"
            conn.close_reason = (WSCloseCode.GOING_AWAY, f"Going away ({which})")
            await conn.ws.close(code=WSCloseCode.GOING_AWAY, message=b"Going away")
            return
        await asyncio.sleep(min(deadline, idle_deadline) - now)


def _ms(started: float) -> str:
    return f"{(time.monotonic() - started) * 1000:.0f} ms"


def _reason(status: int) -> str:
    with contextlib.suppress(ValueError):
        return HTTPStatus(status).phrase
    return "Error"


# ---- the Management API ---------------------------------------------------------------------
def _gone() -> web.Response:
    """410 as API Gateway sends it: botocore turns the header into ``GoneException``."""
    return web.Response(
        status=410,
        body=b'{"message":null}',
        content_type="application/json",
        headers={"x-amzn-ErrorType": "GoneException", "x-amzn-RequestId": str(uuid.uuid4())},
    )


def _live(request: web.Request) -> Connection | None:
    conn = request.app[CONNECTIONS].get(request.match_info["connection_id"])
    return None if conn is None or conn.ws.closed else conn


async def post_to_connection(request: web.Request) -> web.Response:
    conn = _live(request)
    if conn is None:
        return _gone()
    data = await request.read()
    if len(data) > request.app[SETTINGS].message_limit:
        return web.Response(
            status=413,
            body=json.dumps({"message": "Message too long"}).encode(),
            content_type="application/json",
            headers={"x-amzn-ErrorType": "PayloadTooLargeException"},
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    try:
        if text is None:
            await conn.ws.send_bytes(data)
        else:
            await conn.ws.send_str(text)
    except (ConnectionError, RuntimeError):
        return _gone()
    log.debug("post       %s %d B", conn.id, len(data))
    return web.Response(status=200, headers={"x-amzn-RequestId": str(uuid.uuid4())})


async def get_connection(request: web.Request) -> web.Response:
    conn = _live(request)
    if conn is None:
        return _gone()
    return web.json_response(
        {
            "connectedAt": _iso(conn.connected_at),
            "identity": {"sourceIp": conn.source_ip, "userAgent": conn.user_agent},
            "lastActiveAt": _iso(conn.last_active_at),
        }
    )


async def delete_connection(request: web.Request) -> web.Response:
    conn = _live(request)
    if conn is None:
        return _gone()
    conn.close_reason = (WSCloseCode.OK, "Connection deleted by the Management API")
    await conn.ws.close(code=WSCloseCode.OK, message=b"")
    log.info("delete     %s", conn.id)
    return web.Response(status=204)


# ---- the site -------------------------------------------------------------------------------
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
    """The shape CDK writes (infra/constructs/site.py), with this machine's WebSocket URL."""
    return web.json_response(
        {
            "signalingUrl": signaling_url(request),
            "iceTransportPolicy": request.app[SETTINGS].ice_transport_policy,
        }
    )


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


# ---- the app --------------------------------------------------------------------------------
async def _executor_ctx(app: web.Application) -> AsyncIterator[None]:
    app[EXECUTOR] = ThreadPoolExecutor(
        max_workers=app[SETTINGS].max_workers, thread_name_prefix="lambda"
    )
    yield
    app[EXECUTOR].shutdown(wait=True, cancel_futures=False)


async def _close_sockets(app: web.Application) -> None:
    """On shutdown: close every socket with 1001, so each gets its $disconnect, and let the
    invocations in flight finish."""
    conns = list(app[CONNECTIONS].values())
    for conn in conns:
        conn.close_reason = (WSCloseCode.GOING_AWAY, "Going away (server shutting down)")
    await asyncio.gather(
        *(conn.ws.close(code=WSCloseCode.GOING_AWAY, message=b"Server shutdown") for conn in conns),
        return_exceptions=True,
    )
    tasks = [task for conn in conns for task in conn.tasks]
    await asyncio.gather(*tasks, return_exceptions=True)


def create_app(
    handler: Handler,
    settings: Settings | None = None,
    cleanup_contexts: tuple[Callable[[web.Application], AsyncIterator[None]], ...] = (),
) -> web.Application:
    """The gateway around ``handler(event, context)``. ``cleanup_contexts`` run first (for
    example the database), so they are up before the gateway and stopped after it."""
    app = web.Application(middlewares=[site_headers])
    app[HANDLER] = handler
    app[SETTINGS] = settings or Settings()
    app[CONNECTIONS] = {}
    app.cleanup_ctx.extend(cleanup_contexts)
    app.cleanup_ctx.append(_executor_ctx)
    app.on_shutdown.append(_close_sockets)
    stage = app[SETTINGS].stage
    for prefix in ("", f"/{stage}"):
        path = f"{prefix}/@connections/{{connection_id}}"
        app.router.add_post(path, post_to_connection)
        app.router.add_get(path, get_connection)
        app.router.add_delete(path, delete_connection)
    app.router.add_get(WS_PATH, websocket_api)
    app.router.add_get("/config.json", config_json)
    app.router.add_get("/{path:.*}", static_file)
    return app


async def serve(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Start ``app`` on ``host:port`` (0: a free port); ``runner.addresses`` says where."""
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=5)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner
