"""Protocol v1: the one definition of every message's shape, the limits and the error codes.

Client frames are discriminated on ``action``, server frames on ``type``. Documented in
docs/protocol.md; ``frontend/js/protocol.js`` mirrors the names and limits. Imports only pydantic
(and limits).

Nothing is validated at import (cold start): the models are declared with ``defer_build`` and
the two unions' ``TypeAdapter``s are made on first use (``client_messages()``,
``server_messages()``, cached for the life of the process).
"""

from __future__ import annotations

import json
import unicodedata
from enum import StrEnum
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

# The limits and patterns live in limits.py (no pydantic) and are re-exported from here.
from .limits import DEFAULT_MAX_PEERS as DEFAULT_MAX_PEERS
from .limits import MAX_NAME_CHARS as MAX_NAME_CHARS
from .limits import MAX_PEERS_LIMIT as MAX_PEERS_LIMIT
from .limits import MAX_SIGNAL_BYTES as MAX_SIGNAL_BYTES
from .limits import PEER_ID_PATTERN as PEER_ID_PATTERN
from .limits import ROOM_PATTERN as ROOM_PATTERN
from .limits import SESSION_PATTERN as SESSION_PATTERN

# Unicode general categories refused in names: controls, format characters (bidirectional
# overrides, zero-width spaces, BOM...), surrogates, private use, unassigned, and line or
# paragraph separators. The zero-width joiner (U+200D, category Cf) stays allowed because
# emoji sequences such as 👩‍💻 need it.
REFUSED_NAME_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
ALLOWED_FORMAT_CHARS = frozenset({"\u200d"})


class ErrorCode(StrEnum):
    """Stable error codes of the `error` frame."""

    BAD_REQUEST = "bad-request"
    UNKNOWN_ACTION = "unknown-action"
    ROOM_FULL = "room-full"
    NOT_IN_ROOM = "not-in-room"
    UNKNOWN_PEER = "unknown-peer"
    INTERNAL = "internal"


def clean_name(value: str) -> str:
    """Trim a display name and refuse what must not be shown; raises ValueError."""
    name = unicodedata.normalize("NFC", value.strip())
    if not 1 <= len(name) <= MAX_NAME_CHARS:
        raise ValueError(f"name must be 1 to {MAX_NAME_CHARS} characters")
    for char in name:
        if (
            unicodedata.category(char) in REFUSED_NAME_CATEGORIES
            and char not in ALLOWED_FORMAT_CHARS
        ):
            raise ValueError("name contains a control or invisible character")
    return name


def dumps(value: Any) -> str:
    """Compact JSON, as posted to connections. Refuses NaN/Infinity (not JSON)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def signal_data_size(data: dict[str, Any]) -> int:
    """Bytes of `data` once serialized; raises ValueError for what JSON cannot carry."""
    try:
        return len(dumps(data).encode("utf-8"))
    except UnicodeEncodeError as exc:  # a lone surrogate
        raise ValueError("data is not valid Unicode") from exc


class _Frame(BaseModel):
    # defer_build: each model's validator is built when it is first used, not at import.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, defer_build=True)


# ---- client to server -----------------------------------------------------------------------
class Join(_Frame):
    action: Literal["join"]
    room: Annotated[str, Field(pattern=ROOM_PATTERN)]
    name: str
    session: Annotated[str, Field(pattern=SESSION_PATTERN)] | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return clean_name(value)


class Signal(_Frame):
    action: Literal["signal"]
    to: Annotated[str, Field(pattern=PEER_ID_PATTERN)]
    data: dict[str, Any]

    @field_validator("data")
    @classmethod
    def _data(cls, value: dict[str, Any]) -> dict[str, Any]:
        if signal_data_size(value) > MAX_SIGNAL_BYTES:
            raise ValueError(f"data is larger than {MAX_SIGNAL_BYTES} bytes")
        return value


class Leave(_Frame):
    action: Literal["leave"]


class Ping(_Frame):
    action: Literal["ping"]


ClientMessage = Annotated[Join | Signal | Leave | Ping, Field(discriminator="action")]
CLIENT_ACTIONS = frozenset({"join", "signal", "leave", "ping"})
FIELDS_BY_ACTION = {
    "join": frozenset(Join.model_fields),
    "signal": frozenset(Signal.model_fields),
    "leave": frozenset(Leave.model_fields),
    "ping": frozenset(Ping.model_fields),
}


@cache
def client_messages() -> TypeAdapter[Join | Signal | Leave | Ping]:
    """The validator of a client frame, built on first use and kept."""
    return TypeAdapter(ClientMessage)


# ---- server to client -----------------------------------------------------------------------
class PeerInfo(_Frame):
    id: str
    name: str


class Joined(_Frame):
    type: Literal["joined"] = "joined"
    room: str
    you: str
    peers: list[PeerInfo]
    iceServers: list[dict[str, Any]]


class PeerJoined(_Frame):
    type: Literal["peer-joined"] = "peer-joined"
    peer: PeerInfo
    resumed: bool


class Relayed(_Frame):
    """The `signal` frame as the addressee receives it; `from` is stamped by the server."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, strict=True, populate_by_name=True, defer_build=True
    )
    type: Literal["signal"] = "signal"
    from_: str = Field(alias="from")
    data: dict[str, Any]


class PeerLeft(_Frame):
    type: Literal["peer-left"] = "peer-left"
    peer: str


class Pong(_Frame):
    type: Literal["pong"] = "pong"


class Error(_Frame):
    type: Literal["error"] = "error"
    code: ErrorCode
    message: str


ServerMessage = Annotated[
    Joined | PeerJoined | Relayed | PeerLeft | Pong | Error, Field(discriminator="type")
]


@cache
def server_messages() -> TypeAdapter[Joined | PeerJoined | Relayed | PeerLeft | Pong | Error]:
    """The validator of a server frame (tests check every frame sent), built on first use."""
    return TypeAdapter(ServerMessage)


_LAZY = {"client_message_adapter": client_messages, "server_message_adapter": server_messages}


def __getattr__(name: str) -> Any:
    """``client_message_adapter`` and ``server_message_adapter`` still work as names
    (built on first access)."""
    if name in _LAZY:
        return _LAZY[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def encode(message: Joined | PeerJoined | Relayed | PeerLeft | Pong | Error) -> bytes:
    """The text frame posted to a connection."""
    return dumps(message.model_dump(mode="json", by_alias=True)).encode("utf-8")
