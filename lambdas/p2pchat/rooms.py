"""Pure membership rules: who may join, who a join replaces, where a signal may go.

Knows nothing of API Gateway, DynamoDB or the wire format: it takes the state the store read
and returns decisions as data, one variant per outcome (``JoinPlan | Full`` for a join,
``Route | Refused`` for a signal). Plain Python: imports nothing of the package.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import Enum


def session_hash(session: str | None) -> str | None:
    """What is stored of a session token: its SHA-256, never the token itself."""
    if session is None:
        return None
    return hashlib.sha256(session.encode("ascii")).hexdigest()


def new_peer_id() -> str:
    """A random peer id: 128 bits, URL-safe, 22 characters. Never derived from a connection."""
    return secrets.token_urlsafe(16)


@dataclass(frozen=True)
class Member:
    peer_id: str
    name: str
    conn: str
    sess: str | None  # SHA-256 of the session token, if the client sent one
    joined: int  # epoch milliseconds of the first join; orders the `peers` list


# Sessions a room remembers after they leave, newest first: a tab that reloads or reconnects
# after its $disconnect came back under the same peer id. Bounded to keep the room item small.
MAX_KNOWN_SESSIONS = 8


@dataclass(frozen=True)
class KnownSession:
    """A session that has been a member of the room: its peer id and when it last joined."""

    peer_id: str
    seen: int  # epoch milliseconds


@dataclass(frozen=True)
class RoomState:
    """A room as read. version 0 means the room item does not exist yet."""

    room: str
    version: int
    members: tuple[Member, ...]
    sessions: Mapping[str, KnownSession] = field(default_factory=dict)

    def member(self, peer_id: str) -> Member | None:
        return next((m for m in self.members if m.peer_id == peer_id), None)

    def others(self, peer_id: str) -> tuple[Member, ...]:
        """Every member but one, oldest first."""
        return tuple(m for m in oldest_first(self.members) if m.peer_id != peer_id)


@dataclass(frozen=True)
class Binding:
    """One membership as the CONN and PEER items hold it: connection, room, peer."""

    conn: str
    room: str
    peer_id: str


@dataclass(frozen=True)
class JoinPlan:
    """Write `members` if the room is still at `expected_version`.

    `replaced_conn` is the previous connection of a resumed member (to delete and close).
    """

    room: str
    expected_version: int
    members: tuple[Member, ...]
    joiner: Member
    resumed: bool
    replaced_conn: str | None
    sessions: Mapping[str, KnownSession] = field(default_factory=dict)

    def others(self) -> tuple[Member, ...]:
        return tuple(m for m in oldest_first(self.members) if m.peer_id != self.joiner.peer_id)


@dataclass(frozen=True)
class Full:
    """The room has no free place; `members` are the ones to check for gone connections."""

    members: tuple[Member, ...]


def oldest_first(members: tuple[Member, ...]) -> tuple[Member, ...]:
    return tuple(sorted(members, key=lambda m: (m.joined, m.peer_id)))


def must_leave_first(current: Binding | None, state: RoomState, sess: str | None) -> bool:
    """A connection already in a room leaves it before joining, unless it is resuming itself."""
    if current is None:
        return False
    if current.room != state.room or sess is None:
        return True
    member = state.member(current.peer_id)
    return member is None or member.sess != sess


def decide_join(
    state: RoomState,
    *,
    conn: str,
    name: str,
    sess: str | None,
    capacity: int,
    now_ms: int,
    peer_id: str,
) -> JoinPlan | Full:
    """Resume the member with this session, else admit a member if there is room.

    A session the room knows (it was a member before) gets its old peer id back and the
    others hear `resumed`; any other join gets the fresh `peer_id`.
    """
    if sess is not None:
        for member in state.members:
            if member.sess == sess:
                joiner = replace(member, conn=conn, name=name)
                members = tuple(joiner if m is member else m for m in state.members)
                return JoinPlan(
                    room=state.room,
                    expected_version=state.version,
                    members=members,
                    joiner=joiner,
                    resumed=True,
                    replaced_conn=member.conn if member.conn != conn else None,
                    sessions=remember(state.sessions, sess, member.peer_id, now_ms),
                )
    if len(state.members) >= capacity:
        return Full(members=oldest_first(state.members))
    known = state.sessions.get(sess) if sess is not None else None
    joiner = Member(
        peer_id=known.peer_id if known else peer_id, name=name, conn=conn, sess=sess, joined=now_ms
    )
    return JoinPlan(
        room=state.room,
        expected_version=state.version,
        members=(*state.members, joiner),
        joiner=joiner,
        resumed=known is not None,
        replaced_conn=None,
        sessions=remember(state.sessions, sess, joiner.peer_id, now_ms),
    )


def remember(
    sessions: Mapping[str, KnownSession], sess: str | None, peer_id: str, now_ms: int
) -> dict[str, KnownSession]:
    """The room's known sessions with this one added or refreshed, the newest kept."""
    updated = dict(sessions)
    if sess is not None:
        updated[sess] = KnownSession(peer_id=peer_id, seen=now_ms)
    newest = sorted(updated.items(), key=lambda kv: kv[1].seen, reverse=True)
    return dict(newest[:MAX_KNOWN_SESSIONS])


@dataclass(frozen=True)
class Route:
    """A signal's way: stamped with the sender's peer id, posted to the addressee only."""

    from_peer: str
    to: Binding


class Refused(Enum):
    """Why a signal goes nowhere."""

    NOT_IN_ROOM = "the sender is in no room"
    UNKNOWN_PEER = "the addressee is not another member of the sender's room"


def route_signal(sender: Binding | None, addressee: Binding | None) -> Route | Refused:
    """Where a signal goes: only to another member of the sender's room, at this moment."""
    if sender is None:
        return Refused.NOT_IN_ROOM
    if addressee is None or addressee.room != sender.room or addressee.peer_id == sender.peer_id:
        return Refused.UNKNOWN_PEER
    return Route(from_peer=sender.peer_id, to=addressee)
