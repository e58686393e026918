"""Capacity holds under a real race: six clients join a room of two at the same moment.

Runs against DynamoDB Local (Amazon's emulator, whose transactions are atomic), never moto
(which admits a third member under concurrency: see the shared FACTS.md). Each client is a
thread calling the real lambda_handler; all wait on a barrier and then send their join. Every
race must give exactly two `joined` and four `room-full`; nothing is retried or loosened.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from local import dynamodb as local_dynamodb
from p2pchat import table_spec
from p2pchat.aws_clients import Clients
from tests.adapter.handler_harness import FakeGateway, World
from tests.support import LambdaContext

RACES = max(50, int(os.environ.get("JOIN_RACES", "50")))  # never fewer than 50
CLIENTS = [f"c{i}" for i in range(1, 7)]
CAPACITY = 2
REGION = "us-east-1"


@pytest.fixture
def race_world(dynamodb_endpoint: str, fresh_table: str):
    gateway = FakeGateway()
    # The function's own kind of client (its timeouts and retries), with local credentials.
    session = boto3.session.Session(**local_dynamodb.LOCAL_CREDENTIALS)
    db = Clients(session).dynamodb(dynamodb_endpoint, REGION)
    transactions = Counter()

    def count(model: Any, **_: Any) -> None:
        transactions[model.name] += 1

    db.meta.events.register("before-call.dynamodb.*", count)
    try:
        yield World(db, gateway, fresh_table, env={"MAX_PEERS": str(CAPACITY)}), transactions
    finally:
        db.meta.events.unregister("before-call.dynamodb.*", count)


def at_once(calls: list[Callable[[], dict[str, Any]]]) -> None:
    """Run each call in its own thread, all released together by a barrier; each must
    answer 200 and nothing may raise."""
    barrier = threading.Barrier(len(calls))
    failures: list[BaseException] = []

    def run(call: Callable[[], dict[str, Any]]) -> None:
        try:
            barrier.wait(timeout=30)
            assert call() == {"statusCode": 200}
        except BaseException as error:  # reported below, in the test's thread
            failures.append(error)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures


def invoke(world: World, event: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    return lambda: world.function(event, LambdaContext())


def race(world: World, room: str) -> dict[str, dict[str, Any]]:
    """Six threads send a join to `room` at once; returns each one's answer (`joined` or an
    `error`). A winner may get the other winner's `peer-joined` before its own `joined`: the
    server promises no order between frames that different invocations post."""
    events = {
        conn: world.message_event(
            conn, json.dumps({"action": "join", "room": room, "name": f"n-{conn}"})
        )
        for conn in CLIENTS
    }
    at_once([invoke(world, events[conn]) for conn in CLIENTS])
    answers = {}
    for conn in CLIENTS:
        (answer,) = [f for f in world.gateway.frames[conn] if f["type"] in {"joined", "error"}]
        answers[conn] = answer
    return answers


def test_six_clients_racing_for_a_room_of_two(race_world) -> None:
    world, requests = race_world
    started = time.perf_counter()
    racing = 0.0
    for i in range(RACES):
        room = f"race-{i}"
        world.gateway.frames.clear()
        t0 = time.perf_counter()
        first = race(world, room)
        racing += time.perf_counter() - t0

        outcomes = Counter(f["type"] if f["type"] != "error" else f["code"] for f in first.values())
        assert outcomes == {"joined": CAPACITY, "room-full": len(CLIENTS) - CAPACITY}, (i, first)

        # The table agrees with what the clients were told.
        winners = {conn for conn, f in first.items() if f["type"] == "joined"}
        items = world.dump()
        room_item = next(it for it in items if it["pk"]["S"] == table_spec.ROOM_PREFIX + room)
        members = room_item["members"]["M"]
        assert {m["M"]["conn"]["S"] for m in members.values()} == winners
        you = {first[conn]["you"] for conn in winners}
        assert set(members) == you
        conns = {it["pk"]["S"] for it in items if it["pk"]["S"].startswith("CONN#")}
        assert conns == {f"CONN#{c}" for c in winners}
        # Each winner saw the other (as a peer in `joined` or a later peer-joined), no loser did.
        for conn in winners:
            seen = {p["id"] for f in world.gateway.frames[conn] for p in f.get("peers", [])}
            seen |= {
                f["peer"]["id"] for f in world.gateway.frames[conn] if f["type"] == "peer-joined"
            }
            assert seen == you - {first[conn]["you"]}
        for conn in set(CLIENTS) - winners:
            assert len(world.gateway.frames[conn]) == 1

        # Everyone hangs up at the same moment; the room empties and nothing is left behind.
        at_once([world.browser(conn).disconnect for conn in CLIENTS])
        leftover = [it["pk"]["S"] for it in world.dump() if not it["pk"]["S"].startswith("ROOM#")]
        assert leftover == []
    elapsed = time.perf_counter() - started
    print(
        f"\n{RACES} races of {len(CLIENTS)} clients for {CAPACITY} places: all exact; "
        f"{elapsed / RACES * 1000:.0f} ms per race with checks and clean-up, "
        f"{racing / RACES * 1000:.0f} ms racing; DynamoDB requests per race "
        + ", ".join(f"{name} {n / RACES:.1f}" for name, n in sorted(requests.items()))
    )


def test_one_connection_joining_two_rooms_at_once_ends_in_one(race_world) -> None:
    """Two joins from the same connection at the same moment: it ends up a member of one room
    only (the other join, reading again, leaves first), never of both."""
    world, _ = race_world
    for i in range(20):
        rooms = [f"twin-{i}-a", f"twin-{i}-b"]
        world.gateway.frames.clear()
        events = [
            world.message_event("solo", json.dumps({"action": "join", "room": r, "name": "S"}))
            for r in rooms
        ]
        at_once([invoke(world, event) for event in events])
        items = world.dump()
        memberships = [
            (it["room"]["S"], peer)
            for it in items
            if it["pk"]["S"].startswith("ROOM#twin-")
            for peer in it["members"]["M"]
        ]
        assert len(memberships) == 1, (i, memberships)
        (conn_item,) = [it for it in items if it["pk"]["S"] == "CONN#solo"]
        assert (conn_item["room"]["S"], conn_item["peer"]["S"]) == memberships[0]
        world.browser("solo").disconnect()
