"""The use cases: join, signal, leave, disconnect, ping.

Reads through the store, decides with the pure rules in ``rooms``, writes through the store and
tells the members through the relay. Knows nothing of API Gateway event shapes: the adapter
(function.py) turns an event into one call here. Raises typed domain errors (errors.py).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from . import observability as obs
from .budget import MessageBudget, Verdict
from .errors import Internal, NotInRoom, RoomFull, UnknownPeer
from .observability import Metrics, logger
from .protocol import (
    MAX_PEERS_LIMIT,
    IceServers,
    Join,
    Joined,
    PeerInfo,
    PeerJoined,
    PeerLeft,
    Pong,
    Relayed,
    ServerFrame,
    Signal,
)
from .relay import ConnectionState, Delivery, Relay
from .rooms import (
    Binding,
    Full,
    JoinPlan,
    Member,
    Refused,
    RoomState,
    decide_join,
    must_leave_first,
    new_peer_id,
    route_signal,
    session_hash,
)
from .settings import Settings
from .store import Outcome, Store
from .turn import IceProvider

# Transactions one request may retry. A retry means another write to the room won, and a room
# takes at most MAX_PEERS_LIMIT joins before it is full, so the budget runs out only under
# pathological churn (answered `internal`). botocore's own retries (throttling, transient
# errors) sit below this and are not counted.
RETRY_BUDGET = MAX_PEERS_LIMIT + 4
# A window's counter outlives the window by this much (DynamoDB's TTL sweeps it later).
RATE_ITEM_SLACK_SECONDS = 60


class RetryBudget:
    """The retries one request may make, shared by every loop in it, with jittered backoff."""

    def __init__(
        self,
        attempts: int = RETRY_BUDGET,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._left = attempts
        self._spent = 0
        self._sleep = sleep

    def retry(self) -> None:
        """Spend one retry and back off; raises Internal when none is left."""
        if self._left <= 0:
            logger.error("gave up after repeated concurrent changes to the room")
            raise Internal()
        self._left -= 1
        self._sleep(random.uniform(0, min(0.05, 0.002 * 2**self._spent)))
        self._spent += 1


def peer_info(member: Member) -> PeerInfo:
    return PeerInfo(id=member.peer_id, name=member.name)


class Signaling:
    def __init__(
        self,
        store: Store,
        relay: Relay,
        settings: Settings,
        metrics: Metrics,
        ice: IceProvider,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._relay = relay
        self._settings = settings
        self._ice = ice
        self._budget = MessageBudget(settings.rate_limit, settings.rate_window_seconds)
        self._metrics = metrics
        self._clock = clock

    # ---- fair use -------------------------------------------------------------------------
    def admit(self, conn: str) -> Verdict:
        """Count one message of this connection against its budget."""
        window = self._budget.window(self._clock())
        expires = self._budget.window_end(window) + RATE_ITEM_SLACK_SECONDS
        try:
            count = self._store.count_message(conn, window, expires)
        except Exception:  # fail open: a counter outage must not stop every call
            logger.exception("could not count a message; admitted")
            return Verdict.ADMIT
        verdict = self._budget.verdict(count)
        if verdict is not Verdict.ADMIT:
            self._metrics.count(obs.RATE_LIMITED)
            if verdict is Verdict.REFUSE:
                logger.warning("rate limited", extra={"count": count})
        return verdict

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
        budget = RetryBudget()
        swept = False
        while True:
            current, state = self._store.read_for_join(conn, message.room)
            if current is not None and must_leave_first(current, state, sess):
                self._remove(current, budget)  # a join elsewhere (or afresh) leaves first
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
                if swept or not self._sweep(state, decision.members, budget):
                    raise RoomFull()
                swept = True  # some members were gone: look once more
                continue
            if self._store.commit_join(decision) is Outcome.WRITTEN:
                self._announce(decision, budget)
                return
            budget.retry()  # the room changed since it was read: read it again

    def signal(self, conn: str, message: Signal) -> None:
        sender, addressee = self._store.read_for_signal(conn, message.to)
        if sender is not None:
            obs.bind(peer_id=sender.peer_id, room=sender.room)
        route = route_signal(sender, addressee)
        if route is Refused.NOT_IN_ROOM:
            raise NotInRoom()
        if route is Refused.UNKNOWN_PEER:
            raise UnknownPeer()
        delivery = self._relay.send(
            route.to.conn, Relayed(from_=route.from_peer, data=message.data)
        )
        if delivery is Delivery.DELIVERED:
            self._metrics.count(obs.SIGNALS_RELAYED)
        elif delivery is Delivery.GONE:
            self._drop_gone(route.to, RetryBudget())  # the addressee is gone, not the sender
        else:
            raise Internal()

    def ice_servers(self, conn: str) -> None:
        """Fresh ICE servers, for members only: TURN credentials are for people in calls."""
        current = self._store.get_binding(conn)
        if current is None:
            raise NotInRoom()
        obs.bind(peer_id=current.peer_id, room=current.room)
        ice = self._ice.offer()
        self._relay.send(conn, IceServers(iceServers=ice.servers, iceServersTtl=ice.ttl_seconds))

    def leave(self, conn: str) -> None:
        current = self._store.get_binding(conn)
        if current is None:
            raise NotInRoom()
        obs.bind(peer_id=current.peer_id, room=current.room)
        self._remove(current, RetryBudget())

    def disconnect(self, conn: str) -> None:
        current = self._store.get_binding(conn)
        if current is None:
            return  # never joined, already left, or replaced by a resume: nothing to do
        obs.bind(peer_id=current.peer_id, room=current.room)
        self._remove(current, RetryBudget())

    # ---- helpers --------------------------------------------------------------------------
    def _announce(self, plan: JoinPlan, budget: RetryBudget) -> None:
        joiner = plan.joiner
        obs.bind(peer_id=joiner.peer_id)
        self._metrics.count(obs.RESUMES if plan.resumed else obs.JOINS)
        logger.info("resumed" if plan.resumed else "joined", extra={"members": len(plan.members)})
        if plan.replaced_conn is not None:
            self._relay.close(plan.replaced_conn)
        others = plan.others()
        ice = self._ice.offer()
        joined = Joined(
            room=plan.room,
            you=joiner.peer_id,
            peers=[peer_info(m) for m in others],
            iceServers=ice.servers,
            iceServersTtl=ice.ttl_seconds,
            keepaliveSeconds=self._settings.keepalive_seconds,
        )
        self._tell(plan.room, joiner, joined, budget)
        for member in others:
            frame = PeerJoined(peer=peer_info(joiner), resumed=plan.resumed)
            self._tell(plan.room, member, frame, budget)

    def _tell(self, room: str, member: Member, frame: ServerFrame, budget: RetryBudget) -> None:
        """Post to a member; a member whose connection is gone is removed."""
        if self._relay.send(member.conn, frame) is Delivery.GONE:
            self._drop_gone(Binding(conn=member.conn, room=room, peer_id=member.peer_id), budget)

    def _drop_gone(self, gone: Binding, budget: RetryBudget) -> None:
        logger.info("connection gone", extra={"gone_peer": gone.peer_id})
        if self._remove(gone, budget):
            self._metrics.count(obs.STALE_CONNECTIONS_REMOVED)

    def _remove(self, binding: Binding, budget: RetryBudget) -> bool:
        """Remove a membership (if that connection still holds it) and tell the rest."""
        while (outcome := self._store.remove_member(binding)) is Outcome.CONFLICT:
            budget.retry()
        if outcome is Outcome.CONDITION_FAILED:  # gone already, or taken over by a resume
            self._store.forget_connection(binding)
            return False
        state = self._store.get_room(binding.room)
        for member in state.others(binding.peer_id):
            self._tell(binding.room, member, PeerLeft(peer=binding.peer_id), budget)
        return True

    def _sweep(self, state: RoomState, members: tuple[Member, ...], budget: RetryBudget) -> bool:
        """Before answering room-full: remove members whose connections API Gateway says are
        gone, or that have sent nothing (not even their keepalive ping) for longer than
        `stale_after_seconds` (closed too: a laptop that wakes up reconnects and resumes).
        True if any was removed."""
        found = False
        for member in members:
            conn_state = self._relay.check(member.conn)
            stale = self._is_stale(conn_state)
            if conn_state.gone or stale:
                found = True
                if stale:
                    logger.info("member silent too long", extra={"stale_peer": member.peer_id})
                    self._relay.close(member.conn)
                gone = Binding(conn=member.conn, room=state.room, peer_id=member.peer_id)
                self._drop_gone(gone, budget)
        return found

    def _is_stale(self, conn_state: ConnectionState) -> bool:
        if conn_state.last_active is None:
            return False
        silent = self._clock() - conn_state.last_active.timestamp()
        return silent > self._settings.stale_after_seconds
