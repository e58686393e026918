"""The part of an API Gateway WebSocket event this function reads (see tests/events/).

Read by hand from the event dict: it is API Gateway's input, not the client's (the client's
body is validated by protocol.parse_client_frame). Anything that is not such an event raises
NotAnEvent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CONNECT = "$connect"
DISCONNECT = "$disconnect"
DEFAULT = "$default"


class NotAnEvent(ValueError):
    """The input is not an API Gateway WebSocket event."""


@dataclass(frozen=True)
class WebSocketEvent:
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


def _text(data: dict[str, Any], key: str, *, required: bool = False) -> Any:
    value = data.get(key)
    if isinstance(value, str) or (value is None and not required):
        return value
    raise NotAnEvent(f"{key} is {'missing or ' if required else ''}not a string")
