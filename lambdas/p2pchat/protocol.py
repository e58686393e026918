"""Protocol v1: the one definition of every message's shape, the limits and the error codes.

Client frames are discriminated on ``action``, server frames on ``type``. Documented in
docs/protocol.md; ``frontend/js/protocol.js`` mirrors the names and limits (a test checks).
``parse_client_frame`` turns a text frame into a message or a ``BadRequest`` that says, in a
sentence, what is wrong.

The models are declared with ``defer_build`` and the two unions' validators are made on first
use (``client_messages()``, ``server_messages()``) and kept for the life of the process.
"""

from __future__ import annotations

import json
import unicodedata
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from .errors import BadRequest, ErrorCode, UnknownAction

DEFAULT_MAX_PEERS = 2  # the seed's 1:1 call
MAX_PEERS_LIMIT = 8  # the data model and protocol hold up to this many members per room
MAX_SIGNAL_BYTES = 16 * 1024  # `data` of a signal, serialized as compact UTF-8 JSON
MAX_DATA_DEPTH = 32  # objects and arrays nested in `data`, itself included (SDP needs 3)
MAX_NAME_CHARS = 40  # after trimming, in Unicode code points
ROOM_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
SESSION_PATTERN = r"^[A-Za-z0-9_-]{22,64}$"  # at least 128 bits of URL-safe base64
PEER_ID_PATTERN = r"^[A-Za-z0-9_-]{16,64}$"  # what the server hands out (22 characters)

# Unicode general categories refused in names: controls, format characters (bidirectional
# overrides, zero-width spaces, BOM...), surrogates, private use, unassigned, and line or
# paragraph separators. The zero-width joiner (U+200D, category Cf) stays allowed because
# emoji sequences such as 👩‍💻 need it.
REFUSED_NAME_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
ALLOWED_FORMAT_CHARS = frozenset({"\u200d"})


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


def nesting_depth(value: Any) -> int:
    """How deep objects and arrays nest in a JSON value (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def signal_data_size(data: dict[str, Any]) -> int:
    """Bytes of `data` once serialized; raises ValueError, with a sentence for the sender,
    for what JSON cannot carry."""
    try:
        return len(dumps(data).encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate
        raise ValueError("it contains a lone surrogate, which is not valid Unicode") from None
    except ValueError:  # allow_nan=False
        raise ValueError("it contains NaN or Infinity, which JSON cannot carry") from None


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
        # Depth first: serializing deeper JSON would exceed the interpreter's recursion limit.
        if nesting_depth(value) > MAX_DATA_DEPTH:
            raise ValueError(f"it nests objects and arrays more than {MAX_DATA_DEPTH} deep")
        if signal_data_size(value) > MAX_SIGNAL_BYTES:
            raise ValueError(f"it is larger than {MAX_SIGNAL_BYTES} bytes")
        return value


class Leave(_Frame):
    action: Literal["leave"]


class Ping(_Frame):
    action: Literal["ping"]


class GetIceServers(_Frame):
    """Fresh ICE servers for a member: before an ICE restart, or before the credentials of
    the last ones expire."""

    action: Literal["ice-servers"]


ClientFrame = Join | Signal | Leave | Ping | GetIceServers
ClientMessage = Annotated[ClientFrame, Field(discriminator="action")]
CLIENT_ACTIONS = frozenset({"join", "signal", "leave", "ping", "ice-servers"})
FIELDS_BY_ACTION = {
    "join": frozenset(Join.model_fields),
    "signal": frozenset(Signal.model_fields),
    "leave": frozenset(Leave.model_fields),
    "ping": frozenset(Ping.model_fields),
    "ice-servers": frozenset(GetIceServers.model_fields),
}


@cache
def client_messages() -> TypeAdapter[ClientFrame]:
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
    iceServersTtl: int | None  # seconds the credentials in iceServers last; None: no expiry
    keepaliveSeconds: int


class IceServers(_Frame):
    type: Literal["ice-servers"] = "ice-servers"
    iceServers: list[dict[str, Any]]
    iceServersTtl: int | None


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


ServerFrame = Joined | IceServers | PeerJoined | Relayed | PeerLeft | Pong | Error
ServerMessage = Annotated[ServerFrame, Field(discriminator="type")]


@cache
def server_messages() -> TypeAdapter[ServerFrame]:
    """The validator of a server frame (tests check every frame sent), built on first use."""
    return TypeAdapter(ServerMessage)


def encode(message: ServerFrame) -> bytes:
    """The text frame posted to a connection."""
    return dumps(message.model_dump(mode="json", by_alias=True)).encode("utf-8")


# ---- parsing a client frame -----------------------------------------------------------------
FIELD_HINTS = {
    "room": "1 to 64 characters of A-Z, a-z, 0-9, _ and -",
    "name": f"1 to {MAX_NAME_CHARS} characters, no control or invisible characters",
    "session": "22 to 64 characters of A-Z, a-z, 0-9, _ and -",
    "to": "the id of a peer in your room",
    "data": (
        f"a JSON object of at most {MAX_SIGNAL_BYTES} bytes, nested at most {MAX_DATA_DEPTH} deep"
    ),
    "action": "join, signal, leave, ping or ice-servers",
}


def parse_client_frame(body: str | None, *, binary: bool = False) -> ClientFrame:
    """A text frame to a client message; raises BadRequest or UnknownAction that say what is
    wrong, never echoing the client's input."""
    if binary:
        raise BadRequest("Send JSON text frames, not binary ones.")
    try:
        raw = json.loads(body or "")
    except ValueError:
        raise BadRequest("The message is not valid JSON.") from None
    except RecursionError:  # deeper than the parser goes (about a thousand levels)
        raise BadRequest(
            f"The message nests objects and arrays too deep (a signal's \"data\" may nest at "
            f"most {MAX_DATA_DEPTH} deep)."
        ) from None
    if not isinstance(raw, dict):
        raise BadRequest("The message must be a JSON object.")
    action = raw.get("action")
    if not isinstance(action, str):
        raise BadRequest(
            'The message needs an "action": join, signal, leave, ping or ice-servers.'
        )
    if action not in CLIENT_ACTIONS:
        raise UnknownAction()
    try:
        return client_messages().validate_python(raw)
    except ValidationError as exc:
        raise BadRequest(describe(exc, action)) from None
    except (ValueError, RecursionError):
        raise BadRequest() from None


def describe(error: ValidationError, action: str) -> str:
    """A plain sentence about the first problem of a frame."""
    first = error.errors(include_input=False, include_url=False)[0]
    loc = first.get("loc", ())
    field = loc[1] if len(loc) > 1 else None
    if first.get("type") == "extra_forbidden" or field not in FIELDS_BY_ACTION[action]:
        return f"Unexpected field for {action}."
    if first.get("type") == "missing":
        return f'Missing field "{field}".'
    if field == "data" and first.get("type") == "value_error":  # our own sentences only
        return f'Invalid "data": {first["ctx"]["error"]}.'
    return f'Invalid "{field}": expected {FIELD_HINTS[str(field)]}.'
