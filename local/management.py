"""The Management API: ``POST|GET|DELETE [/{stage}]/@connections/{id}``.

Answers boto3's unchanged ``apigatewaymanagementapi`` client as AWS does: POST queues the body
for the socket (a text frame, binary if it is not UTF-8; over 128 KB 413) and answers at once,
never waiting for the client to read; past the connection's buffer (``send_buffer_bytes``) it
answers 429 ``LimitExceededException`` ("the WebSocket client side buffer is full") and keeps
nothing, so a retried post is never delivered twice. GET describes the connection
(``lastActiveAt``: the client's last message), DELETE closes it with 1000; an unknown, closed or
closing id answers 410, which botocore turns into ``GoneException``. No authentication: any (or
no) signature is accepted.
"""

from __future__ import annotations

import json
import uuid

from aiohttp import WSCloseCode, WSMsgType, web

from local.events import iso_time
from local.settings import LOG, SETTINGS
from local.websocket import CONNECTIONS, Connection, Post, spawn


def add_management_api(app: web.Application) -> None:
    """The three routes, with and without the stage in the path (as the SDKs call them)."""
    for prefix in ("", f"/{app[SETTINGS].stage}"):
        path = f"{prefix}/@connections/{{connection_id}}"
        app.router.add_post(path, post_to_connection)
        app.router.add_get(path, get_connection)
        app.router.add_delete(path, delete_connection)


def _gone() -> web.Response:
    """410 as API Gateway sends it: botocore turns the header into ``GoneException``."""
    return web.Response(
        status=410,
        body=b'{"message":null}',
        content_type="application/json",
        headers={"x-amzn-ErrorType": "GoneException", "x-amzn-RequestId": str(uuid.uuid4())},
    )


def _error(status: int, kind: str, message: str) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps({"message": message}).encode(),
        content_type="application/json",
        headers={"x-amzn-ErrorType": kind, "x-amzn-RequestId": str(uuid.uuid4())},
    )


def _live(request: web.Request) -> Connection | None:
    conn = request.app[CONNECTIONS].get(request.match_info["connection_id"])
    return None if conn is None or conn.gone or conn.ws.closed else conn


async def post_to_connection(request: web.Request) -> web.Response:
    conn = _live(request)
    if conn is None:
        return _gone()
    data = await request.read()
    settings = request.app[SETTINGS]
    if len(data) > settings.message_limit:
        return _error(413, "PayloadTooLargeException", "Message too long")
    try:
        data.decode("utf-8")
        opcode = WSMsgType.TEXT
    except UnicodeDecodeError:
        opcode = WSMsgType.BINARY
    outcome = conn.post(data, opcode, settings.send_buffer_bytes)
    if outcome is Post.GONE:
        return _gone()
    if outcome is Post.FULL:  # logged once; the count when the client has read it all
        if not conn.refused:
            held = conn.held_bytes() // 1024
            request.app[LOG].warning(
                "post       %s refused (429): %d KB held for a client that does not read",
                conn.id, held,
            )  # fmt: skip
        conn.refused += 1
        return _error(429, "LimitExceededException", "Limit Exceeded")
    request.app[LOG].debug("post       %s %d B", conn.id, len(data))
    return web.Response(status=200, headers={"x-amzn-RequestId": str(uuid.uuid4())})


async def get_connection(request: web.Request) -> web.Response:
    conn = _live(request)
    if conn is None:
        return _gone()
    identity = {"sourceIp": conn.client.source_ip, "userAgent": conn.client.user_agent}
    return web.json_response(
        {
            "connectedAt": iso_time(conn.client.connected_at),
            "identity": identity,
            "lastActiveAt": iso_time(conn.last_active_at),
        }
    )


async def delete_connection(request: web.Request) -> web.Response:
    """204 at once; the socket closes with 1000 after the frames already posted (a client
    that does not read them is cut off after CLOSE_SECONDS), then ``$disconnect``."""
    conn = _live(request)
    if conn is None:
        return _gone()
    conn.closing(WSCloseCode.OK, "Connection deleted by the Management API")
    spawn(request.app, conn.close(WSCloseCode.OK, b"", ""), f"closing {conn.id}")
    request.app[LOG].info("delete     %s", conn.id)
    return web.Response(status=204)
