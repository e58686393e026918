"""The one Lambda entry for every WebSocket route: parse the event, call the service, reply.

``lambda_handler`` serves $connect, $disconnect, $default and the join, signal, leave and ping
routes. Errors are answered with an `error` frame to the sender (mapped in errors.py) and the
route still returns 200: API Gateway would otherwise send its own opaque error frame.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from . import observability as obs
from .errors import BadRequest, P2PChatError, UnknownAction, error_frame
from .observability import logger
from .protocol import (
    CLIENT_ACTIONS,
    FIELDS_BY_ACTION,
    MAX_NAME_CHARS,
    MAX_SIGNAL_BYTES,
    Join,
    Leave,
    Ping,
    Signal,
    client_message_adapter,
)
from .relay import Poster, Relay, management_client
from .service import Settings, Signaling, origin_allowed
from .store import Store, dynamodb_client

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

OK = {"statusCode": 200}
FORBIDDEN = {"statusCode": 403}

FIELD_HINTS = {
    "room": "1 to 64 characters of A-Z, a-z, 0-9, _ and -",
    "name": f"1 to {MAX_NAME_CHARS} characters, no control or invisible characters",
    "session": "22 to 64 characters of A-Z, a-z, 0-9, _ and -",
    "to": "the id of a peer in your room",
    "data": f"a JSON object of at most {MAX_SIGNAL_BYTES} bytes",
    "action": "join, signal, leave or ping",
}


class RequestContext(BaseModel):
    routeKey: str
    connectionId: str
    domainName: str | None = None
    stage: str | None = None
    requestId: str | None = None


class WebSocketEvent(BaseModel):
    """The part of an API Gateway WebSocket event this function reads (see tests/events/)."""

    requestContext: RequestContext
    headers: dict[str, str] | None = None
    body: str | None = None
    isBase64Encoded: bool = False

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in (self.headers or {}).items() if k.lower() == wanted), None)


# Tests and the local gateway may replace how the Management API poster is made.
PosterFactory = Callable[[str, str], Poster]  # (endpoint URL, region) -> poster
_poster_factory: PosterFactory = management_client


def set_poster_factory(factory: PosterFactory | None) -> None:
    """Use `factory` to reach connections (None: boto3's apigatewaymanagementapi client)."""
    global _poster_factory
    _poster_factory = factory or management_client


def lambda_handler(event: dict[str, Any], context: LambdaContext | None) -> dict[str, Any]:
    if context is None:  # a local caller without a Lambda context
        return handle(event)
    return _with_context(event, context)


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
def _with_context(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event)


def handle(event: dict[str, Any]) -> dict[str, Any]:
    try:
        ws = WebSocketEvent.model_validate(event)
    except ValidationError:
        obs.start_request()
        logger.error("not an API Gateway WebSocket event")
        return {"statusCode": 400}
    conn, route = ws.requestContext.connectionId, ws.requestContext.routeKey
    obs.start_request(connection_id=conn, route=route)
    settings = Settings.from_env()
    if route == "$connect":
        return connect(ws, settings)
    service = build_service(ws, settings)
    if route == "$disconnect":
        try:
            service.disconnect(conn)
        except Exception:
            logger.exception("disconnect clean-up failed; TTL will sweep the items")
        return OK
    try:  # any other route key, $default included: the body says what it is
        dispatch(service, conn, parse_message(ws))
    except Exception as exc:  # every failure becomes one error frame to the sender
        reply_error(service, conn, exc)
    return OK


def build_service(ws: WebSocketEvent, settings: Settings) -> Signaling:
    store = Store(
        dynamodb_client(settings.dynamodb_endpoint, settings.region),
        settings.table_name,
        settings.ttl_seconds,
    )
    poster = _poster_factory(management_endpoint(ws, settings), settings.region)
    return Signaling(store, Relay(poster), settings)


def connect(ws: WebSocketEvent, settings: Settings) -> dict[str, Any]:
    origin = ws.header("origin")
    if origin_allowed(origin, settings.allowed_origins):
        logger.info("connected")
        return OK
    logger.warning("refused a foreign origin", extra={"origin": (origin or "")[:200]})
    return FORBIDDEN


def management_endpoint(ws: WebSocketEvent, settings: Settings) -> str:
    if settings.apigw_endpoint:
        return settings.apigw_endpoint
    ctx = ws.requestContext
    return f"https://{ctx.domainName}/{ctx.stage}"


def dispatch(service: Signaling, conn: str, message: Join | Signal | Leave | Ping) -> None:
    if isinstance(message, Join):
        service.join(conn, message)
    elif isinstance(message, Signal):
        service.signal(conn, message)
    elif isinstance(message, Leave):
        service.leave(conn)
    else:
        service.ping(conn)


def parse_message(ws: WebSocketEvent) -> Join | Signal | Leave | Ping:
    """A text frame to a client message, or a typed error that says what is wrong."""
    if ws.isBase64Encoded:
        raise BadRequest("Send JSON text frames, not binary ones.")
    try:
        raw = json.loads(ws.body or "")
    except (ValueError, RecursionError):
        raise BadRequest("The message is not valid JSON.") from None
    if not isinstance(raw, dict):
        raise BadRequest("The message must be a JSON object.")
    action = raw.get("action")
    if not isinstance(action, str):
        raise BadRequest('The message needs an "action": join, signal, leave or ping.')
    if action not in CLIENT_ACTIONS:
        raise UnknownAction()
    try:
        return client_message_adapter.validate_python(raw)
    except ValidationError as exc:
        raise BadRequest(describe(exc, action)) from None
    except (ValueError, RecursionError):
        raise BadRequest() from None


def describe(error: ValidationError, action: str) -> str:
    """A plain sentence about the first problem; never echoes the client's input."""
    first = error.errors(include_input=False, include_url=False)[0]
    loc = first.get("loc", ())
    field = loc[1] if len(loc) > 1 else None
    logger.info("invalid message", extra={"error_type": first.get("type"), "field": str(field)})
    if first.get("type") == "extra_forbidden" or field not in FIELDS_BY_ACTION[action]:
        return f"Unexpected field for {action}."
    if first.get("type") == "missing":
        return f'Missing field "{field}".'
    return f'Invalid "{field}": expected {FIELD_HINTS[str(field)]}.'


def reply_error(service: Signaling, conn: str, error: Exception) -> None:
    frame = error_frame(error)
    if isinstance(error, P2PChatError):
        logger.info("request refused", extra={"code": frame.code.value})
    else:
        logger.exception("request failed")
    try:
        obs.count(obs.ERRORS, code=frame.code.value)
        service.reply(conn, frame)
    except Exception:
        logger.exception("could not send the error frame")
