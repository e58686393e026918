"""Fair use and silent members: the per-connection message budget, and places freed from
members that stopped showing they are alive (docs/protocol.md, docs/reliability.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.adapter.handler_harness import World

RATE_LIMITED = "rate-limited"


def test_a_flooder_is_told_once_then_dropped_and_others_are_untouched(world: World) -> None:
    world.setenv("RATE_LIMIT_MESSAGES", "10")
    world.now = 1_800_000_000.0  # one window, whatever the machine's speed
    flooder, other = world.browser("F"), world.browser("O")
    for _ in range(25):
        flooder.send({"action": "ping"})
    other.send({"action": "ping"})
    frames = flooder.take()
    assert frames[:10] == [{"type": "pong"}] * 10
    assert [f["code"] for f in frames[10:]] == [RATE_LIMITED]  # once; the other 14 dropped
    assert "slow down" in frames[10]["message"].lower()
    assert other.take() == [{"type": "pong"}]


def test_the_budget_comes_back_in_the_next_window(world: World) -> None:
    world.setenv("RATE_LIMIT_MESSAGES", "10")
    world.setenv("RATE_LIMIT_WINDOW_SECONDS", "10")
    world.now = 1_800_000_000.0  # the start of a window
    a = world.browser("A")
    for _ in range(12):
        a.send({"action": "ping"})
    assert len(a.take()) == 11
    world.now += 9.9
    a.send({"action": "ping"})
    assert a.take() == []  # still that window: dropped
    world.now += 0.1
    a.send({"action": "ping"})
    assert a.take() == [{"type": "pong"}]


def test_over_budget_signals_are_not_delivered(world: World) -> None:
    world.setenv("RATE_LIMIT_MESSAGES", "10")
    world.now = 1_800_000_000.0
    a, b = world.browser("A"), world.browser("B")
    ja = a.join("r", "Ada")
    b.join("r", "Bob")  # B's first counted message
    a.take()
    for i in range(15):
        b.send({"action": "signal", "to": ja["you"], "data": {"n": i}})
    assert [f["data"]["n"] for f in a.take()] == list(range(9))
    assert [f["code"] for f in b.take()] == [RATE_LIMITED]


def test_a_silent_member_loses_its_place_to_a_newcomer(world: World) -> None:
    world.setenv("KEEPALIVE_SECONDS", "30")
    world.setenv("STALE_AFTER_SECONDS", "90")
    a, b, c = world.browser("A"), world.browser("B"), world.browser("C")
    a.join("r", "Ada")
    jb = b.join("r", "Bob")
    assert jb["keepaliveSeconds"] == 30
    a.take()
    now = datetime.now(UTC)
    world.gateway.last_active["B"] = now - timedelta(seconds=60)  # quiet, within the bound
    c.send({"action": "join", "room": "r", "name": "Cy"})
    assert c.take()[0]["code"] == "room-full"
    world.gateway.last_active["B"] = now - timedelta(seconds=95)  # past it: gone
    jc = c.join("r", "Cy")
    assert [p["name"] for p in jc["peers"]] == ["Ada"]
    assert a.take() == [
        {"type": "peer-left", "peer": jb["you"]},
        {"type": "peer-joined", "peer": {"id": jc["you"], "name": "Cy"}, "resumed": False},
    ]
    assert "B" in world.gateway.deleted  # its socket is closed: if it wakes, it rejoins


def test_stale_after_is_never_shorter_than_two_keepalives(world: World) -> None:
    world.setenv("KEEPALIVE_SECONDS", "60")
    world.setenv("STALE_AFTER_SECONDS", "30")
    assert world.settings.stale_after_seconds == 120


def test_deep_data_is_refused_naming_the_field_and_nothing_is_logged_as_error(
    world: World, capsys
) -> None:
    a, b = world.browser("A"), world.browser("B")
    ja = a.join("r", "Ada")
    b.join("r", "Bob")
    a.take()
    for depth in (33, 256, 975):
        data = '{"k":' * depth + "1" + "}" * depth  # deeper than json.dumps can write
        capsys.readouterr()
        b.send('{"action":"signal","to":"' + ja["you"] + '","data":' + data + "}")
        (frame,) = b.take()
        assert frame["code"] == "bad-request", depth
        assert '"data"' in frame["message"] and "32 deep" in frame["message"]
        assert '"level":"ERROR"' not in capsys.readouterr().out
    assert a.take() == []


def test_nan_and_lone_surrogates_get_a_hint_that_says_what_is_wrong(world: World) -> None:
    a, b = world.browser("A"), world.browser("B")
    ja = a.join("r", "Ada")
    b.join("r", "Bob")
    to = ja["you"]
    b.send('{"action":"signal","to":"' + to + '","data":{"x":NaN}}')
    b.send('{"action":"signal","to":"' + to + '","data":{"x":"\\ud800"}}')
    messages = [f["message"] for f in b.take()]
    assert "NaN or Infinity" in messages[0]
    assert "surrogate" in messages[1]
    assert not any("16384" in m for m in messages)
