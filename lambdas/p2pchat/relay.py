"""The API Gateway Management API: post frames to connections, check and close them.

Wraps a poster with the boto3 ``apigatewaymanagementapi`` client's interface
(``post_to_connection``, ``get_connection``, ``delete_connection``); tests inject a fake with the
same methods. A gone connection (HTTP 410, GoneException) is reported as data, never raised.
"""

from __future__ import annotations

import threading
from enum import Enum
from typing import Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

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


_clients: dict[tuple[str, str], Any] = {}
_clients_lock = threading.Lock()


def management_client(endpoint: str, region: str) -> Poster:
    """One boto3 Management API client per endpoint, per container."""
    key = (endpoint, region)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = boto3.session.Session().client(
                "apigatewaymanagementapi",
                endpoint_url=endpoint,
                region_name=region,
                config=Config(
                    connect_timeout=2,
                    read_timeout=5,
                    retries={"mode": "standard", "max_attempts": 3},
                ),
            )
            _clients[key] = client
        return client


def clear_client_cache() -> None:
    with _clients_lock:
        _clients.clear()
