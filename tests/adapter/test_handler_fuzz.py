"""Property: no body makes the handler raise, answer anything but one valid frame, or write.

Thousands of random bodies (random text, random JSON, near-valid messages with one thing
wrong) go through lambda_handler from a connection that is in no room, next to a room with
two members. Each must get exactly one frame (an `error`, or `pong` for a valid ping), nobody
else may get anything, and the whole table must be unchanged.
"""

from __future__ import annotations

import json
import os
import string
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends

from p2pchat import table_spec
from p2pchat.protocol import ErrorCode, Join, client_messages, server_messages
from tests.adapter.handler_harness import World

EXAMPLES = max(2000, int(os.environ.get("FUZZ_EXAMPLES", "2000")))  # never fewer
ACTIONS = ["join", "signal", "leave", "ping"]
URLSAFE = string.ascii_letters + string.digits + "-_"

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=4,
)


def nested(depth: int, kind: str) -> Any:
    """An object (or array) `depth` levels deep: deeper than MAX_DATA_DEPTH and than what
    Python's json can serialize (about 1000) are both in range."""
    value: Any = 1
    for _ in range(depth):
        value = {"k": value} if kind == "object" else [value]
    return value


deep_values = st.builds(nested, st.integers(1, 1100), st.sampled_from(["object", "array"]))
wide_values = st.builds(lambda n: {f"k{i}": [i] for i in range(n)}, st.integers(1, 3000))
odd_text = st.text(
    alphabet=st.characters(codec=None, exclude_categories=()), min_size=0, max_size=50
) | st.sampled_from(["", " ", "\u202eevil", "a\u0000b", "\ufeff", "\u200b", "x" * 41, "\ud800"])


def near_valid(peer_ids: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    good_room = st.text(alphabet=URLSAFE, min_size=1, max_size=64)
    good_session = st.text(alphabet=URLSAFE, min_size=22, max_size=64)
    to = st.sampled_from(peer_ids) | st.text(alphabet=URLSAFE, min_size=16, max_size=30)
    join = st.fixed_dictionaries(
        {"action": st.just("join"), "room": good_room | odd_text | json_values, "name": odd_text},
        optional={"session": good_session | odd_text | json_values},
    )
    signal = st.fixed_dictionaries(
        {"action": st.just("signal"), "to": to | json_values},
        optional={
            "data": json_values
            | deep_values.map(lambda v: {"d": v})
            | wide_values
            | st.dictionaries(st.text(max_size=5), json_scalars, max_size=3)
            | st.builds(lambda n: {"sdp": "x" * n}, st.integers(16000, 17000)),
        },
    )
    simple = st.fixed_dictionaries({"action": st.sampled_from(["leave", "ping"])})
    base = join | signal | simple
    extra = st.dictionaries(st.text(max_size=10), json_scalars, max_size=2)
    return st.builds(
        lambda m, e, keep: {**e, **m} if keep else {**m, **e}, base, extra, st.booleans()
    )


def bodies(peer_ids: list[str]) -> st.SearchStrategy[str]:
    random_objects = st.dictionaries(
        st.sampled_from(["action", "room", "name", "to", "data", "session", "type"])
        | st.text(max_size=8),
        json_values,
        max_size=4,
    )
    action_typos = st.builds(
        lambda a: json.dumps({"action": a}), st.text(max_size=12).filter(lambda a: a not in ACTIONS)
    )
    return st.one_of(
        st.text(max_size=200),
        deep_values.map(json.dumps),
        json_values.map(lambda v: json.dumps(v)),
        random_objects.map(json.dumps),
        action_typos,
        near_valid(peer_ids).map(json.dumps),
        near_valid(peer_ids).map(lambda m: json.dumps(m, ensure_ascii=False)[:-1]),  # truncated
    )


def table_snapshot() -> list[str]:
    """The table's membership items, read from moto's in-process backend (a Scan per example
    is too slow). A stranger's message writes only its fair-use counter (RATE#), left out."""
    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID]["eu-west-1"]
    table = backend.get_table(table_spec.LOCAL_TABLE_NAME)
    items = (item.to_json() for item in table.all_items())
    return sorted(
        json.dumps(item, sort_keys=True)
        for item in items
        if not item["Attributes"]["pk"]["S"].startswith(table_spec.RATE_PREFIX)
    )


def is_valid_join(body: str) -> bool:
    try:
        return isinstance(client_messages().validate_python(json.loads(body)), Join)
    except Exception:
        return False


def test_random_bodies_never_escape_and_never_write(world: World) -> None:
    world.setenv("RATE_LIMIT_MESSAGES", "10000")  # the fuzzer is one connection
    a, b = world.browser("A"), world.browser("B")
    peer_ids = [a.join("lobby", "Ada")["you"], b.join("lobby", "Bob")["you"]]
    a.take()
    before = table_snapshot()
    assert len(before) == 5  # room, two peers, two connections
    scan_before = world.dump()
    fuzzer = world.browser("F")
    codes = {code.value for code in ErrorCode}
    seen: dict[str, int] = {}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(body=bodies(peer_ids))
    def one(body: str) -> None:
        assume(not is_valid_join(body))  # a valid join may rightly write
        response = world.invoke(world.message_event("F", body))
        assert response == {"statusCode": 200}
        frames = fuzzer.take()
        assert len(frames) == 1, (body, frames)
        frame = server_messages().validate_json(json.dumps(frames[0]))
        if frame.type == "pong":
            assert json.loads(body) == {"action": "ping"}
        else:
            assert frame.type == "error" and frame.code in codes, frame
            assert frame.code != "internal", (body, frame)
            seen[frame.code] = seen.get(frame.code, 0) + 1
        assert a.frames == [] and b.frames == [], body
        assert table_snapshot() == before, body

    one()
    assert world.dump() == scan_before  # and once more through DynamoDB's own API
    # The fuzzing reached every refusal a stranger can meet.
    assert {"bad-request", "unknown-action", "not-in-room"} <= set(seen), seen
