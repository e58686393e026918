"""The one seam that builds the signaling function: ``build_handler(settings, ...)``.

The Lambda module (handler.py) calls it once at init with settings from the environment; the
local gateway, the tests and the benchmarks call it with explicit settings and their own
clients, several configurations in one process if they like. The handler it returns is the
thin adapter: API Gateway event in, one use case (service.py) called, status out. Any failure
of a client's message becomes one `error` frame to the sender (``error_frame``) and the route
still returns 200: API Gateway would otherwise send its own opaque error frame.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import boto3

from . import observability as obs
from .aws_clients import Clients
from .budget import Verdict
from .errors import ErrorCode, Internal, P2PChatError, RateLimited
from .events import CONNECT, DISCONNECT, NotAnEvent, WebSocketEvent
from .observability import Metrics, logger
from .protocol import (
    ClientFrame,
    Error,
    GetIceServers,
    Join,
    Leave,
    Signal,
    parse_client_frame,
)
from .relay import Poster, Relay
from .service import Signaling
from .settings import Settings, origin_allowed
from .store import Store
from .turn import IceProvider, ice_provider

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
ManagementFactory = Callable[[str, str], Poster]  # (endpoint URL, region) -> poster

OK = {"statusCode": 200}
BAD_EVENT = {"statusCode": 400}
FORBIDDEN = {"statusCode": 403}


def build_handler(
    settings: Settings,
    *,
    session: boto3.session.Session | None = None,
    dynamodb: Any | None = None,
    management: ManagementFactory | None = None,
    metrics: Metrics | None = None,
    ice: IceProvider | None = None,
    clock: Callable[[], float] = time.time,
) -> Handler:
    """The function for these settings. ``session`` makes the boto3 clients (its credentials
    and event hooks); ``dynamodb`` and ``management`` replace them outright; ``clock`` is
    epoch seconds."""
    clients = Clients(session)
    return SignalingFunction(
        settings,
        dynamodb=dynamodb or clients.dynamodb(settings.dynamodb_endpoint, settings.region),
        management=management or clients.management,
        metrics=metrics or Metrics(),
        ice=ice or ice_provider(settings, clients, clock),
        clock=clock,
    )


class SignalingFunction:
    def __init__(
        self,
        settings: Settings,
        *,
        dynamodb: Any,
        management: ManagementFactory,
        metrics: Metrics,
        ice: IceProvider,
        clock: Callable[[], float],
    ) -> None:
        self._settings = settings
        self._store = Store(dynamodb, settings.table_name, settings.ttl_seconds, clock)
        self._management = management
        self._metrics = metrics
        self._ice = ice
        self._clock = clock
        # Powertools adds the context's keys and the request id to every log line.
        self._with_context = logger.inject_lambda_context(
            self._handle, correlation_id_path="requestContext.requestId"
        )

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        return self._with_context(event, context)

    def _handle(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        try:
            ws = WebSocketEvent.from_event(event)
        except NotAnEvent:
            obs.start_request()
            logger.error("not an API Gateway WebSocket event")
            return BAD_EVENT
        obs.start_request(connection_id=ws.connectionId, route=ws.routeKey)
        if ws.routeKey == CONNECT:
            return self._connect(ws)
        service = self._service(ws)
        if ws.routeKey == DISCONNECT:
            try:
                service.disconnect(ws.connectionId)
            except Exception:
                logger.exception("disconnect clean-up failed; TTL will sweep the items")
            return OK
        verdict = service.admit(ws.connectionId)
        if verdict is Verdict.DROP:
            return OK
        try:  # any other route key, $default included: the body says what it is
            if verdict is Verdict.REFUSE:
                raise RateLimited()
            message = parse_client_frame(ws.body, binary=ws.isBase64Encoded)
            dispatch(service, ws.connectionId, message)
        except Exception as exc:
            reply_error(service, self._metrics, ws.connectionId, exc)
        return OK

    def _connect(self, ws: WebSocketEvent) -> dict[str, Any]:
        origin = ws.header("origin")
        if origin_allowed(origin, self._settings.allowed_origins):
            logger.info("connected")
            return OK
        logger.warning("refused a foreign origin", extra={"origin": (origin or "")[:200]})
        return FORBIDDEN

    def _service(self, ws: WebSocketEvent) -> Signaling:
        endpoint = self._settings.apigw_endpoint or f"https://{ws.domainName}/{ws.stage}"
        poster = self._management(endpoint, self._settings.region)
        return Signaling(
            self._store, Relay(poster), self._settings, self._metrics, self._ice, self._clock
        )


def dispatch(service: Signaling, conn: str, message: ClientFrame) -> None:
    if isinstance(message, Join):
        service.join(conn, message)
    elif isinstance(message, Signal):
        service.signal(conn, message)
    elif isinstance(message, Leave):
        service.leave(conn)
    elif isinstance(message, GetIceServers):
        service.ice_servers(conn)
    else:
        service.ping(conn)


def error_frame(error: Exception) -> Error:
    """The `error` frame for any exception; anything unexpected becomes `internal`."""
    if isinstance(error, P2PChatError):
        return Error(code=error.code, message=error.message)
    return Error(code=ErrorCode.INTERNAL, message=Internal.default_message)


def reply_error(service: Signaling, metrics: Metrics, conn: str, error: Exception) -> None:
    frame = error_frame(error)
    if isinstance(error, P2PChatError):
        logger.info("request refused", extra={"code": frame.code.value})
    else:
        logger.exception("request failed")
    try:
        metrics.count(obs.ERRORS, code=frame.code.value)
        service.reply(conn, frame)
    except Exception:
        logger.exception("could not send the error frame")
