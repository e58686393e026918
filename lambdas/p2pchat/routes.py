"""The routes that read or write rooms: $disconnect and every message route ($default, join,
signal, leave, ping). Imported by the handler on the first such invocation of a container, not
at its import: this is where pydantic, the protocol's models, the store and the relay come in
($connect needs none of them).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from pydantic import ValidationError

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
    client_messages,
)
from .relay import Relay, management_client
from .service import Signaling
from .settings import Settings
from .store import Store, dynamodb_client

if TYPE_CHECKING:
    from .handler import PosterFactory, WebSocketEvent

FIELD_HINTS = {
    "room": "1 to 64 characters of A-Z, a-z, 0-9, _ and -",
    "name": f"1 to {MAX_NAME_CHARS} characters, no control or invisible characters",
    "session": "22 to 64 characters of A-Z, a-z, 0-9, _ and -",
    "to": "the id of a peer in your room",
    "data": f"a JSON object of at most {MAX_SIGNAL_BYTES} bytes",
    "action": "join, signal, leave or ping",
}


def serve(ws: WebSocketEvent, settings: Settings, poster_factory: PosterFactory | None) -> None:
    """$disconnect, or a client message; every failure of a message becomes an error frame."""
    conn = ws.connectionId
    service = build_service(ws, settings, poster_factory)
    if ws.routeKey == "$disconnect":
        try:
            service.disconnect(conn)
        except Exception:
            logger.exception("disconnect clean-up failed; TTL will sweep the items")
        return
    try:  # any other route key, $default included: the body says what it is
        dispatch(service, conn, parse_message(ws))
    except Exception as exc:  # every failure becomes one error frame to the sender
        reply_error(service, conn, exc)


def build_service(
    ws: WebSocketEvent, settings: Settings, poster_factory: PosterFactory | None = None
) -> Signaling:
    store = Store(
        dynamodb_client(settings.dynamodb_endpoint, settings.region),
        settings.table_name,
        settings.ttl_seconds,
    )
    factory = poster_factory or management_client  # None: boto3's Management API client
    poster = factory(management_endpoint(ws, settings), settings.region)
    return Signaling(store, Relay(poster), settings)


def management_endpoint(ws: WebSocketEvent, settings: Settings) -> str:
    if settings.apigw_endpoint:
        return settings.apigw_endpoint
    return f"https://{ws.domainName}/{ws.stage}"


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
        return client_messages().validate_python(raw)
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
