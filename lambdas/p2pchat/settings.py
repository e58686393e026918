"""The function's configuration, read from the environment on every invocation, and the
$connect origin rule.

Imports neither pydantic nor boto3, so that $connect (and the module import, the cold start)
does not pay for them. ICE_SERVERS is the operator's configuration, checked by hand against
the RTCIceServer shape.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import table_spec
from .limits import DEFAULT_MAX_PEERS, MAX_PEERS_LIMIT
from .observability import logger

DEFAULT_ICE_SERVERS: list[dict[str, Any]] = [{"urls": "stun:stun.l.google.com:19302"}]
ICE_SERVER_KEYS = ("urls", "username", "credential")  # an RTCIceServer dictionary


@dataclass(frozen=True)
class Settings:
    table_name: str = table_spec.LOCAL_TABLE_NAME
    max_peers: int = DEFAULT_MAX_PEERS
    allowed_origins: frozenset[str] | None = None  # None: any origin (development)
    ice_servers: list[dict[str, Any]] = field(default_factory=lambda: list(DEFAULT_ICE_SERVERS))
    ttl_seconds: int = table_spec.DEFAULT_TTL_SECONDS
    apigw_endpoint: str | None = None
    dynamodb_endpoint: str | None = None
    region: str = "us-east-1"

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        return cls(
            table_name=env.get("TABLE_NAME") or table_spec.LOCAL_TABLE_NAME,
            max_peers=_bounded_int(env.get("MAX_PEERS"), DEFAULT_MAX_PEERS, 2, MAX_PEERS_LIMIT),
            allowed_origins=parse_origins(env.get("ALLOWED_ORIGINS")),
            ice_servers=_parse_ice_servers(env.get("ICE_SERVERS")),
            ttl_seconds=_bounded_int(
                env.get("ROOM_TTL_SECONDS"), table_spec.DEFAULT_TTL_SECONDS, 60, 30 * 24 * 3600
            ),
            apigw_endpoint=env.get("APIGW_ENDPOINT") or None,
            dynamodb_endpoint=env.get("DYNAMODB_ENDPOINT") or None,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        )


def _bounded_int(raw: str | None, default: int, low: int, high: int) -> int:
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        logger.warning("ignoring a setting that is not a whole number", extra={"value": raw})
        return default
    return min(max(value, low), high)


def _parse_ice_servers(raw: str | None) -> list[dict[str, Any]]:
    if not raw or not raw.strip():
        return list(DEFAULT_ICE_SERVERS)
    try:
        servers = json.loads(raw)
        if not isinstance(servers, list):
            raise ValueError("not a list")
        return [_ice_server(server) for server in servers]
    except (ValueError, RecursionError):
        logger.error("ICE_SERVERS is not a JSON list of RTCIceServer objects; using the default")
        return list(DEFAULT_ICE_SERVERS)


def _ice_server(value: Any) -> dict[str, Any]:
    """One RTCIceServer: `urls` a string or a list of strings, `username` and `credential`
    strings or null (left out), nothing else. Raises ValueError."""
    if not isinstance(value, dict) or not set(value) <= set(ICE_SERVER_KEYS):
        raise ValueError("not an RTCIceServer object")
    urls = value.get("urls")
    if not (
        isinstance(urls, str) or (isinstance(urls, list) and all(isinstance(u, str) for u in urls))
    ):
        raise ValueError("urls must be a string or a list of strings")
    for key in ("username", "credential"):
        if not isinstance(value.get(key), str | None):
            raise ValueError(f"{key} must be a string")
    return {key: value[key] for key in ICE_SERVER_KEYS if value.get(key) is not None}


def normalize_origin(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


def parse_origins(raw: str | None) -> frozenset[str] | None:
    origins = frozenset(normalize_origin(o) for o in (raw or "").split(",") if o.strip())
    return origins or None


def origin_allowed(origin: str | None, allowed: frozenset[str] | None) -> bool:
    """Browsers always send Origin; a client without one is not a browser and is admitted."""
    if allowed is None or origin is None:
        return True
    return normalize_origin(origin) in allowed
