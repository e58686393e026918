"""No ghosts: resumed sessions, gone connections, late disconnects, joins elsewhere."""

from __future__ import annotations

import time

from p2pchat import table_spec
from tests.adapter.handler_harness import World

SESSION_A = "tabA-0123456789abcdefghij"
SESSION_B = "tabB-0123456789abcdefghij"


def test_rejoin_with_the_same_session_resumes_without_a_ghost(world: World) -> None:
    a, b = world.browser("A"), world.browser("B")
    ja = a.join("r", "Ada", SESSION_A)
    jb = b.join("r", "Bob", SESSION_B)
    a.take()

    # The tab reloads: a new connection, the same session, in a full room of two.
    a2 = world.browser("A2")
    again = a2.join("r", "Ada", SESSION_A)
    assert again["you"] == ja["you"]  # same peer id
    assert again["peers"] == [{"id": jb["you"], "name": "Bob"}]
    assert b.take() == [
        {"type": "peer-joined", "peer": {"id": ja["you"], "name": "Ada"}, "resumed": True}
    ]  # and never a peer-left
    assert world.gateway.deleted == ["A"]  # the old connection was closed (DELETE)
    assert len(world.members("r")) == 2  # no extra place taken
    assert world.item("CONN#A") is None

    # The old connection's $disconnect arrives late: nothing changes, nobody is told.
    before = world.dump()
    assert a.disconnect() == {"statusCode": 200}
    assert world.dump() == before
    assert b.take() == [] and a2.take() == []

    # Signals reach the resumed peer on its new connection, under its old id.
    b.send({"action": "signal", "to": ja["you"], "data": {"candidate": "c"}})
    assert a2.take() == [{"type": "signal", "from": jb["you"], "data": {"candidate": "c"}}]
    a2.send({"action": "signal", "to": jb["you"], "data": {"ok": True}})
    assert b.take() == [{"type": "signal", "from": ja["you"], "data": {"ok": True}}]

    # The room is still full for a third session.
    c = world.browser("C")
    c.send({"action": "join", "room": "r", "name": "Cy"})
    assert c.take()[0]["code"] == "room-full"


def test_a_session_that_left_comes_back_under_the_same_peer_id(world: World) -> None:
    """A reload whose old socket's $disconnect came first, or a Leave and a rejoin."""
    a, b = world.browser("A"), world.browser("B")
    ja = a.join("r", "Ada", SESSION_A)
    jb = b.join("r", "Bob", SESSION_B)
    b.take()
    a.disconnect()
    assert b.take() == [{"type": "peer-left", "peer": ja["you"]}]

    a2 = world.browser("A2")
    again = a2.join("r", "Ada", SESSION_A)
    assert again["you"] == ja["you"]
    assert again["peers"] == [{"id": jb["you"], "name": "Bob"}]
    assert b.take() == [
        {"type": "peer-joined", "peer": {"id": ja["you"], "name": "Ada"}, "resumed": True}
    ]
    b.send({"action": "signal", "to": ja["you"], "data": {"candidate": "c"}})
    assert a2.take() == [{"type": "signal", "from": jb["you"], "data": {"candidate": "c"}}]

    # The same after an explicit leave; and the place it takes is a real one.
    a2.send({"action": "leave"})
    assert b.take() == [{"type": "peer-left", "peer": ja["you"]}]
    c = world.browser("C")
    c.join("r", "Cy")
    a3 = world.browser("A3")
    a3.send({"action": "join", "room": "r", "name": "Ada", "session": SESSION_A})
    assert a3.take()[0]["code"] == "room-full"


def test_a_late_disconnect_racing_the_resume_is_harmless(world: World) -> None:
    """Even if the old connection's $disconnect read its membership before the resume."""
    from p2pchat.rooms import Binding
    from p2pchat.store import Outcome, Store

    a, b = world.browser("A"), world.browser("B")
    ja = a.join("r", "Ada", SESSION_A)
    b.join("r", "Bob")
    stale = Binding(conn="A", room="r", peer_id=ja["you"])
    world.browser("A2").join("r", "Ada", SESSION_A)
    before = world.dump()
    assert Store(world.db, world.table).remove_member(stale) is Outcome.CONDITION_FAILED
    assert world.dump() == before


def test_only_a_hash_of_the_session_is_stored(world: World) -> None:
    world.browser("A").join("r", "Ada", SESSION_A)
    assert SESSION_A not in repr(world.dump())


def test_a_session_resumes_only_in_its_own_room(world: World) -> None:
    ja = world.browser("A").join("r1", "Ada", SESSION_A)
    j2 = world.browser("A2").join("r2", "Ada", SESSION_A)
    assert j2["you"] != ja["you"]


def test_a_join_elsewhere_leaves_the_old_room_first(world: World) -> None:
    a, b, c = world.browser("A"), world.browser("B"), world.browser("C")
    ja, jb = a.join("r1", "Ada"), b.join("r1", "Bob")
    jc = c.join("r2", "Cy")
    a.take()
    jb2 = b.join("r2", "Bob")
    assert a.take() == [{"type": "peer-left", "peer": jb["you"]}]
    assert jb2["peers"] == [{"id": jc["you"], "name": "Cy"}]
    assert list(world.members("r1")) == [ja["you"]]
    assert set(world.members("r2")) == {jc["you"], jb2["you"]}
    assert world.item(f"PEER#{jb['you']}") is None
    conn_b = world.item("CONN#B")
    assert conn_b["room"]["S"] == "r2" and conn_b["peer"]["S"] == jb2["you"]


def test_joining_the_same_room_again_on_the_same_connection_with_session(world: World) -> None:
    a, b = world.browser("A"), world.browser("B")
    ja = a.join("r", "Ada", SESSION_A)
    b.join("r", "Bob")
    a.take()
    again = a.join("r", "Ada Lovelace", SESSION_A)
    assert again["you"] == ja["you"]
    assert b.take() == [
        {"type": "peer-joined", "peer": {"id": ja["you"], "name": "Ada Lovelace"}, "resumed": True}
    ]
    assert world.gateway.deleted == []  # its own connection is not closed


def test_joining_the_same_room_again_without_session_is_a_new_member(world: World) -> None:
    a, b = world.browser("A"), world.browser("B")
    ja = a.join("r", "Ada")
    b.join("r", "Bob")
    a.take()
    again = a.join("r", "Ada")
    assert again["you"] != ja["you"]
    frames = b.take()
    assert frames[0] == {"type": "peer-left", "peer": ja["you"]}
    assert frames[1]["type"] == "peer-joined" and frames[1]["resumed"] is False
    assert len(world.members("r")) == 2


def test_gone_addressee_is_removed_and_the_sender_untouched(world: World) -> None:
    world.setenv("MAX_PEERS", "3")
    a, b, c = world.browser("A"), world.browser("B"), world.browser("C")
    ja, jb, jc = a.join("r", "Ada"), b.join("r", "Bob"), c.join("r", "Cy")
    a.take(), b.take()
    world.gateway.gone.add("B")  # B's network died without a $disconnect
    a.send({"action": "signal", "to": jb["you"], "data": {"candidate": "x"}})
    assert a.take() == [{"type": "peer-left", "peer": jb["you"]}]  # no error: it carried on
    assert c.take() == [{"type": "peer-left", "peer": jb["you"]}]
    assert set(world.members("r")) == {ja["you"], jc["you"]}
    assert world.item("CONN#B") is None and world.item(f"PEER#{jb['you']}") is None
    assert world.item("CONN#A") is not None and world.item(f"PEER#{ja['you']}") is not None
    # The sender is still a member and can signal the others.
    a.send({"action": "signal", "to": jc["you"], "data": {"x": 1}})
    assert c.take() == [{"type": "signal", "from": ja["you"], "data": {"x": 1}}]


def test_gone_member_found_while_announcing_a_join(world: World) -> None:
    world.setenv("MAX_PEERS", "3")
    a, b = world.browser("A"), world.browser("B")
    ja, jb = a.join("r", "Ada"), b.join("r", "Bob")
    a.take()
    world.gateway.gone.add("A")
    c = world.browser("C")
    c.send({"action": "join", "room": "r", "name": "Cy"})
    joined, left = c.take()  # `joined` still lists Ada: she was a member when C joined
    assert {p["id"] for p in joined["peers"]} == {ja["you"], jb["you"]}
    assert left == {"type": "peer-left", "peer": ja["you"]}
    assert sorted(f["type"] for f in b.take()) == ["peer-joined", "peer-left"]  # any order
    assert set(world.members("r")) == {jb["you"], joined["you"]}


def test_full_room_with_a_dead_member_admits_the_newcomer(world: World) -> None:
    a, b, c = world.browser("A"), world.browser("B"), world.browser("C")
    ja, jb = a.join("r", "Ada"), b.join("r", "Bob")
    a.take()
    world.gateway.gone.add("B")
    jc = c.join("r", "Cy")
    assert jc["peers"] == [{"id": ja["you"], "name": "Ada"}]
    assert a.take() == [
        {"type": "peer-left", "peer": jb["you"]},
        {"type": "peer-joined", "peer": {"id": jc["you"], "name": "Cy"}, "resumed": False},
    ]
    assert set(world.members("r")) == {ja["you"], jc["you"]}
    assert set(world.gateway.checked) == {"A", "B"}


def test_full_room_of_live_members_costs_checks_but_changes_nothing(world: World) -> None:
    a, b, c = world.browser("A"), world.browser("B"), world.browser("C")
    a.join("r", "Ada"), b.join("r", "Bob")
    a.take()
    before = world.dump()
    c.send({"action": "join", "room": "r", "name": "Cy"})
    assert c.take()[0]["code"] == "room-full"
    assert world.dump() == before and a.take() == [] and b.take() == []


def test_connections_are_checked_only_when_the_room_is_full(world: World) -> None:
    world.browser("A").join("r", "Ada")
    world.browser("B").join("r", "Bob")
    assert world.gateway.checked == []


def test_every_item_written_carries_a_ttl(world: World) -> None:
    world.setenv("ROOM_TTL_SECONDS", "10800")
    world.setenv("MAX_PEERS", "3")
    a, b, c = world.browser("A"), world.browser("B"), world.browser("C")
    a.join("r", "Ada", SESSION_A)
    b.join("r", "Bob")
    c.join("r2", "Cy")
    world.browser("A2").join("r", "Ada", SESSION_A)  # resume
    b.take()
    b.join("r2", "Bob")  # leave by join elsewhere
    c.send({"action": "leave"})
    now = time.time()
    items = world.dump()
    assert {i["pk"]["S"].split("#")[0] for i in items} == {"ROOM", "PEER", "CONN"}
    for item in items:
        ttl = int(item[table_spec.TTL_ATTRIBUTE]["N"])
        assert now + 10800 - 60 < ttl <= now + 10800 + 1, item


def test_disconnect_of_the_last_member_leaves_an_empty_room(world: World) -> None:
    a = world.browser("A")
    a.join("r", "Ada")
    a.disconnect()
    assert world.members("r") == {}
    assert [i["pk"]["S"] for i in world.dump()] == ["ROOM#r"]  # swept by TTL later


def test_a_member_whose_items_ttl_swept_is_still_removed_when_gone(world: World) -> None:
    """DynamoDB's TTL deletes items independently; a half-swept ghost must not hold a place."""
    a, b, c = world.browser("A"), world.browser("B"), world.browser("C")
    a.join("r", "Ada")
    jb = b.join("r", "Bob")
    for key in (f"PEER#{jb['you']}", "CONN#B"):
        world.db.delete_item(TableName=world.table, Key={"pk": {"S": key}, "sk": {"S": key[:4]}})
    world.gateway.gone.add("B")
    jc = c.join("r", "Cy")
    assert jb["you"] not in world.members("r") and jc["you"] in world.members("r")
