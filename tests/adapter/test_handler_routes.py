"""Every route and every error code, through lambda_handler with recorded events."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest

from p2pchat import table_spec
from p2pchat.observability import Metrics, logger
from tests.adapter.handler_harness import World
from tests.support import SITE, load_event

SESSION_A = "sessionAAAAAAAAAAAAAAAAAAAA"
NEEDS_ACTION = 'The message needs an "action": join, signal, leave, ping or ice-servers.'


def test_connect_admits_the_site_and_stores_nothing(world: World) -> None:
    world.setenv("ALLOWED_ORIGINS", f"http://localhost:8080, {SITE}/")
    assert world.browser("A").connect(SITE) == {"statusCode": 200}
    assert world.dump() == []


def test_connect_refuses_a_foreign_origin_and_stores_nothing(world: World) -> None:
    world.setenv("ALLOWED_ORIGINS", SITE)
    assert world.browser("A").connect("https://evil.example") == {"statusCode": 403}
    assert world.browser("B").connect("null") == {"statusCode": 403}
    assert world.dump() == []
    assert world.gateway.frames == {}


def test_connect_without_origin_is_not_a_browser_and_is_admitted(world: World):
    world.setenv("ALLOWED_ORIGINS", SITE)
    assert world.browser("A").connect(origin=None) == {"statusCode": 200}


def test_connect_admits_any_origin_when_none_is_configured(world: World) -> None:
    assert world.browser("A").connect("http://127.0.0.1:9999") == {"statusCode": 200}


def test_origin_header_name_is_case_insensitive(world: World) -> None:
    world.setenv("ALLOWED_ORIGINS", SITE)
    event = load_event("connect")
    event["headers"]["origin"] = event["headers"].pop("Origin")
    event["headers"]["origin"] = "https://evil.example"
    assert world.invoke(event) == {"statusCode": 403}


def test_recorded_events_work_as_is(world: World) -> None:
    """The recorded events of every route run unchanged."""
    assert world.invoke(load_event("connect")) == {"statusCode": 200}
    assert world.invoke(load_event("message_ping")) == {"statusCode": 200}
    assert world.invoke(load_event("message_join")) == {"statusCode": 200}
    conn = load_event("message_join")["requestContext"]["connectionId"]
    joined = world.gateway.frames[conn][-1]
    assert joined["type"] == "joined" and joined["room"] == "team-standup"
    world.invoke(load_event("message_signal"))  # to a peer that is not in the room
    assert world.gateway.frames[conn][-1]["code"] == "unknown-peer"
    world.invoke(load_event("message_default"))
    assert world.gateway.frames[conn][-1]["code"] == "unknown-action"
    world.invoke(load_event("message_leave"))
    assert world.members("team-standup") == {}
    assert world.invoke(load_event("disconnect")) == {"statusCode": 200}
    assert [f["type"] for f in world.gateway.frames[conn]] == ["pong", "joined", "error", "error"]


def test_ping_gets_pong(world: World) -> None:
    a = world.browser("A")
    assert a.send({"action": "ping"}) == {"statusCode": 200}
    assert a.take() == [{"type": "pong"}]
    assert world.dump() == []


def test_join_answers_joined_and_tells_the_others(world: World) -> None:
    a, b = world.browser("A"), world.browser("B")
    ja = a.join("room-1", "Ada")
    assert ja["room"] == "room-1" and ja["peers"] == []
    assert ja["iceServers"] == [{"urls": ["stun:stun.l.google.com:19302"]}]
    jb = b.join("room-1", "  Bob  ")
    assert jb["peers"] == [{"id": ja["you"], "name": "Ada"}]
    assert a.take() == [
        {"type": "peer-joined", "peer": {"id": jb["you"], "name": "Bob"}, "resumed": False}
    ]
    assert ja["you"] != jb["you"]
    assert ja["you"] not in {"A", "B"}  # a peer id is never the connection id
    assert len(ja["you"]) >= 22


def test_peers_are_listed_oldest_first(world: World) -> None:
    world.setenv("MAX_PEERS", "4")
    ids = [world.browser(c).join("r", c)["you"] for c in "ABC"]
    last = world.browser("D").join("r", "D")
    assert [p["id"] for p in last["peers"]] == ids


def test_ice_servers_come_from_configuration(world: World) -> None:
    servers = [
        {"urls": ["turn:turn.example:3478?transport=udp"], "username": "u", "credential": "c"}
    ]
    world.setenv("ICE_SERVERS", json.dumps(servers))
    assert world.browser("A").join("r", "Ada")["iceServers"] == servers


def test_signal_reaches_the_addressee_only_stamped_with_the_sender(world: World):
    world.setenv("MAX_PEERS", "3")
    a, b, c = world.browser("A"), world.browser("B"), world.browser("C")
    ja, jb = a.join("r", "Ada"), b.join("r", "Bob")
    c.join("r", "Cy")
    a.take(), b.take()
    offer = {"description": {"type": "offer", "sdp": "v=0\r\n"}}
    b.send({"action": "signal", "to": ja["you"], "data": offer})
    assert a.take() == [{"type": "signal", "from": jb["you"], "data": offer}]
    assert b.take() == [] and c.take() == []


def test_signal_cannot_claim_another_sender(world: World) -> None:
    a, b = world.browser("A"), world.browser("B")
    ja, _ = a.join("r", "Ada"), b.join("r", "Bob")
    b.send({"action": "signal", "to": ja["you"], "data": {}, "from": "someone-else-entirely"})
    assert b.take()[0]["code"] == "bad-request"
    assert [f["type"] for f in a.take()] == ["peer-joined"]  # and no signal


def test_signal_across_rooms_is_refused_and_not_delivered(world: World) -> None:
    a, b = world.browser("A"), world.browser("B")
    ja = a.join("room-1", "Ada")
    b.join("room-2", "Bob")
    b.send({"action": "signal", "to": ja["you"], "data": {"candidate": "x"}})
    assert b.take() == [
        {"type": "error", "code": "unknown-peer", "message": "No such peer in your room."}
    ]
    assert a.take() == []


def test_signal_to_oneself_is_refused(world: World) -> None:
    a = world.browser("A")
    ja = a.join("r", "Ada")
    a.send({"action": "signal", "to": ja["you"], "data": {}})
    assert a.take()[0]["code"] == "unknown-peer"


def test_signal_outside_any_room_is_refused(world: World) -> None:
    a, b = world.browser("A"), world.browser("B")
    ja = a.join("r", "Ada")
    b.send({"action": "signal", "to": ja["you"], "data": {}})
    assert b.take() == [{"type": "error", "code": "not-in-room", "message": "Join a room first."}]
    assert a.take() == []


def test_signal_to_an_unknown_peer(world: World) -> None:
    a = world.browser("A")
    a.join("r", "Ada")
    a.send({"action": "signal", "to": "AAAAAAAAAAAAAAAAAAAAAA", "data": {}})
    assert a.take()[0]["code"] == "unknown-peer"


def test_leave_tells_the_others_and_removes_every_item(world: World) -> None:
    a, b = world.browser("A"), world.browser("B")
    ja, jb = a.join("r", "Ada"), b.join("r", "Bob")
    a.take()
    b.send({"action": "leave"})
    assert a.take() == [{"type": "peer-left", "peer": jb["you"]}]
    assert b.take() == []  # leaving has no reply
    assert list(world.members("r")) == [ja["you"]]
    assert world.item("CONN#B") is None and world.item(f"PEER#{jb['you']}") is None


def test_leave_outside_a_room(world: World) -> None:
    a = world.browser("A")
    a.send({"action": "leave"})
    assert a.take()[0]["code"] == "not-in-room"


def test_disconnect_tells_the_others_and_removes_every_item(world: World) -> None:
    a, b = world.browser("A"), world.browser("B")
    ja, jb = a.join("r", "Ada"), b.join("r", "Bob")
    a.take()
    assert b.disconnect() == {"statusCode": 200}
    assert a.take() == [{"type": "peer-left", "peer": jb["you"]}]
    assert list(world.members("r")) == [ja["you"]]
    assert world.item("CONN#B") is None


def test_disconnect_of_a_connection_that_never_joined(world: World) -> None:
    assert world.browser("A").disconnect() == {"statusCode": 200}
    assert world.dump() == [] and world.gateway.frames == {}


def test_room_full_and_capacity_from_configuration(world: World) -> None:
    a, b, c = world.browser("A"), world.browser("B"), world.browser("C")
    a.join("r", "Ada"), b.join("r", "Bob")
    before = world.dump()
    c.send({"action": "join", "room": "r", "name": "Cy"})
    assert c.take() == [{"type": "error", "code": "room-full", "message": "The room is full."}]
    assert world.dump() == before
    world.setenv("MAX_PEERS", "3")
    assert len(c.join("r", "Cy")["peers"]) == 2


def test_max_peers_is_capped_at_eight(world: World) -> None:
    world.setenv("MAX_PEERS", "50")
    for i in range(8):
        world.browser(f"c{i}").join("big", f"n{i}")
    late = world.browser("late")
    late.send({"action": "join", "room": "big", "name": "late"})
    assert late.take()[0]["code"] == "room-full"


def test_unknown_action(world: World) -> None:
    a = world.browser("A")
    a.send({"action": "dance"})
    assert a.take() == [
        {
            "type": "error",
            "code": "unknown-action",
            "message": "Unknown action. Use join, signal, leave, ping or ice-servers.",
        }
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{not json", "The message is not valid JSON."),
        (  # too deep to parse: says so
            "[" * 30000 + "]" * 30000,
            "The message nests objects and arrays too deep (a signal's \"data\" may nest at "
            "most 32 deep).",
        ),
        ("", "The message is not valid JSON."),
        ("[1, 2]", "The message must be a JSON object."),
        ('"join"', "The message must be a JSON object."),
        ("{}", NEEDS_ACTION),
        ('{"action": 7}', NEEDS_ACTION),
        ('{"action": "ping", "x": 1}', "Unexpected field for ping."),
        ('{"action": "join", "room": "r"}', 'Missing field "name".'),
        ('{"action": "join", "room": "a b", "name": "x"}', 'Invalid "room": expected 1 to 64'),
        ('{"action": "join", "room": "r", "name": 5}', 'Invalid "name": expected 1 to 40'),
        ('{"action": "join", "room": "r", "name": "   "}', 'Invalid "name"'),
        ('{"action": "join", "room": "r", "name": "a\\u0007"}', 'Invalid "name"'),
        ('{"action": "join", "room": "r", "name": "x", "session": "short"}', 'Invalid "session"'),
        ('{"action": "signal", "to": "AAAAAAAAAAAAAAAAAAAAAA", "data": []}', 'Invalid "data"'),
        ('{"action": "signal", "to": "AAAAAAAAAAAAAAAAAAAAAA", "data": {"a": NaN}}', "Invalid"),
        ('{"action": "signal", "to": "x", "data": {}}', 'Invalid "to"'),
        ('{"action": "signal", "to": "AAAAAAAAAAAAAAAAAAAAAA", "data": {"s": "\\ud800"}}', "Inv"),
    ],
)
def test_bad_requests(world: World, body: str, message: str) -> None:
    a = world.browser("A")
    a.send(body)
    (frame,) = a.take()
    assert frame["type"] == "error" and frame["code"] == "bad-request"
    assert frame["message"].startswith(message)
    assert world.dump() == []


def test_bad_request_never_echoes_the_input(world: World) -> None:
    a = world.browser("A")
    a.send('{"action": "ping", "<img src=x onerror=alert(1)>": 1}')
    a.send('{"action": "join", "room": "<script>", "name": "x"}')
    for frame in a.take():
        assert "<" not in frame["message"], frame


def test_oversize_data_is_refused(world: World) -> None:
    a, b = world.browser("A"), world.browser("B")
    ja, _ = a.join("r", "Ada"), b.join("r", "Bob")
    a.take()
    b.send({"action": "signal", "to": ja["you"], "data": {"sdp": "x" * (16 * 1024)}})
    assert b.take()[0]["code"] == "bad-request"
    b.send({"action": "signal", "to": ja["you"], "data": {"sdp": "x" * (16 * 1024 - 10)}})
    assert b.take() == [] and a.take()[0]["type"] == "signal"


def test_binary_frames_are_refused(world: World) -> None:
    event = world.message_event("A", "eyJhY3Rpb24iOiJwaW5nIn0=")
    event["isBase64Encoded"] = True
    world.invoke(event)
    assert world.gateway.frames["A"][0]["code"] == "bad-request"


def test_internal_error_is_plain(world: World) -> None:
    world.setenv("TABLE_NAME", "no-such-table")
    a = world.browser("A")
    assert a.send({"action": "join", "room": "r", "name": "Ada"}) == {"statusCode": 200}
    assert a.take() == [
        {
            "type": "error",
            "code": "internal",
            "message": "Something went wrong on the server. Try again.",
        }
    ]


def test_names_are_plain_text_with_odd_unicode_refused(world: World) -> None:
    world.setenv("MAX_PEERS", "8")
    accepted = {"A": "<b>Ada</b>", "B": "👩‍💻 Zoë", "C": "名前", "D": "x" * 40}
    for conn, name in accepted.items():
        assert world.browser(conn).join("r", name)["room"] == "r"
    names = {m["M"]["name"]["S"] for m in world.members("r").values()}
    assert names == set(accepted.values())
    for i, name in enumerate(["x" * 41, "a\u202eb", "a\u200bb", "a\nb", "\ufeff", "a\u2028b"]):
        c = world.browser(f"bad{i}")
        c.send({"action": "join", "room": "r", "name": name})
        assert c.take()[0]["code"] == "bad-request", name


def test_management_endpoint_comes_from_the_event_or_configuration(world: World):
    a = world.browser("A")
    a.send({"action": "ping"})
    assert (
        world.gateway.endpoints[-1] == "https://abc123def4.execute-api.eu-west-1.amazonaws.com/prod"
    )
    world.setenv("APIGW_ENDPOINT", "http://127.0.0.1:8080/_mgmt")
    a.send({"action": "ping"})
    assert world.gateway.endpoints[-1] == "http://127.0.0.1:8080/_mgmt"


def test_not_a_websocket_event(world: World) -> None:
    assert world.invoke({"hello": "world"}) == {"statusCode": 400}


def test_the_lambda_module_builds_the_function_once_from_its_environment() -> None:
    """What the CDK stack sets is read once, at init (a fresh interpreter, as a container)."""
    env = {"TABLE_NAME": "t-from-env", "MAX_PEERS": "5", "AWS_REGION": "eu-west-3",
           "ICE_SERVERS": "[]", "PATH": os.environ.get("PATH", "")}  # fmt: skip
    code = (
        "from p2pchat import handler; f = handler.lambda_handler; s = f._settings;"
        "print(type(f).__name__, s.table_name, s.max_peers, s.region, s.ice_servers)"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    assert out.split() == ["SignalingFunction", "t-from-env", "5", "eu-west-3", "[]"]


def test_two_configurations_live_in_one_process(world: World, db_client) -> None:
    """Explicit construction: a second function with other settings, side by side."""
    roomy = World(db_client, world.gateway, env={"MAX_PEERS": "3"})
    world.browser("A").join("r", "Ada"), world.browser("B").join("r", "Bob")
    c = world.browser("C")
    c.send({"action": "join", "room": "r", "name": "Cy"})
    assert c.take()[0]["code"] == "room-full"
    assert len(roomy.browser("C").join("r", "Cy")["peers"]) == 2


def test_every_log_line_names_connection_peer_and_room(world: World) -> None:
    a = world.browser("A")
    stream = io.StringIO()
    previous = logger.registered_handler.setStream(stream)
    try:
        ja = a.join("room-9", "Ada")
        a.send({"action": "leave"})
    finally:
        logger.registered_handler.setStream(previous)
    logs = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert logs and all(line["connection_id"] == "A" for line in logs)
    assert all(line["room"] == "room-9" for line in logs)
    assert any(line.get("peer_id") == ja["you"] for line in logs)


def test_metrics_are_emitted_in_emf(world: World, capsys) -> None:
    a, b = world.browser("A"), world.browser("B")
    capsys.readouterr()
    a.join("r", "Ada")
    a.send({"action": "dance"})
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    emf = [line for line in lines if "_aws" in line]
    names = {m["Name"] for line in emf for m in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert {"Joins", "Errors"} <= names
    assert all(line["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "P2PChat" for line in emf)
    assert any(line.get("code") == "unknown-action" for line in emf)
    del b


def test_items_carry_the_table_spec_ttl(world: World) -> None:
    import time

    world.browser("A").join("r", "Ada", SESSION_A)
    now = time.time()
    for item in world.dump():
        ttl = int(item[table_spec.TTL_ATTRIBUTE]["N"])
        assert abs(ttl - (now + table_spec.DEFAULT_TTL_SECONDS)) < 60, item


def test_metrics_can_be_disabled(world: World, capsys) -> None:
    world.metrics = Metrics(enabled=False)
    world.rebuild()
    capsys.readouterr()
    world.browser("A").join("r", "Ada")
    assert "_aws" not in capsys.readouterr().out
