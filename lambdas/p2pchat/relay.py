"""The API Gateway Management API: post frames to connections, check and close them.

Wraps a poster with the boto3 ``apigatewaymanagementapi`` client's interface
(``post_to_connection``, ``get_connection``, ``delete_connection``); tests inject a fake with the
same methods. A gone connection (HTTP 410, GoneException) is reported as data, never raised.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Protocol

from botocore.exceptions import ClientError

from .aws_clients import cached_client
from .observability import logger
from .protocol import Error, Joined, PeerJoined, PeerLeft, Pong, Relayed, encode

ServerFrame = Joined | PeerJoined | Relayed | PeerLeft | Pong | Error


class Poster(Protocol):
    def post_to_connection(self, *, ConnectionId: str, Data: bytes) -> Any: ...
    def get_connection(self, *, ConnectionId: str) -> Any: ...
    def delete_connection(self, *, ConnectionId: str) -> Any: ...


class Delivery(Enum):
    DELIVERED = "delivered"
    GONE = "gone"  # 410: the connection no longer exists
    FAILED = "failed"  # anything else (throttled, timed out...): logged, state unchanged


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

    def is_gone(self, conn: str) -> bool:
        """GET @connections/{id}: True only when API Gateway says the connection is gone."""
        try:
            self._poster.get_connection(ConnectionId=conn)
        except ClientError as exc:
            if _is_gone(exc):
                return True
            logger.warning("get_connection failed", extra={"target": conn, "code": _code(exc)})
        return False

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


def management_client(endpoint: str, region: str) -> Poster:
    """The Management API client for one endpoint (https://{domainName}/{stage})."""
    return cached_client("apigatewaymanagementapi", endpoint, region, max_attempts=3)
