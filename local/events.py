"""What API Gateway hands the function: WebSocket events and the Lambda context.

The events have the shape of the recorded ones in tests/events/ (Powertools'
``APIGatewayWebSocket*EventModel`` parse them; tests/local checks it). Pure: no aiohttp, no
clock but the one each event is stamped with.

    client = Client.new(source_ip="127.0.0.1", user_agent="ua", domain="127.0.0.1:8080")
    handler(connect_event(client, api, headers, query), LambdaContext())
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

INTEGRATION_TIMEOUT_SECONDS = 29.0  # API Gateway's


@dataclass(frozen=True)
class Api:
    """The deployed API an event comes from."""

    stage: str = "local"
    api_id: str = "local"


@dataclass(frozen=True)
class Client:
    """One WebSocket connection as API Gateway knows it when it builds an event."""

    connection_id: str
    source_ip: str
    user_agent: str  # "" when the client sent none
    domain: str  # the Host the client connected to
    connected_at: float  # epoch seconds

    @classmethod
    def new(cls, *, source_ip: str, user_agent: str, domain: str) -> Client:
        return cls(new_connection_id(), source_ip, user_agent, domain, time.time())


@dataclass
class LambdaContext:
    """What Lambda passes as ``context``: enough for Powertools (``inject_lambda_context``).

    ``LambdaContext()`` is the local stack's function; the remaining time counts down from
    API Gateway's integration timeout, 29 s, from the moment it is made."""

    function_name: str = "p2pchat-local"
    region: str = "us-east-1"
    account_id: str = "000000000000"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    log_stream_name: str = "local"
    timeout_seconds: float = INTEGRATION_TIMEOUT_SECONDS
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.started + self.timeout_seconds - time.monotonic()) * 1000))


def new_connection_id() -> str:
    """16 characters of URL-safe base64 ending in ``=``, like ``BFaT_fALIAMCKug=``."""
    return base64.urlsafe_b64encode(secrets.token_bytes(11)).decode()


def select_route(body: str, routes: frozenset[str]) -> str:
    """``$request.body.action``: a known route, or ``$default``. Never raises: a body that
    cannot be read (not JSON, not an object, nested too deep for the parser: RecursionError,
    a number too long to convert) is ``$default``, and the function answers it."""
    try:
        action = json.loads(body).get("action")
    except Exception:  # whatever the body, the client gets an answer
        return "$default"
    return action if isinstance(action, str) and action in routes else "$default"


def connect_event(
    client: Client, api: Api, headers: Mapping[str, str], query: Mapping[str, list[str]]
) -> dict[str, Any]:
    """``$connect``: the upgrade request's headers and query (each name with all its values)."""
    event = {
        **_headers(headers.items()),
        "requestContext": request_context(client, api, "$connect", "CONNECT"),
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = {key: values[0] for key, values in query.items()}
        event["multiValueQueryStringParameters"] = {k: list(v) for k, v in query.items()}
    return event


def message_event(client: Client, api: Api, route: str, body: str) -> dict[str, Any]:
    """A text message from the client, for ``route`` (see ``select_route``)."""
    context = {
        **request_context(client, api, route, "MESSAGE"),
        "messageId": new_connection_id(),
    }
    return {"requestContext": context, "body": body, "isBase64Encoded": False}


def disconnect_event(client: Client, api: Api, code: int, reason: str) -> dict[str, Any]:
    """``$disconnect``, with the close code and reason API Gateway reports."""
    return {
        **_headers([("Host", client.domain), ("X-Forwarded-For", client.source_ip)]),
        "requestContext": {
            **request_context(client, api, "$disconnect", "DISCONNECT"),
            "disconnectStatusCode": code,
            "disconnectReason": reason,
        },
        "isBase64Encoded": False,
    }


def request_context(client: Client, api: Api, route: str, kind: str) -> dict[str, Any]:
    """``requestContext`` as API Gateway sends it (see Powertools' apigw_websocket models)."""
    now = time.time()
    request_id = new_connection_id()
    identity = {"sourceIp": client.source_ip}
    if client.user_agent:
        identity["userAgent"] = client.user_agent
    return {
        "routeKey": route,
        "eventType": kind,
        "extendedRequestId": request_id,
        "requestTime": datetime.fromtimestamp(now, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "messageDirection": "IN",
        "stage": api.stage,
        "connectedAt": int(client.connected_at * 1000),
        "requestTimeEpoch": int(now * 1000),
        "identity": identity,
        "requestId": request_id,
        "domainName": client.domain,
        "connectionId": client.connection_id,
        "apiId": api.api_id,
    }


def _headers(pairs: Any) -> dict[str, Any]:
    """``headers`` (the last value of each name) and ``multiValueHeaders`` (all of them)."""
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        multi.setdefault(name, []).append(value)
        single[name] = value
    return {"headers": single, "multiValueHeaders": multi}


def iso_time(epoch: float) -> str:
    """The Management API's timestamps: ``2026-11-25T09:44:10.123Z``."""
    stamp = datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")
