"""The one Lambda entry for every WebSocket route: parse the event, call the service, reply.

``lambda_handler`` serves $connect, $disconnect, $default and the join, signal, leave and ping
routes: $connect here, the others in routes.py, imported on the first of them (cold start: the
import of this module does not load pydantic nor build any validator). Errors are answered
with an `error` frame to the sender (mapped in errors.py) and the route still returns 200: API
Gateway would otherwise send its own opaque error frame.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import aws_clients  # noqa: F401  (boto3 at init: every route but $connect needs it)
from . import observability as obs
from .observability import logger
from .settings import Settings, origin_allowed

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from .relay import Poster

    PosterFactory = Callable[[str, str], Poster]  # (endpoint URL, region) -> poster

OK = {"statusCode": 200}
FORBIDDEN = {"statusCode": 403}


@dataclass(frozen=True)
class WebSocketEvent:
    """The part of an API Gateway WebSocket event this function reads (see tests/events/).

    Read by hand from the event dict, not through a pydantic model: it is API Gateway's input,
    not the client's, and a model would build its validator at import (cold start). Anything
    that is not such an event raises NotAnEvent (answered 400). The client's own input, the
    body, is validated with the protocol's models (parse_message).
    """

    routeKey: str
    connectionId: str
    domainName: str | None = None
    stage: str | None = None
    requestId: str | None = None
    headers: dict[str, str] | None = None
    body: str | None = None
    isBase64Encoded: bool = False

    @classmethod
    def from_event(cls, event: Any) -> WebSocketEvent:
        if not isinstance(event, dict):
            raise NotAnEvent("the event is not an object")
        ctx = event.get("requestContext")
        if not isinstance(ctx, dict):
            raise NotAnEvent("no requestContext")
        headers = event.get("headers")
        if headers is not None and not (
            isinstance(headers, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())
        ):
            raise NotAnEvent("headers is not an object of strings")
        base64 = event.get("isBase64Encoded", False)
        if not isinstance(base64, bool):
            raise NotAnEvent("isBase64Encoded is not a boolean")
        return cls(
            routeKey=_text(ctx, "routeKey", required=True),
            connectionId=_text(ctx, "connectionId", required=True),
            domainName=_text(ctx, "domainName"),
            stage=_text(ctx, "stage"),
            requestId=_text(ctx, "requestId"),
            headers=headers,
            body=_text(event, "body"),
            isBase64Encoded=base64,
        )

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in (self.headers or {}).items() if k.lower() == wanted), None)


class NotAnEvent(ValueError):
    """The input is not an API Gateway WebSocket event."""


def _text(data: dict[str, Any], key: str, *, required: bool = False) -> Any:
    value = data.get(key)
    if isinstance(value, str) or (value is None and not required):
        return value
    raise NotAnEvent(f"{key} is {'missing or ' if required else ''}not a string")


# Tests and the local gateway may replace how the Management API poster is made
# (None: boto3's apigatewaymanagementapi client, relay.management_client).
_poster_factory: PosterFactory | None = None


def set_poster_factory(factory: PosterFactory | None) -> None:
    """Use `factory` to reach connections (None: boto3's apigatewaymanagementapi client)."""
    global _poster_factory
    _poster_factory = factory


def lambda_handler(event: dict[str, Any], context: LambdaContext | None) -> dict[str, Any]:
    if context is None:  # a local caller without a Lambda context
        return handle(event)
    return _with_context(event, context)


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
def _with_context(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event)


def handle(event: dict[str, Any]) -> dict[str, Any]:
    try:
        ws = WebSocketEvent.from_event(event)
    except NotAnEvent:
        obs.start_request()
        logger.error("not an API Gateway WebSocket event")
        return {"statusCode": 400}
    conn, route = ws.connectionId, ws.routeKey
    obs.start_request(connection_id=conn, route=route)
    settings = Settings.from_env()
    if route == "$connect":
        return connect(ws, settings)
    # Every other route reads or writes rooms: pydantic, the protocol's models, the store and
    # the relay are imported on the first such invocation (then cached in sys.modules).
    from . import routes

    routes.serve(ws, settings, _poster_factory)
    return OK


def connect(ws: WebSocketEvent, settings: Settings) -> dict[str, Any]:
    origin = ws.header("origin")
    if origin_allowed(origin, settings.allowed_origins):
        logger.info("connected")
        return OK
    logger.warning("refused a foreign origin", extra={"origin": (origin or "")[:200]})
    return FORBIDDEN
