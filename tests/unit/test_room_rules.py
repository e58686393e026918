"""The pure membership rules (rooms.py) and the error mapping (errors.py, function.py)."""

from __future__ import annotations

from p2pchat import errors
from p2pchat.function import error_frame
from p2pchat.rooms import (
    MAX_KNOWN_SESSIONS,
    Binding,
    Full,
    JoinPlan,
    KnownSession,
    Member,
    Refused,
    RoomState,
    decide_join,
    must_leave_first,
    new_peer_id,
    oldest_first,
    route_signal,
    session_hash,
)

ADA = Member(peer_id="ada", name="Ada", conn="c-ada", sess=session_hash("s" * 22), joined=1)
BOB = Member(peer_id="bob", name="Bob", conn="c-bob", sess=None, joined=2)


def join(state: RoomState, conn: str = "c-new", sess: str | None = None, capacity: int = 2):
    return decide_join(
        state, conn=conn, name="New", sess=sess, capacity=capacity, now_ms=9, peer_id="new"
    )


def test_first_join_creates_the_room() -> None:
    plan = join(RoomState("r", 0, ()))
    assert isinstance(plan, JoinPlan)
    assert plan.expected_version == 0 and plan.members == (plan.joiner,)
    assert plan.joiner == Member("new", "New", "c-new", None, 9)
    assert not plan.resumed and plan.others() == ()


def test_join_into_a_room_with_space() -> None:
    plan = join(RoomState("r", 4, (ADA,)))
    assert isinstance(plan, JoinPlan) and plan.expected_version == 4
    assert plan.others() == (ADA,)


def test_full_room() -> None:
    decision = join(RoomState("r", 4, (BOB, ADA)))
    assert decision == Full(members=(ADA, BOB))


def test_resume_takes_no_place_and_keeps_id_and_age() -> None:
    plan = join(RoomState("r", 7, (ADA, BOB)), sess=ADA.sess)  # the room is full
    assert isinstance(plan, JoinPlan) and plan.resumed
    assert plan.joiner.peer_id == "ada" and plan.joiner.joined == 1
    assert plan.joiner.conn == "c-new" and plan.joiner.name == "New"
    assert plan.replaced_conn == "c-ada"
    assert len(plan.members) == 2 and plan.others() == (BOB,)


def test_resume_on_the_same_connection_closes_nothing() -> None:
    plan = join(RoomState("r", 7, (ADA,)), conn="c-ada", sess=ADA.sess)
    assert isinstance(plan, JoinPlan) and plan.resumed and plan.replaced_conn is None


def test_a_different_session_is_a_new_member() -> None:
    plan = join(RoomState("r", 7, (ADA,)), sess=session_hash("t" * 22))
    assert isinstance(plan, JoinPlan) and not plan.resumed and plan.joiner.peer_id == "new"


def test_members_are_ordered_oldest_first() -> None:
    assert oldest_first((BOB, ADA)) == (ADA, BOB)
    assert RoomState("r", 1, (BOB, ADA)).others("nobody") == (ADA, BOB)


def test_must_leave_first() -> None:
    state = RoomState("r", 3, (ADA, BOB))
    assert not must_leave_first(None, state, None)
    assert must_leave_first(Binding("c-x", "elsewhere", "x"), state, ADA.sess)
    assert must_leave_first(Binding("c-bob", "r", "bob"), state, None)  # afresh, no session
    assert not must_leave_first(Binding("c-ada", "r", "ada"), state, ADA.sess)  # itself


def test_route_signal() -> None:
    sender = Binding("c1", "r", "p1")
    route = route_signal(sender, Binding("c2", "r", "p2"))
    assert route.from_peer == "p1" and route.to.conn == "c2"
    assert route_signal(None, Binding("c2", "r", "p2")) is Refused.NOT_IN_ROOM
    assert route_signal(sender, None) is Refused.UNKNOWN_PEER
    assert route_signal(sender, Binding("c2", "other-room", "p2")) is Refused.UNKNOWN_PEER
    assert route_signal(sender, sender) is Refused.UNKNOWN_PEER


def test_peer_ids_are_random_and_long() -> None:
    ids = {new_peer_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(len(i) == 22 for i in ids)


def test_only_a_hash_of_the_session_is_kept() -> None:
    digest = session_hash("s" * 22)
    assert digest is not None and "s" * 22 not in digest and len(digest) == 64
    assert session_hash(None) is None


def test_every_domain_error_maps_to_its_code_in_one_place() -> None:
    expected = {
        errors.BadRequest: "bad-request",
        errors.UnknownAction: "unknown-action",
        errors.RoomFull: "room-full",
        errors.NotInRoom: "not-in-room",
        errors.UnknownPeer: "unknown-peer",
        errors.RateLimited: "rate-limited",
        errors.Internal: "internal",
    }
    assert {kind: kind.code.value for kind in expected} == expected
    for kind, code in expected.items():
        frame = error_frame(kind())
        assert frame.code == code and frame.message


def test_unexpected_exceptions_become_a_plain_internal_error() -> None:
    frame = error_frame(KeyError("ResourceNotFoundException: table p2pchat-prod"))
    assert frame.code == "internal"
    assert "Resource" not in frame.message and "p2pchat" not in frame.message


def test_a_known_session_comes_back_under_its_old_peer_id() -> None:
    """After its member left (reload, $disconnect first), the session gets its id back."""
    state = RoomState("r", 5, (BOB,), sessions={"s-ada": KnownSession("ada", 1)})
    plan = join(state, sess="s-ada")
    assert isinstance(plan, JoinPlan) and plan.resumed
    assert plan.joiner.peer_id == "ada" and plan.joiner.joined == 9
    assert len(plan.members) == 2 and plan.replaced_conn is None
    assert plan.sessions["s-ada"] == KnownSession("ada", 9)


def test_a_known_session_still_needs_a_free_place() -> None:
    ada2 = Member("ada2", "Ada", "c-ada2", None, 3)
    state = RoomState("r", 5, (BOB, ada2), sessions={"s-ada": KnownSession("ada", 1)})
    assert isinstance(join(state, sess="s-ada"), Full)


def test_a_room_remembers_a_bounded_number_of_sessions_newest_first() -> None:
    sessions = {f"s{i}": KnownSession(f"p{i}", i) for i in range(MAX_KNOWN_SESSIONS)}
    plan = join(RoomState("r", 5, (), sessions=sessions), sess="s-new")
    assert isinstance(plan, JoinPlan) and not plan.resumed and plan.joiner.peer_id == "new"
    assert len(plan.sessions) == MAX_KNOWN_SESSIONS
    assert "s0" not in plan.sessions and plan.sessions["s-new"] == KnownSession("new", 9)
