"""The WebSocket API: ``GET /ws`` upgraded, each connection's events handed to the function.

``$connect`` first (a non-2xx answer refuses the upgrade and nothing is kept), then one
invocation per text message, for the route ``$request.body.action`` names (``$default`` when
it names none, or the body cannot be read at all), then ``$disconnect`` however the socket
ends. Invocations run in thread pools, concurrently, in no promised order, as on Lambda.

Served fairly (local.fairness), so one connection's backlog never delays another's frames or
handshakes: each connection's messages wait in a queue of their own (``connection_queue``
messages, ``connection_queue_bytes``; past it a frame is dropped, and the drops are counted
in the log) and run ``connection_concurrency`` at once at most, the pool's ``max_workers``
slots going to the queues in turn; ``$connect`` and ``$disconnect`` have ``lifecycle_workers``
threads of their own. Frames to the client (Management API posts) wait in the connection's
outbox, at most ``send_buffer_bytes`` (``Connection.post``). Limits as API Gateway's: a frame
over 32 KB or a message over 128 KB closes with 1009, a binary frame with 1003, invalid UTF-8
with 1007, a broken frame with 1002, the idle timeout and the maximum duration with 1001.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web
from aiohttp.http_websocket import WebSocketError

from local import events
from local.fairness import FairQueue
from local.framelimit import LimitedWebSocket
from local.settings import LOG, SETTINGS, WS_PATH, Settings

Handler = Callable[[dict[str, Any], Any], Any]  # handler(event, context), as Lambda calls it

FRAME_HEADER = 10  # the most a server frame's header takes: counted with its payload
CLOSE_SECONDS = 2.0  # a close waits this long for the client to read; then TCP is cut


class Post(enum.Enum):
    QUEUED = "queued"
    FULL = "full"  # the connection's buffer would pass send_buffer_bytes: 429
    GONE = "gone"  # closed or closing: 410


@dataclass
class Connection:
    """One open WebSocket, as the Management API knows it."""

    client: events.Client
    ws: web.WebSocketResponse
    last_active_at: float  # epoch seconds of the client's last message
    transport: asyncio.BaseTransport | None = None
    close_reason: tuple[int, str] | None = None  # set when the gateway closes it
    gone: bool = False  # no more frames are sent to it
    outbox: deque[tuple[bytes, WSMsgType]] = field(default_factory=deque)
    outbox_bytes: int = 0  # payloads and their headers (FRAME_HEADER each)
    refused: int = 0  # posts answered 429 since the outbox was last empty (not yet logged)
    ended: asyncio.Event = field(default_factory=asyncio.Event)  # its $disconnect has run
    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    _flushed: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self._flushed.set()  # nothing to send yet

    @property
    def id(self) -> str:
        return self.client.connection_id

    def held_bytes(self) -> int:
        """What the gateway holds for this client: its outbox, and the socket's write
        buffer (frames written but not yet taken by the kernel)."""
        transport = self.transport
        written = transport.get_write_buffer_size() if transport is not None else 0
        return self.outbox_bytes + written

    def post(self, payload: bytes, opcode: WSMsgType, limit: int) -> Post:
        """Queue a frame for the client, behind those posted before; never waits."""
        if self.gone or self.ws.closed:  # closing, or closed by the client
            return Post.GONE
        size = len(payload) + FRAME_HEADER
        if self.held_bytes() + size > limit:
            return Post.FULL
        self.outbox.append((payload, opcode))
        self.outbox_bytes += size
        self._flushed.clear()
        self._ready.set()
        return Post.QUEUED

    async def write_outbox(self, log: logging.Logger) -> None:
        """Send the outbox in order, as fast as the client reads (one task per connection);
        once it is empty, log how many posts were refused meanwhile."""
        try:
            while True:
                if not self.outbox:
                    self._flushed.set()
                    self.report_refused(log)
                    self._ready.clear()
                    await self._ready.wait()
                    continue
                payload, opcode = self.outbox.popleft()
                self.outbox_bytes -= len(payload) + FRAME_HEADER
                await self.ws.send_frame(payload, opcode)  # waits while the client is full
        except (ConnectionError, RuntimeError):  # the socket is gone
            self.gone = True
            self.outbox.clear()
            self.outbox_bytes = 0
            self._flushed.set()

    def report_refused(self, log: logging.Logger) -> None:
        if self.refused:
            log.warning("post       %s %d posts refused (429): its buffer was full", self.id,
                        self.refused)  # fmt: skip
            self.refused = 0

    def closing(self, code: int, reason: str) -> bool:
        """Mark it closing: no more posts (410), ``$disconnect`` will report ``code`` and
        ``reason``. False if it was already closing."""
        if self.gone:
            return False
        self.gone = True
        if self.close_reason is None:
            self.close_reason = (code, reason)
        return True

    async def close(self, code: int, message: bytes, reason: str) -> None:
        """Close with ``code`` after the frames already posted; a client that does not read
        them within CLOSE_SECONDS is cut off (TCP abort). ``reason`` is ``$disconnect``'s."""
        self.closing(code, reason)
        try:
            async with asyncio.timeout(CLOSE_SECONDS):
                await self._flushed.wait()
                await self.ws.close(code=code, message=message)
        except TimeoutError:
            if self.transport is not None:
                self.transport.abort()


HANDLER = web.AppKey("handler", Handler)
CONNECTIONS = web.AppKey("connections", dict[str, Connection])
MESSAGES = web.AppKey("messages", FairQueue)  # per connection, round-robin
LIFECYCLE = web.AppKey("lifecycle", FairQueue)  # $connect and $disconnect, in turn
POOLS = web.AppKey("pools", dict[str, ThreadPoolExecutor])
DROPPED = web.AppKey("dropped", dict[str, int])  # frames dropped, not yet logged
BACKGROUND = web.AppKey("background", set[asyncio.Task])


def add_websocket_api(app: web.Application, handler: Handler) -> None:
    """``GET /ws`` on ``app``, calling ``handler``; open sockets close with 1001 on shutdown."""
    app[HANDLER] = handler
    app[CONNECTIONS] = {}
    app[DROPPED] = {}
    app[BACKGROUND] = set()
    app.cleanup_ctx.append(_pools_ctx)
    app.on_shutdown.append(_close_sockets)
    app.router.add_get(WS_PATH, websocket_api)


async def invoke(app: web.Application, event: dict[str, Any], pool: str) -> Any:
    """Run the handler on a thread of ``pool``, as Lambda would, and return its result."""
    settings = app[SETTINGS]
    context = events.LambdaContext(function_name=settings.function_name, region=settings.region)
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(app[POOLS][pool], app[HANDLER], event, context)


async def websocket_api(request: web.Request) -> web.StreamResponse:
    app = request.app
    settings, log = app[SETTINGS], app[LOG]
    api = events.Api(settings.stage, settings.api_id)
    ws = LimitedWebSocket(
        settings.frame_limit,
        max_msg_size=settings.message_limit,
        compress=False,  # API Gateway negotiates no permessage-deflate
        timeout=CLOSE_SECONDS,  # how long a close waits for the client's answer
    )
    if not ws.can_prepare(request).ok:
        return web.Response(status=426, text="Upgrade Required\n")

    client = events.Client.new(
        source_ip=_client_ip(request),
        user_agent=request.headers.get("User-Agent", ""),
        domain=request.host,
    )
    query = {key: request.query.getall(key) for key in request.query}
    event = events.connect_event(client, api, request.headers, query)
    started = time.monotonic()
    try:
        call = app[LIFECYCLE].call("$connect", lambda: invoke(app, event, "lifecycle"))
        status = _status(await call)
    except Exception:
        log.exception("$connect handler failed for %s", client.connection_id)
        status = 500
    origin = request.headers.get("Origin", "-")
    log.info("connect    %s from %s origin=%s -> %d (%s)", client.connection_id,
             client.source_ip, origin, status, _ms(started))  # fmt: skip
    if not 200 <= status < 300:
        return web.Response(status=status, text=f"{_reason(status)}\n")

    conn = Connection(client, ws, last_active_at=client.connected_at)
    app[CONNECTIONS][conn.id] = conn  # before the 101 leaves: the client may be told its id
    try:
        await ws.prepare(request)
    except BaseException:
        app[CONNECTIONS].pop(conn.id, None)
        raise
    conn.transport = request.transport
    background = [
        spawn(app, conn.write_outbox(log), f"the outbox of {conn.id}"),
        spawn(app, _watch_limits(conn, settings), f"the time limits of {conn.id}"),
    ]
    try:
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                conn.last_active_at = time.time()  # GET @connections' lastActiveAt
                _queue_message(app, conn, api, msg.data)
            elif msg.type is WSMsgType.ERROR and isinstance(msg.data, WebSocketError):
                # aiohttp closed it: 1009 (frame or message too big), 1007 (invalid UTF-8),
                # 1002 (a frame that breaks the protocol).
                conn.close_reason = conn.close_reason or (msg.data.code, str(msg.data))
            elif msg.type is WSMsgType.BINARY:
                # API Gateway takes no binary frames from clients: it closes with 1003.
                await conn.close(WSCloseCode.UNSUPPORTED_DATA, b"Binary frames",
                                 "Binary frames unsupported")  # fmt: skip
    finally:
        conn.gone = True
        for task in background:
            task.cancel()
        conn.report_refused(log)
        app[CONNECTIONS].pop(conn.id, None)
        disconnect = spawn(app, _disconnect(app, conn, api), f"$disconnect of {conn.id}")
        disconnect.add_done_callback(lambda _: conn.ended.set())
        await asyncio.shield(disconnect)
    return ws


def _client_ip(request: web.Request) -> str:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    return peer[0] if peer else "127.0.0.1"


def spawn(app: web.Application, coro: Any, what: str) -> asyncio.Task:
    """A task of the app's, kept until it ends; its failure is logged, never lost."""
    task = asyncio.ensure_future(coro)
    app[BACKGROUND].add(task)

    def done(task: asyncio.Task) -> None:
        app[BACKGROUND].discard(task)
        if not task.cancelled() and task.exception() is not None:
            app[LOG].error("%s failed", what, exc_info=task.exception())

    task.add_done_callback(done)
    return task


def _queue_message(app: web.Application, conn: Connection, api: events.Api, body: str) -> None:
    """Into the connection's own queue; a frame past its bound is dropped and counted."""
    size = len(body)
    if app[MESSAGES].submit(conn.id, lambda: _route_message(app, conn, api, body), size):
        return
    dropped = app[DROPPED]
    if conn.id not in dropped:
        limits = app[SETTINGS].connection_queue, app[SETTINGS].connection_queue_bytes // 1024
        app[LOG].warning("dropping   %s frames: %d messages or %d KB already waiting",
                         conn.id, *limits)  # fmt: skip
    dropped[conn.id] = dropped.get(conn.id, 0) + 1


def _report_drops(app: web.Application, conn_id: Any) -> None:
    """When a connection's queue has emptied: how many of its frames were dropped."""
    if count := app[DROPPED].pop(conn_id, 0):
        app[LOG].warning("dropped    %s %d frames (its queue was full)", conn_id, count)


async def _route_message(app: web.Application, conn: Connection, api: events.Api,
                         body: str) -> None:  # fmt: skip
    route = events.select_route(body, app[SETTINGS].routes)
    event = events.message_event(conn.client, api, route, body)
    started = time.monotonic()
    try:
        result: Any = _status(await invoke(app, event, "messages"))
    except Exception:
        app[LOG].exception("%s handler failed for %s", route, conn.id)
        result = "error"
        # What API Gateway tells the client when the integration fails.
        failure = {"message": "Internal server error", "connectionId": conn.id,
                   "requestId": event["requestContext"]["requestId"]}  # fmt: skip
        conn.post(json.dumps(failure).encode(), WSMsgType.TEXT, app[SETTINGS].send_buffer_bytes)
    app[LOG].info("message    %s %s %d B -> %s (%s)", conn.id, route, len(body), result,
                  _ms(started))  # fmt: skip


async def _disconnect(app: web.Application, conn: Connection, api: events.Api) -> None:
    code = conn.ws.close_code
    if conn.close_reason is not None:
        code, reason = conn.close_reason
    elif code is None or code == WSCloseCode.ABNORMAL_CLOSURE:
        code, reason = 1006, "Connection closed abnormally"
    elif code in (0, 1005):  # a close frame without a status code
        code, reason = 1005, "Client-side close frame status not set"
    else:
        reason = "Client-side close frame status set"
    event = events.disconnect_event(conn.client, api, code, reason)
    started = time.monotonic()
    try:
        call = app[LIFECYCLE].call("$disconnect", lambda: invoke(app, event, "lifecycle"))
        result: Any = _status(await call)
    except Exception:
        app[LOG].exception("$disconnect handler failed for %s", conn.id)
        result = "error"
    app[LOG].info("disconnect %s %d %s -> %s (%s)", conn.id, code, reason, result, _ms(started))


async def _watch_limits(conn: Connection, settings: Settings) -> None:
    """Close the connection at the idle timeout or the maximum duration, with 1001."""
    deadline = conn.client.connected_at + settings.max_duration
    while True:
        now = time.time()
        idle_deadline = conn.last_active_at + settings.idle_timeout
        if now >= deadline or now >= idle_deadline:
            which = "Connection duration exceeded" if now >= deadline else "Idle timeout"
            await conn.close(WSCloseCode.GOING_AWAY, b"Going away", f"Going away ({which})")
            return
        await asyncio.sleep(min(deadline, idle_deadline) - now)


async def _pools_ctx(app: web.Application) -> AsyncIterator[None]:
    """The thread pools and the fair queues in front of them, for the app's life."""
    settings, log = app[SETTINGS], app[LOG]
    app[POOLS] = {
        "messages": ThreadPoolExecutor(settings.max_workers, settings.thread_name),
        # <thread_name>_lifecycle_0...: still <thread_name>_*, as the stack's log expects
        "lifecycle": ThreadPoolExecutor(
            settings.lifecycle_workers, f"{settings.thread_name}_lifecycle"
        ),
    }
    app[MESSAGES] = FairQueue(
        slots=settings.max_workers,
        per_key=settings.connection_concurrency,
        max_jobs=settings.connection_queue,
        max_bytes=settings.connection_queue_bytes,
        log=log,
        on_idle=lambda conn_id: _report_drops(app, conn_id),
    )
    app[LIFECYCLE] = FairQueue(
        slots=settings.lifecycle_workers, per_key=settings.lifecycle_workers, log=log
    )
    yield
    for pool in app[POOLS].values():
        pool.shutdown(wait=True, cancel_futures=False)


async def _close_sockets(app: web.Application) -> None:
    """On shutdown: close every socket with 1001, so each gets its $disconnect, and let the
    invocations queued or in flight finish."""
    conns = list(app[CONNECTIONS].values())
    await asyncio.gather(
        *(conn.close(WSCloseCode.GOING_AWAY, b"Server shutdown",
                     "Going away (server shutting down)") for conn in conns),
        return_exceptions=True,
    )  # fmt: skip
    await asyncio.gather(*(conn.ended.wait() for conn in conns))
    await app[MESSAGES].drained()
    await asyncio.gather(*app[BACKGROUND], return_exceptions=True)


def _status(result: Any) -> int:
    if isinstance(result, Mapping) and isinstance(result.get("statusCode"), int):
        return result["statusCode"]
    return 200


def _ms(started: float) -> str:
    return f"{(time.monotonic() - started) * 1000:.0f} ms"


def _reason(status: int) -> str:
    with contextlib.suppress(ValueError):
        return HTTPStatus(status).phrase
    return "Error"
