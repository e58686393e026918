"""The use cases: join, signal, leave, disconnect, ping.

Reads through the store, decides with the pure rules in ``rooms``, writes through the store and
tells the members through the relay. Knows nothing of API Gateway event shapes: the handler
turns an event into one call here. Raises typed domain errors (errors.py) for the sender.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from . import observability as obs
from .errors import Internal, NotInRoom, RoomFull
from .observability import logger
from .protocol import (
    MAX_PEERS_LIMIT,
    Join,
    Joined,
    PeerJoined,
    PeerLeft,
    Pong,
    Relayed,
    Signal,
)
from .relay import Delivery, Relay, ServerFrame
from .rooms import (
    Binding,
    Full,
    JoinPlan,
    Member,
    RoomState,
    decide_join,
    must_leave_first,
    new_peer_id,
    route_signal,
    session_hash,
)
from .settings import DEFAULT_ICE_SERVERS as DEFAULT_ICE_SERVERS
from .settings import Settings
from .settings import origin_allowed as origin_allowed
from .settings import parse_origins as parse_origins
from .store import Store

# Optimistic attempts per join. Every failed attempt means another write to the room
# succeeded, and a room takes at most MAX_PEERS_LIMIT joins before it is full, so this bound
# is only reached under pathological churn (answered `internal`).
JOIN_ATTEMPTS = MAX_PEERS_LIMIT + 4


class Signaling:
    def __init__(
        self,
        store: Store,
        relay: Relay,
        settings: Settings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._relay = relay
        self._settings = settings
        self._clock = clock

    # ---- routes ---------------------------------------------------------------------------
    def ping(self, conn: str) -> None:
        self._relay.send(conn, Pong())

    def reply(self, conn: str, frame: ServerFrame) -> None:
        """A frame to the sender itself; if it is gone, its own $disconnect cleans up."""
        self._relay.send(conn, frame)

    def join(self, conn: str, message: Join) -> None:
        obs.bind(room=message.room)
        sess = session_hash(message.session)
        peer_id = new_peer_id()  # used only if this join admits a new member
        swept = False
        for attempt in range(JOIN_ATTEMPTS):
            current, state = self._store.read_for_join(conn, message.room)
            if current is not None and must_leave_first(current, state, sess):
                self._remove(current)  # a join elsewhere (or afresh) leaves the old room first
                continue
            decision = decide_join(
                state,
                conn=conn,
                name=message.name,
                sess=sess,
                capacity=self._settings.max_peers,
                now_ms=int(self._clock() * 1000),
                peer_id=peer_id,
            )
            if isinstance(decision, Full):
                if swept or not self._sweep(state, decision.members):
                    raise RoomFull()
                swept = True  # some members were gone: look once more
                continue
            if self._store.commit_join(decision):
                self._announce(decision)
                return
            # The room changed since it was read: read it again (optimistic concurrency).
            time.sleep(random.uniform(0, min(0.05, 0.002 * 2**attempt)))
        logger.error("join gave up after repeated concurrent changes to the room")
        raise Internal()

    def signal(self, conn: str, message: Signal) -> None:
        sender, addressee = self._store.read_for_signal(conn, message.to)
        if sender is not None:
            obs.bind(peer_id=sender.peer_id, room=sender.room)
        route = route_signal(sender, addressee)
        delivery = self._relay.send(
            route.to.conn, Relayed(from_=route.from_peer, data=message.data)
        )
        if delivery is Delivery.DELIVERED:
            obs.count(obs.SIGNALS_RELAYED)
        elif delivery is Delivery.GONE:
            self._drop_gone(route.to)  # the addressee is gone, not the sender
        else:
            raise Internal()

    def leave(self, conn: str) -> None:
        current = self._store.get_binding(conn)
        if current is None:
            raise NotInRoom()
        obs.bind(peer_id=current.peer_id, room=current.room)
        self._remove(current)

    def disconnect(self, conn: str) -> None:
        current = self._store.get_binding(conn)
        if current is None:
            return  # never joined, already left, or replaced by a resume: nothing to do
        obs.bind(peer_id=current.peer_id, room=current.room)
        self._remove(current)

    # ---- helpers --------------------------------------------------------------------------
    def _announce(self, plan: JoinPlan) -> None:
        joiner = plan.joiner
        obs.bind(peer_id=joiner.peer_id)
        obs.count(obs.RESUMES if plan.resumed else obs.JOINS)
        logger.info("resumed" if plan.resumed else "joined", extra={"members": len(plan.members)})
        if plan.replaced_conn is not None:
            self._relay.close(plan.replaced_conn)
        others = plan.others()
        joined = Joined(
            room=plan.room,
            you=joiner.peer_id,
            peers=[m.info() for m in others],
            iceServers=self._settings.ice_servers,
        )
        self._tell(plan.room, joiner, joined)
        for member in others:
            self._tell(plan.room, member, PeerJoined(peer=joiner.info(), resumed=plan.resumed))

    def _tell(self, room: str, member: Member, frame: ServerFrame) -> None:
        """Post to a member; a member whose connection is gone is removed."""
        if self._relay.send(member.conn, frame) is Delivery.GONE:
            self._drop_gone(Binding(conn=member.conn, room=room, peer_id=member.peer_id))

    def _drop_gone(self, gone: Binding) -> None:
        logger.info("connection gone", extra={"gone_peer": gone.peer_id})
        if self._remove(gone):
            obs.count(obs.STALE_CONNECTIONS_REMOVED)

    def _remove(self, binding: Binding) -> bool:
        """Remove a membership (if that connection still holds it) and tell the rest."""
        if not self._store.remove_member(binding):
            return False
        state = self._store.get_room(binding.room)
        for member in state.others(binding.peer_id):
            self._tell(binding.room, member, PeerLeft(peer=binding.peer_id))
        return True

    def _sweep(self, state: RoomState, members: tuple[Member, ...]) -> bool:
        """Before answering room-full: remove members whose connections API Gateway says
        are gone (GET @connections). True if any was gone."""
        found = False
        for member in members:
            if self._relay.is_gone(member.conn):
                found = True
                self._drop_gone(Binding(conn=member.conn, room=state.room, peer_id=member.peer_id))
        return found
