"""The API Gateway Management API: post frames to connections, check and close them.

Wraps a poster with the boto3 ``apigatewaymanagementapi`` client's interface
(``post_to_connection``, ``get_connection``, ``delete_connection``). A gone connection (HTTP
410, GoneException) is reported as data, never raised.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Protocol

from botocore.exceptions import ClientError

from .observability import logger
from .protocol import ServerFrame, encode


class Poster(Protocol):
    def post_to_connection(self, *, ConnectionId: str, Data: bytes) -> Any: ...
    def get_connection(self, *, ConnectionId: str) -> Any: ...
    def delete_connection(self, *, ConnectionId: str) -> Any: ...


class Delivery(Enum):
    DELIVERED = "delivered"
    GONE = "gone"  # 410: the connection no longer exists
    FAILED = "failed"  # anything else (throttled, timed out...): logged, state unchanged


@dataclass(frozen=True)
class ConnectionState:
    gone: bool
    last_active: datetime | None = None  # timezone-aware, as botocore parses it


def _is_gone(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") in {"GoneException", "410"}


class Relay:
    def __init__(self, poster: Poster) -> None:
        self._poster = poster

    def send(self, conn: str, frame: ServerFrame) -> Delivery:
        try:
            self._poster.post_to_connection(ConnectionId=conn, Data=encode(frame))
        except ClientError as exc:
            if _is_gone(exc):
                return Delivery.GONE
            logger.warning("post_to_connection failed", extra={"target": conn, "code": _code(exc)})
            return Delivery.FAILED
        return Delivery.DELIVERED

    def check(self, conn: str) -> ConnectionState:
        """GET @connections/{id}: gone only when API Gateway says so; otherwise when the
        client last sent something (None if unknown)."""
        try:
            answer = self._poster.get_connection(ConnectionId=conn)
        except ClientError as exc:
            if _is_gone(exc):
                return ConnectionState(gone=True)
            logger.warning("get_connection failed", extra={"target": conn, "code": _code(exc)})
            return ConnectionState(gone=False)
        last = answer.get("LastActiveAt") if isinstance(answer, dict) else None
        return ConnectionState(gone=False, last_active=last if isinstance(last, datetime) else None)

    def close(self, conn: str) -> None:
        """DELETE @connections/{id}; a connection already gone is fine."""
        try:
            self._poster.delete_connection(ConnectionId=conn)
        except ClientError as exc:
            if not _is_gone(exc):
                logger.warning(
                    "delete_connection failed", extra={"target": conn, "code": _code(exc)}
                )


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "unknown"))

