"""Typed domain errors and the one place that maps them to protocol error codes.

Messages are plain sentences written here, never ``str(exception)`` of something lower down.
"""

from __future__ import annotations

from .protocol import Error, ErrorCode


class P2PChatError(Exception):
    """Base of every error that is answered with an `error` frame."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)
        self.message = message or self.default_message

    default_message = "The request failed."


class BadRequest(P2PChatError):
    default_message = "The message is not valid."


class UnknownAction(P2PChatError):
    default_message = "Unknown action. Use join, signal, leave or ping."


class RoomFull(P2PChatError):
    default_message = "The room is full."


class NotInRoom(P2PChatError):
    default_message = "Join a room first."


class UnknownPeer(P2PChatError):
    default_message = "No such peer in your room."


class Internal(P2PChatError):
    default_message = "Something went wrong on the server. Try again."


ERROR_CODES: dict[type[P2PChatError], ErrorCode] = {
    BadRequest: ErrorCode.BAD_REQUEST,
    UnknownAction: ErrorCode.UNKNOWN_ACTION,
    RoomFull: ErrorCode.ROOM_FULL,
    NotInRoom: ErrorCode.NOT_IN_ROOM,
    UnknownPeer: ErrorCode.UNKNOWN_PEER,
    Internal: ErrorCode.INTERNAL,
}


def error_frame(error: Exception) -> Error:
    """The `error` frame for any exception; anything unexpected becomes `internal`."""
    if isinstance(error, P2PChatError):
        return Error(code=ERROR_CODES[type(error)], message=error.message)
    return Error(code=ErrorCode.INTERNAL, message=Internal.default_message)
