"""Fair serving: one connection's backlog never delays another connection's frames or
handshakes (local.fairness, local.websocket); route selection never lets an exception escape.

The gateway tests hold the flooder's invocations inside the handler (a gate only the test
opens), so "during the flood" is a fact, not a timing: everything asserted about the other
connections happens while the flood's invocations are still running or queued."""

import asyncio
import json
import logging
import threading

import aiohttp
import pytest

from local.events import select_route
from local.fairness import FairQueue
from local.settings import Settings
from local.websocket import DROPPED
from tests.local.kit import WAIT_SECONDS, Recorder, run_async, until, websocket

DEFAULTS = Settings()
FLOOD = 3000


class Gate:
    """A handler: a body starting with "flood" waits at the gate until the test opens it;
    "ping" is answered "pong" through the Management API, as the real function does."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.served = None
        self.recorder = Recorder(routes={"$default": self._message})

    def _message(self, event, context):
        body = event["body"]
        if body.startswith("flood"):
            assert self.open.wait(WAIT_SECONDS), "the test never opened the gate"
        elif body == "ping":
            self.served.management().post_to_connection(
                ConnectionId=event["requestContext"]["connectionId"], Data=b"pong"
            )
        return {"statusCode": 200}

    def flood_invocations(self) -> list[dict]:
        return [e for e in self.recorder.of("$default") if e["body"].startswith("flood")]


@pytest.fixture
def gate(serve_gateway):
    gate = Gate()
    gate.served = serve_gateway(gate.recorder)
    yield gate
    gate.open.set()  # whatever happened, let the handler threads go


def test_a_flood_does_not_delay_another_connection(gate, caplog):
    """One connection sends 3000 frames whose invocations hang. Meanwhile another connection's
    ping is answered and a new connection's handshake completes. The flooder never has more
    than 4 invocations running and 64 waiting; every other frame is dropped and counted in
    the log once its queue has drained."""
    caplog.set_level(logging.WARNING, logger="local.gateway")
    served = gate.served
    frames = [f"flood {i}" for i in range(FLOOD)]

    async def scenario():
        async with websocket(served.ws_url) as flooder, websocket(served.ws_url) as other:
            for frame in frames:
                await flooder.send_str(frame)
            (first,) = await asyncio.to_thread(gate.recorder.wait_for, "$default")
            flooder_id = first["requestContext"]["connectionId"]
            # The gateway has read the whole flood: each frame running, waiting or dropped.
            queued = DEFAULTS.connection_concurrency + DEFAULTS.connection_queue
            await asyncio.to_thread(
                until, lambda: served.app[DROPPED].get(flooder_id) == FLOOD - queued,
                "the whole flood read",
            )  # fmt: skip
            await other.send_str("ping")
            pong = await other.receive_str(timeout=WAIT_SECONDS)
            async with websocket(served.ws_url) as newcomer:
                await newcomer.send_str("ping")
                newcomer_pong = await newcomer.receive_str(timeout=WAIT_SECONDS)
            during = len(gate.flood_invocations())
            gate.open.set()
            return flooder_id, pong, newcomer_pong, during

    flooder_id, pong, newcomer_pong, during = run_async(scenario())
    assert (pong, newcomer_pong) == ("pong", "pong")
    assert during == DEFAULTS.connection_concurrency  # the rest were waiting, or dropped
    dropped = FLOOD - DEFAULTS.connection_concurrency - DEFAULTS.connection_queue
    until(lambda: f"dropped    {flooder_id} {dropped} frames" in caplog.text, "the drop count")
    invoked = [e["body"] for e in gate.flood_invocations()]
    assert len(invoked) == DEFAULTS.connection_concurrency + DEFAULTS.connection_queue
    assert set(invoked) <= set(frames) and len(set(invoked)) == len(invoked)
    assert f"dropping   {flooder_id} frames" in caplog.text


def test_handshakes_and_disconnects_never_wait_behind_messages(gate):
    """Eight connections hold all 32 message threads; a new connection's $connect and a
    closed connection's $disconnect still run, on threads of their own."""
    served = gate.served
    flooders = DEFAULTS.max_workers // DEFAULTS.connection_concurrency

    async def scenario():
        sockets = [await _open(served.ws_url) for _ in range(flooders)]
        for _, ws in sockets:
            for i in range(DEFAULTS.connection_concurrency + 1):
                await ws.send_str(f"flood {i}")
        await asyncio.to_thread(
            until, lambda: len(gate.flood_invocations()) == DEFAULTS.max_workers,
            "every message thread held",
        )  # fmt: skip
        async with websocket(served.ws_url):
            connected = len(gate.recorder.of("$connect"))
        await asyncio.to_thread(gate.recorder.wait_for, "$disconnect")
        still_held = len(gate.flood_invocations())
        gate.open.set()
        for session, ws in sockets:
            await ws.close()
            await session.close()
        return connected, still_held

    connected, still_held = run_async(scenario())
    assert connected == flooders + 1
    assert still_held == DEFAULTS.max_workers  # nothing else ran: the gate was still shut


async def _open(url):
    session = aiohttp.ClientSession()
    return session, await session.ws_connect(url)


@pytest.mark.parametrize(
    "body",
    [
        '{"action":"join","x":' + "[" * 10_000 + "]" * 10_000 + "}",  # RecursionError
        '{"action":"join","n":' + "1" * 5000 + "}",  # int too long to convert
        '{"action":"join"',
        "[" * 16_000,
        "\ud800",
        "",
    ],
    ids=["nested-10000", "long-int", "truncated", "open-brackets", "lone-surrogate", "empty"],
)
def test_route_selection_never_raises(body):
    assert select_route(body, frozenset({"join"})) == "$default"


def test_deeply_nested_json_is_routed_to_default(serve_gateway):
    """JSON nested 16,000 deep (it fits in 32 KB): the client's frame reaches the handler on
    $default, and the connection stays open for the next one."""
    handler = Recorder()
    served = serve_gateway(handler, routes=frozenset({"join"}))
    deep = '{"action":"join","x":' + "[" * 16_000 + "]" * 16_000 + "}"

    async def scenario():
        async with websocket(served.ws_url) as ws:
            await ws.send_str(deep)
            await ws.send_str('{"action":"join"}')
            await asyncio.to_thread(handler.wait_for, "join")
            return ws.closed

    assert run_async(scenario()) is False
    (default,) = handler.wait_for("$default")
    assert default["body"] == deep


# ---- the queue itself --------------------------------------------------------------------
def _log() -> logging.Logger:
    return logging.getLogger("test.fairness")


def test_free_slots_go_round_robin():
    """Three keys, one slot: a key with a backlog takes its turn with the others."""
    order: list[str] = []

    async def scenario():
        fair = FairQueue(slots=1, per_key=1, log=_log())

        def job(name):
            async def run():
                order.append(name)

            return run

        for i in range(3):
            fair.submit("flood", job(f"flood{i}"))
        fair.submit("a", job("a"))
        fair.submit("b", job("b"))
        await fair.drained()

    asyncio.run(scenario())
    assert order == ["flood0", "a", "b", "flood1", "flood2"]


def test_bounds_drop_and_a_key_never_runs_more_than_its_share():
    async def scenario():
        fair = FairQueue(slots=10, per_key=2, max_jobs=3, max_bytes=100, log=_log())
        gate = asyncio.Event()
        running = []

        async def hold():
            running.append(1)
            await gate.wait()

        taken = [fair.submit("k", hold, size=10) for _ in range(8)]
        await asyncio.sleep(0)
        most = fair.running
        big = fair.submit("other", hold, size=500)  # alone in its queue: taken
        bigger = [fair.submit("k2", hold, size=60) for _ in range(4)]
        gate.set()
        await fair.drained()
        return taken, most, big, bigger, len(running)

    taken, most, big, bigger, ran = asyncio.run(scenario())
    assert taken == [True] * 5 + [False] * 3  # 2 running + 3 waiting
    assert most == 2
    assert big is True
    # k2: 2 running, then 60 bytes waiting; the next 60 would pass 100
    assert bigger == [True, True, True, False]
    assert ran == 5 + 1 + 3


def test_a_failing_job_is_logged_and_a_call_gets_its_exception(caplog):
    async def scenario():
        fair = FairQueue(slots=2, per_key=1, log=_log())

        async def boom():
            raise RuntimeError("boom")

        fair.submit("k", boom)
        with pytest.raises(RuntimeError, match="boom"):
            await fair.call("c", boom)
        assert await fair.call("c", _answer) == 42
        await fair.drained()

    with caplog.at_level(logging.ERROR, logger="test.fairness"):
        asyncio.run(scenario())
    failures = [r for r in caplog.records if r.name == "test.fairness"]
    assert [r.getMessage() for r in failures] == ["a job of k failed"]
    assert "RuntimeError: boom" in caplog.text


async def _answer():
    return 42


def test_a_failing_invocation_is_logged_and_answered(serve_gateway, caplog):
    """A handler exception on a message: logged with its traceback, and the client gets API
    Gateway's 'Internal server error' (no task dies unseen)."""

    def fail(event, context):
        raise RuntimeError("boom")

    served = serve_gateway(Recorder(routes={"$default": fail}))
    caplog.set_level(logging.ERROR, logger="local.gateway")

    async def scenario():
        async with websocket(served.ws_url) as ws:
            await ws.send_str("[" * 16_000)
            return json.loads(await ws.receive_str(timeout=WAIT_SECONDS))

    assert run_async(scenario())["message"] == "Internal server error"
    until(lambda: "$default handler failed" in caplog.text, "the failure logged")
    assert "RuntimeError: boom" in caplog.text
