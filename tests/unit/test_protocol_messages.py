"""Protocol v1 shapes and limits (pure: no AWS)."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from p2pchat import protocol
from p2pchat.protocol import (
    MAX_SIGNAL_BYTES,
    ErrorCode,
    Join,
    Leave,
    Ping,
    Relayed,
    Signal,
    client_messages,
    encode,
)

PEER = "AAAAAAAAAAAAAAAAAAAAAA"


def parse(message: dict) -> object:
    return client_messages().validate_python(message)


def test_each_action_parses_to_its_own_type() -> None:
    assert isinstance(parse({"action": "join", "room": "r", "name": "n"}), Join)
    assert isinstance(parse({"action": "signal", "to": PEER, "data": {}}), Signal)
    assert isinstance(parse({"action": "leave"}), Leave)
    assert isinstance(parse({"action": "ping"}), Ping)


@pytest.mark.parametrize(
    "message",
    [
        {"action": "join", "room": "r" * 65, "name": "n"},
        {"action": "join", "room": "", "name": "n"},
        {"action": "join", "room": "a/b", "name": "n"},
        {"action": "join", "room": "r", "name": "n", "session": "x" * 21},
        {"action": "join", "room": "r", "name": "n", "session": "x" * 65},
        {"action": "join", "room": "r", "name": "n", "session": "x" * 21 + "="},
        {"action": "join", "room": 1, "name": "n"},
        {"action": "join", "room": "r", "name": ["n"]},
        {"action": "signal", "to": PEER, "data": "sdp"},
        {"action": "signal", "to": PEER, "data": None},
        {"action": "signal", "to": PEER},
        {"action": "leave", "room": "r"},
        {"action": "ping", "id": 1},
    ],
)
def test_invalid_messages_are_refused(message: dict) -> None:
    with pytest.raises(ValidationError):
        parse(message)


def test_room_and_session_bounds_are_inclusive() -> None:
    assert parse({"action": "join", "room": "r" * 64, "name": "n", "session": "s" * 22})
    assert parse({"action": "join", "room": "a_-9Z", "name": "n", "session": "s" * 64})


def test_names_are_trimmed_and_normalized() -> None:
    join = parse({"action": "join", "room": "r", "name": "  Zoe\u0301  "})
    assert join.name == "Zoé"  # NFC: one code point


@pytest.mark.parametrize(
    "name", ["a\u0000", "a\u001b[31m", "a\u007f", "\u202eabc", "a\u200bb", "a\u2028b", "\ue000"]
)
def test_control_and_invisible_characters_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        protocol.clean_name(name)


def test_emoji_sequences_with_zero_width_joiner_are_allowed() -> None:
    assert protocol.clean_name("👩‍👩‍👧 family") == "👩‍👩‍👧 family"


def test_name_length_is_counted_after_trimming() -> None:
    assert protocol.clean_name(" " + "x" * 40 + " ") == "x" * 40
    with pytest.raises(ValueError):
        protocol.clean_name("x" * 41)
    with pytest.raises(ValueError):
        protocol.clean_name(" \t ")


def test_signal_data_limit_counts_utf8_bytes() -> None:
    overhead = len(json.dumps({"s": ""}, separators=(",", ":")))
    fits = {"s": "x" * (MAX_SIGNAL_BYTES - overhead)}
    assert parse({"action": "signal", "to": PEER, "data": fits})
    with pytest.raises(ValidationError):
        parse(
            {"action": "signal", "to": PEER, "data": {"s": "x" * (MAX_SIGNAL_BYTES - overhead + 1)}}
        )
    with pytest.raises(ValidationError):  # 3 bytes per character in UTF-8
        parse({"action": "signal", "to": PEER, "data": {"s": "€" * (MAX_SIGNAL_BYTES // 3)}})


def test_signal_data_that_json_cannot_carry_is_refused() -> None:
    for data in ({"n": float("nan")}, {"n": float("inf")}, {"s": "\ud800"}):
        with pytest.raises(ValidationError):
            parse({"action": "signal", "to": PEER, "data": data})


def test_relayed_signal_is_encoded_with_from() -> None:
    frame = json.loads(encode(Relayed(from_=PEER, data={"candidate": "c"})))
    assert frame == {"type": "signal", "from": PEER, "data": {"candidate": "c"}}


def test_error_codes_are_stable() -> None:
    assert {c.value for c in ErrorCode} == {
        "bad-request",
        "unknown-action",
        "room-full",
        "not-in-room",
        "unknown-peer",
        "rate-limited",
        "internal",
    }


def test_limits() -> None:
    assert protocol.DEFAULT_MAX_PEERS == 2
    assert protocol.MAX_PEERS_LIMIT == 8
    assert MAX_SIGNAL_BYTES == 16 * 1024
