"""Typed domain errors: each carries its protocol code and a plain-English message.

Messages are sentences written here, never ``str(exception)`` of something lower down. Plain
Python (no pydantic): the pure room rules and the protocol both use these codes. The adapter
(function.py) turns any exception into the `error` frame, in one place.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Stable error codes of the `error` frame (docs/protocol.md)."""

    BAD_REQUEST = "bad-request"
    UNKNOWN_ACTION = "unknown-action"
    ROOM_FULL = "room-full"
    NOT_IN_ROOM = "not-in-room"
    UNKNOWN_PEER = "unknown-peer"
    RATE_LIMITED = "rate-limited"
    INTERNAL = "internal"


class P2PChatError(Exception):
    """Base of every error that is answered with an `error` frame."""

    code = ErrorCode.INTERNAL
    default_message = "The request failed."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class BadRequest(P2PChatError):
    code = ErrorCode.BAD_REQUEST
    default_message = "The message is not valid."


class UnknownAction(P2PChatError):
    code = ErrorCode.UNKNOWN_ACTION
    default_message = "Unknown action. Use join, signal, leave, ping or ice-servers."


class RoomFull(P2PChatError):
    code = ErrorCode.ROOM_FULL
    default_message = "The room is full."


class NotInRoom(P2PChatError):
    code = ErrorCode.NOT_IN_ROOM
    default_message = "Join a room first."


class UnknownPeer(P2PChatError):
    code = ErrorCode.UNKNOWN_PEER
    default_message = "No such peer in your room."


class RateLimited(P2PChatError):
    code = ErrorCode.RATE_LIMITED
    default_message = (
        "Too many messages from this connection: the ones over the limit are dropped. Slow down."
    )


class Internal(P2PChatError):
    code = ErrorCode.INTERNAL
    default_message = "Something went wrong on the server. Try again."
