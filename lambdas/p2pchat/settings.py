"""The deployment contract of the signaling function, defined once.

What the function reads from its environment (each variable's name, default and rule), the
rules for ICE servers, transport policies and room capacity, and the shape of the site's
``config.json``. The Lambda module reads it at init; ``infra/`` sets it (and checks CDK context
with the same rules); ``local/`` and the tests build ``Settings`` directly, never through
``os.environ``. See docs/deploy.md and docs/local-stack.md.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from . import table_spec
from .observability import logger
from .protocol import DEFAULT_MAX_PEERS, MAX_PEERS_LIMIT

MIN_PEERS = 2  # a call needs two
MIN_TTL_SECONDS = 60
MAX_TTL_SECONDS = 30 * 24 * 3600
DEFAULT_REGION = "us-east-1"

# Fair use: messages one connection may send per window (pings included); the rest are
# dropped. Our page sets up a 1:1 call with 3, and about 2 per extra member of a group.
DEFAULT_RATE_LIMIT = 50
DEFAULT_RATE_WINDOW_SECONDS = 10
# Members ping this often (the server says so in `joined`); one silent for STALE_AFTER is
# treated as gone when a newcomer needs its place. Two and a half intervals: a background
# tab's timers may be aligned to whole minutes by the browser. Each ping costs two API
# Gateway messages and a counter write (docs/benchmarks.md): the interval trades the cost of
# an hour of call against how long a vanished member can keep its place.
DEFAULT_KEEPALIVE_SECONDS = 60
DEFAULT_STALE_AFTER_SECONDS = 150
# Where TURN credentials come from: none (STUN only), secret (minted here by the TURN REST
# scheme from a secret shared with coturn or any compatible server), kvs (Kinesis Video
# Streams' managed TURN).
TURN_MODES = ("none", "secret", "kvs")
# Lifetime of minted credentials: longer than API Gateway's 2-hour connection limit, so a
# credential outlives the connection that fetched it; a client refreshes them before expiry.
DEFAULT_TURN_CREDENTIAL_SECONDS = 3 * 3600
TURN_CREDENTIAL_SECONDS_RANGE = (60, 7 * 24 * 3600)
TURN_URL_PATTERN = r"^turns?:\S+$"

# RTCConfiguration.iceTransportPolicy, handed to browsers in config.json: "relay" sends media
# through TURN servers only, so neither side learns the other's IP addresses.
ICE_TRANSPORT_POLICIES = ("all", "relay")
DEFAULT_ICE_TRANSPORT_POLICY = "all"
DEFAULT_ICE_SERVERS: list[dict[str, Any]] = [{"urls": ["stun:stun.l.google.com:19302"]}]
ICE_URL_PATTERN = r"^(stun|stuns|turn|turns):\S+$"


class Var(StrEnum):
    """The environment variables the function reads: the one list of their names."""

    TABLE_NAME = "TABLE_NAME"
    MAX_PEERS = "MAX_PEERS"
    ALLOWED_ORIGINS = "ALLOWED_ORIGINS"
    ICE_SERVERS = "ICE_SERVERS"
    ROOM_TTL_SECONDS = "ROOM_TTL_SECONDS"
    APIGW_ENDPOINT = "APIGW_ENDPOINT"
    DYNAMODB_ENDPOINT = "DYNAMODB_ENDPOINT"
    AWS_REGION = "AWS_REGION"
    RATE_LIMIT_MESSAGES = "RATE_LIMIT_MESSAGES"
    RATE_LIMIT_WINDOW_SECONDS = "RATE_LIMIT_WINDOW_SECONDS"
    KEEPALIVE_SECONDS = "KEEPALIVE_SECONDS"
    STALE_AFTER_SECONDS = "STALE_AFTER_SECONDS"
    TURN = "TURN"  # none, secret or kvs
    TURN_URLS = "TURN_URLS"
    TURN_SECRET_ARN = "TURN_SECRET_ARN"
    TURN_SECRET = "TURN_SECRET"
    TURN_CREDENTIAL_SECONDS = "TURN_CREDENTIAL_SECONDS"
    KVS_CHANNEL_ARN = "KVS_CHANNEL_ARN"
    # Read by Powertools itself (observability.py); the stack sets them.
    POWERTOOLS_SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
    POWERTOOLS_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
    POWERTOOLS_LOG_LEVEL = "POWERTOOLS_LOG_LEVEL"
    POWERTOOLS_METRICS_DISABLED = "POWERTOOLS_METRICS_DISABLED"


# Who provides each variable in the cloud. A test checks the CDK construct sets exactly
# SET_BY_STACK, and that every variable is in one of these groups.
SET_BY_STACK = frozenset(
    {
        Var.TABLE_NAME,
        Var.MAX_PEERS,
        Var.ALLOWED_ORIGINS,
        Var.ICE_SERVERS,
        Var.POWERTOOLS_SERVICE_NAME,
        Var.POWERTOOLS_METRICS_NAMESPACE,
        Var.POWERTOOLS_LOG_LEVEL,
    }
)
# Set by the stack when it offers TURN (absent: none): secret (TURN, TURN_URLS,
# TURN_SECRET_ARN, TURN_CREDENTIAL_SECONDS) or kvs (TURN, KVS_CHANNEL_ARN).
SET_BY_STACK_FOR_TURN = frozenset(
    {Var.TURN, Var.TURN_URLS, Var.TURN_SECRET_ARN, Var.TURN_CREDENTIAL_SECONDS, Var.KVS_CHANNEL_ARN}
)
SET_BY_LAMBDA = frozenset({Var.AWS_REGION})
# Their defaults are what the cloud wants.
OPTIONAL = frozenset(
    {
        Var.ROOM_TTL_SECONDS,
        Var.RATE_LIMIT_MESSAGES,
        Var.RATE_LIMIT_WINDOW_SECONDS,
        Var.KEEPALIVE_SECONDS,
        Var.STALE_AFTER_SECONDS,
        Var.POWERTOOLS_METRICS_DISABLED,
    }
)
# None in the cloud. The cloud never has the TURN secret in its environment (visible to
# anyone who may read the function's configuration): it reads it from Secrets Manager.
LOCAL_ONLY = frozenset({Var.APIGW_ENDPOINT, Var.DYNAMODB_ENDPOINT, Var.TURN_SECRET})


# ---- ICE servers: one rule for the function, CDK context and the local stack --------------
IceUrl = Annotated[str, Field(pattern=ICE_URL_PATTERN, max_length=2048)]


class IceServer(BaseModel):
    """One RTCIceServer dictionary: `urls` (stun:, stuns:, turn: or turns:), and for TURN a
    `username` and `credential`."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    urls: IceUrl | Annotated[list[IceUrl], Field(min_length=1)]
    username: str | None = None
    credential: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


_ICE_SERVER_LIST = TypeAdapter(list[IceServer])


class IceServersError(ValueError):
    """ICE servers that are not a list of RTCIceServer objects; says what is wrong."""


def parse_ice_servers(value: str | list[Any]) -> list[dict[str, Any]]:
    """ICE servers as JSON text or a list, checked; raises IceServersError."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            raise IceServersError("ICE servers must be a JSON list") from None
    try:
        servers = _ICE_SERVER_LIST.validate_python(value)
    except ValidationError as error:
        first = error.errors(include_url=False, include_input=False)[0]
        # "0.urls", not pydantic's names of union members ("0.urls.constrained-str").
        parts = [str(part) for part in first["loc"] if not _is_type_tag(part)]
        where = ".".join(parts)
        raise IceServersError(
            f"ICE servers must be a list of RTCIceServer objects (urls stun:, stuns:, turn: or "
            f"turns:, optional username and credential); at {where or 'the top'}: {first['msg']}"
        ) from None
    return [server.as_dict() for server in servers]


def _is_type_tag(part: str | int) -> bool:
    return isinstance(part, str) and (part == "str" or "constrained" in part or "[" in part)


def ice_servers_json(servers: list[dict[str, Any]]) -> str:
    """The ICE_SERVERS value: compact JSON."""
    return json.dumps(servers, separators=(",", ":"))


def has_turn(servers: list[dict[str, Any]]) -> bool:
    for server in servers:
        urls = server["urls"]
        for url in [urls] if isinstance(urls, str) else urls:
            if url.startswith(("turn:", "turns:")):
                return True
    return False


# ---- origins -------------------------------------------------------------------------------
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


# ---- the function's settings ---------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    """Everything the function is configured with. Built once per container in the cloud
    (``from_env``), directly by the local stack and the tests."""

    table_name: str = table_spec.LOCAL_TABLE_NAME
    max_peers: int = DEFAULT_MAX_PEERS
    allowed_origins: frozenset[str] | None = None  # None: any origin (development)
    ice_servers: list[dict[str, Any]] = field(default_factory=lambda: list(DEFAULT_ICE_SERVERS))
    ttl_seconds: int = table_spec.DEFAULT_TTL_SECONDS
    apigw_endpoint: str | None = None  # None: https://{domainName}/{stage} of each event
    dynamodb_endpoint: str | None = None  # None: the region's DynamoDB
    region: str = DEFAULT_REGION
    rate_limit: int = DEFAULT_RATE_LIMIT  # messages per connection per window
    rate_window_seconds: int = DEFAULT_RATE_WINDOW_SECONDS
    keepalive_seconds: int = DEFAULT_KEEPALIVE_SECONDS
    stale_after_seconds: int = DEFAULT_STALE_AFTER_SECONDS
    turn: str = "none"  # one of TURN_MODES
    turn_urls: tuple[str, ...] = ()  # secret: the TURN server's turn:/turns: URLs
    turn_secret_arn: str | None = None  # secret, in the cloud: Secrets Manager
    turn_secret: str | None = field(default=None, repr=False)  # secret, locally only
    turn_credential_seconds: int = DEFAULT_TURN_CREDENTIAL_SECONDS
    kvs_channel_arn: str | None = None  # kvs

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        """Read once at init. A value that breaks a rule is logged and its default used, so
        a typo in the console never takes the service down."""
        keepalive = _bounded_int(env, Var.KEEPALIVE_SECONDS, DEFAULT_KEEPALIVE_SECONDS, 1, 540)
        return cls(
            table_name=env.get(Var.TABLE_NAME) or table_spec.LOCAL_TABLE_NAME,
            max_peers=_bounded_int(
                env, Var.MAX_PEERS, DEFAULT_MAX_PEERS, MIN_PEERS, MAX_PEERS_LIMIT
            ),
            allowed_origins=parse_origins(env.get(Var.ALLOWED_ORIGINS)),
            ice_servers=_ice_servers_or_default(env.get(Var.ICE_SERVERS)),
            ttl_seconds=_bounded_int(
                env, Var.ROOM_TTL_SECONDS, table_spec.DEFAULT_TTL_SECONDS, MIN_TTL_SECONDS,
                MAX_TTL_SECONDS,
            ),
            apigw_endpoint=env.get(Var.APIGW_ENDPOINT) or None,
            dynamodb_endpoint=env.get(Var.DYNAMODB_ENDPOINT) or None,
            region=env.get(Var.AWS_REGION) or env.get("AWS_DEFAULT_REGION") or DEFAULT_REGION,
            rate_limit=_bounded_int(env, Var.RATE_LIMIT_MESSAGES, DEFAULT_RATE_LIMIT, 10, 10_000),
            rate_window_seconds=_bounded_int(
                env, Var.RATE_LIMIT_WINDOW_SECONDS, DEFAULT_RATE_WINDOW_SECONDS, 1, 3600
            ),
            keepalive_seconds=keepalive,
            # Never below two intervals: a live member would be evicted between its pings.
            stale_after_seconds=_bounded_int(
                env, Var.STALE_AFTER_SECONDS, DEFAULT_STALE_AFTER_SECONDS, 2 * keepalive, 3600
            ),
            **_turn_from_env(env),
        )

    def to_env(self) -> dict[str, str]:
        """The variables that give these settings back through ``from_env``."""
        env = {
            Var.TABLE_NAME: self.table_name,
            Var.MAX_PEERS: str(self.max_peers),
            Var.ALLOWED_ORIGINS: ",".join(sorted(self.allowed_origins or ())),
            Var.ICE_SERVERS: ice_servers_json(self.ice_servers),
            Var.ROOM_TTL_SECONDS: str(self.ttl_seconds),
            Var.APIGW_ENDPOINT: self.apigw_endpoint or "",
            Var.DYNAMODB_ENDPOINT: self.dynamodb_endpoint or "",
            Var.AWS_REGION: self.region,
            Var.RATE_LIMIT_MESSAGES: str(self.rate_limit),
            Var.RATE_LIMIT_WINDOW_SECONDS: str(self.rate_window_seconds),
            Var.KEEPALIVE_SECONDS: str(self.keepalive_seconds),
            Var.STALE_AFTER_SECONDS: str(self.stale_after_seconds),
            Var.TURN: self.turn,
            Var.TURN_URLS: json.dumps(list(self.turn_urls)) if self.turn_urls else "",
            Var.TURN_SECRET_ARN: self.turn_secret_arn or "",
            Var.TURN_SECRET: self.turn_secret or "",
            Var.TURN_CREDENTIAL_SECONDS: str(self.turn_credential_seconds),
            Var.KVS_CHANNEL_ARN: self.kvs_channel_arn or "",
        }
        return {str(k): v for k, v in env.items() if v}


# Each Settings field and the variable it is read from (checked by a test).
FIELD_VARIABLES = {
    "table_name": Var.TABLE_NAME,
    "max_peers": Var.MAX_PEERS,
    "allowed_origins": Var.ALLOWED_ORIGINS,
    "ice_servers": Var.ICE_SERVERS,
    "ttl_seconds": Var.ROOM_TTL_SECONDS,
    "apigw_endpoint": Var.APIGW_ENDPOINT,
    "dynamodb_endpoint": Var.DYNAMODB_ENDPOINT,
    "region": Var.AWS_REGION,
    "rate_limit": Var.RATE_LIMIT_MESSAGES,
    "rate_window_seconds": Var.RATE_LIMIT_WINDOW_SECONDS,
    "keepalive_seconds": Var.KEEPALIVE_SECONDS,
    "stale_after_seconds": Var.STALE_AFTER_SECONDS,
    "turn": Var.TURN,
    "turn_urls": Var.TURN_URLS,
    "turn_secret_arn": Var.TURN_SECRET_ARN,
    "turn_secret": Var.TURN_SECRET,
    "turn_credential_seconds": Var.TURN_CREDENTIAL_SECONDS,
    "kvs_channel_arn": Var.KVS_CHANNEL_ARN,
}
assert set(FIELD_VARIABLES) == {f.name for f in fields(Settings)}


def _bounded_int(env: Mapping[str, str], var: Var, default: int, low: int, high: int) -> int:
    raw = env.get(var)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        logger.warning("ignoring a setting that is not a whole number",
                       extra={"setting": str(var), "value": raw[:100]})  # fmt: skip
        return default
    return min(max(value, low), high)


TurnUrl = Annotated[str, Field(pattern=TURN_URL_PATTERN, max_length=2048)]
_TURN_URL_LIST = TypeAdapter(Annotated[list[TurnUrl], Field(min_length=1)])


def parse_turn_urls(value: str | list[Any]) -> tuple[str, ...]:
    """TURN URLs as JSON text or a list: at least one, each turn: or turns:; raises ValueError."""
    try:
        urls = json.loads(value) if isinstance(value, str) else value
        return tuple(_TURN_URL_LIST.validate_python(urls))
    except (ValueError, RecursionError, ValidationError):
        raise ValueError("TURN URLs must be a JSON list of turn: or turns: URLs") from None


def _turn_from_env(env: Mapping[str, str]) -> dict[str, Any]:
    """The TURN settings, or none (logged) when they are incomplete: a call still connects
    wherever STUN suffices."""
    mode = env.get(Var.TURN) or "none"
    values: dict[str, Any] = {
        "turn_credential_seconds": _bounded_int(
            env, Var.TURN_CREDENTIAL_SECONDS, DEFAULT_TURN_CREDENTIAL_SECONDS,
            *TURN_CREDENTIAL_SECONDS_RANGE,
        )
    }
    try:
        if mode not in TURN_MODES:
            raise ValueError(f"TURN must be one of {', '.join(TURN_MODES)}")
        if mode == "secret":
            values["turn_urls"] = parse_turn_urls(env.get(Var.TURN_URLS) or "")
            values["turn_secret_arn"] = env.get(Var.TURN_SECRET_ARN) or None
            values["turn_secret"] = env.get(Var.TURN_SECRET) or None
            if not (values["turn_secret_arn"] or values["turn_secret"]):
                raise ValueError("TURN=secret needs TURN_SECRET_ARN (or TURN_SECRET locally)")
        elif mode == "kvs":
            values["kvs_channel_arn"] = env.get(Var.KVS_CHANNEL_ARN) or None
            if not values["kvs_channel_arn"]:
                raise ValueError("TURN=kvs needs KVS_CHANNEL_ARN")
    except ValueError as error:
        logger.error("TURN is misconfigured; offering STUN only", extra={"reason": str(error)})
        return {"turn": "none"}
    return {"turn": mode, **values}


def _ice_servers_or_default(raw: str | None) -> list[dict[str, Any]]:
    if not raw or not raw.strip():
        return list(DEFAULT_ICE_SERVERS)
    try:
        return parse_ice_servers(raw)
    except IceServersError as error:
        logger.error("ICE_SERVERS is invalid; using the default", extra={"reason": str(error)})
        return list(DEFAULT_ICE_SERVERS)


# ---- config.json: what the site tells the browser ------------------------------------------

def site_config(signaling_url: str, ice_transport_policy: str) -> dict[str, str]:
    """The body of ``/config.json``: written by CDK into the bucket, served by the local
    gateway, read by frontend/js/config.js."""
    if ice_transport_policy not in ICE_TRANSPORT_POLICIES:
        raise ValueError(f"iceTransportPolicy must be one of {', '.join(ICE_TRANSPORT_POLICIES)}")
    return {"signalingUrl": signaling_url, "iceTransportPolicy": ice_transport_policy}
