"""Issue 21 against the real function (``local.stack``, on the session's DynamoDB Local): a
flooder is told `rate-limited` once per window while others keep signaling, and a member that
goes silent without closing gives its place to a newcomer once it has been silent for longer
than ``stale_after_seconds``. Outcomes are asserted, never durations."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import uuid

import aiohttp
import boto3
import pytest

from local.stack import StackFailed, start_local_stack
from tests.local.kit import WAIT_SECONDS, run_async, until, websocket

RATE_LIMIT = 40  # messages per connection per window
WINDOW = 3600  # one window for the whole flood (checked: the test repeats if it straddles two)
KEEPALIVE, STALE_AFTER = 1, 2
FLOOD = 3000


@pytest.fixture(scope="module")
def stack(dynamodb_endpoint):
    try:
        with start_local_stack(
            dynamodb_endpoint=dynamodb_endpoint,
            max_peers=2,
            rate_limit=RATE_LIMIT,
            rate_window_seconds=WINDOW,
            keepalive_seconds=KEEPALIVE,
            stale_after_seconds=STALE_AFTER,
        ) as stack:
            yield stack
    except StackFailed as error:
        pytest.fail(str(error), pytrace=False)


class Member:
    """A raw client of the product's protocol: the frames it received, and how the server
    closed it (the close code, once its reader has ended)."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.frames: asyncio.Queue[dict] = asyncio.Queue()
        self.seen: list[dict] = []
        self.closed_with: int | None = None
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while (msg := await self.ws.receive()).type is aiohttp.WSMsgType.TEXT:
            frame = json.loads(msg.data)
            self.seen.append(frame)
            await self.frames.put(frame)
        if msg.type is aiohttp.WSMsgType.CLOSE:
            self.closed_with = msg.data

    async def send(self, **message) -> None:
        await self.ws.send_str(json.dumps(message))

    async def next(self, *types: str) -> dict:
        """The next frame of one of these types (others are skipped; they stay in seen)."""
        async with asyncio.timeout(WAIT_SECONDS):
            while (frame := await self.frames.get())["type"] not in types:
                pass
        return frame

    async def join(self, room: str) -> dict:
        await self.send(action="join", room=room, name="T")
        return await self.next("joined", "error")


@contextlib.asynccontextmanager
async def member(stack, **headers):
    async with websocket(stack.ws_url, headers=headers) as ws:
        m = Member(ws)
        try:
            yield m
        finally:
            m.reader.cancel()


def test_a_flooder_is_rate_limited_and_others_keep_signaling(stack):
    """One connection sends 3000 pings at once. Another room's members signal and ping all
    along; the flooder gets exactly RATE_LIMIT pongs and one `rate-limited` error in the
    window, and every one of its frames was either invoked or dropped and counted."""
    for _ in range(2):  # a second try only if the first straddled two windows
        outcome = run_async(_flood(stack))
        if outcome["windows"] == 1:
            break
    else:
        pytest.fail("two floods in a row straddled a window boundary")
    assert outcome["others"] == {"signal": outcome["sent"], "pong": outcome["sent"]}
    assert outcome["flooder"] == {"pong": RATE_LIMIT, "rate-limited": 1}
    assert outcome["invoked"] + outcome["dropped"] == FLOOD  # none lost unseen
    assert outcome["dropped"] > 0


async def _flood(stack) -> dict:
    origin = {"Origin": stack.http_url}
    room = f"flood-{uuid.uuid4().hex[:8]}"
    before = stack.output()
    async with member(stack, **origin) as a, member(stack, **origin) as b, member(stack) as flooder:
        assert (await a.join(room))["type"] == "joined"
        b_id = (await b.join(room))["you"]
        # The flooder is the one connection without an Origin (not a browser): its log lines.
        new = stack.output()[len(before):]
        (flooder_id,) = re.findall(r"connect\s+(\S+) from \S+ origin=- -> 200", new)
        window = int(time.time() // WINDOW)
        ping = json.dumps({"action": "ping"})
        for _ in range(FLOOD):
            await flooder.ws.send_str(ping)
        sent = 5
        for i in range(sent):  # the other room, while the flood is read, queued and dropped
            await a.send(action="signal", to=b_id, data={"n": i})
            await a.send(action="ping")
        signals = {(await b.next("signal"))["data"]["n"] for _ in range(sent)}
        answers = [(await a.next("pong", "error"))["type"] for _ in range(sent)]
        others = {"signal": len(signals), "pong": answers.count("pong")}

        def accounted() -> tuple[int, int] | None:
            """(invoked, dropped) once every frame of the flood is one or the other."""
            out = stack.output()
            invoked = len(re.findall(rf"message\s+{re.escape(flooder_id)} ping ", out))
            dropped = sum(map(int, re.findall(rf"dropped\s+{re.escape(flooder_id)} (\d+) ", out)))
            return (invoked, dropped) if invoked + dropped >= FLOOD else None

        invoked, dropped = await asyncio.to_thread(until, accounted, "the whole flood accounted")
        # Every invocation of the flooder is over, its posts queued: one more after them.
        management = boto3.client(
            "apigatewaymanagementapi", endpoint_url=stack.function.apigw_endpoint,
            region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x",
        )  # fmt: skip
        await asyncio.to_thread(
            management.post_to_connection, ConnectionId=flooder_id, Data=b'{"type":"end"}'
        )
        await flooder.next("end")
        windows = int(time.time() // WINDOW) - window + 1
    counts: dict[str, int] = {}
    for frame in flooder.seen[:-1]:
        kind = frame.get("code", frame["type"])
        counts[kind] = counts.get(kind, 0) + 1
    return {"others": others, "sent": sent, "flooder": counts, "windows": windows,
            "invoked": invoked, "dropped": dropped}  # fmt: skip


def test_a_silent_member_gives_way_to_a_newcomer(stack):
    """A room of two: A pings every half second (its keepalive), B stops sending without
    closing. A newcomer C gets room-full while B is alive, and is admitted once B has been
    silent longer than stale_after_seconds (asked again every half second): A is told
    peer-left for B, and B's connection is closed by the server."""
    outcome = run_async(_silent_member(stack))
    assert outcome["first"] == "room-full"
    assert outcome["admitted"]["peers"] == [{"id": outcome["a"], "name": "T"}]
    assert outcome["peer_left"] == outcome["b"]
    assert outcome["b_closed"] == 1000  # the function's DELETE @connections
    # Not before B had been silent for stale_after_seconds (B's last message was sent at
    # b_last, so the gateway stamped it later; C was admitted before it read `joined`).
    assert outcome["admitted_at"] - outcome["b_last"] > STALE_AFTER


async def _silent_member(stack) -> dict:
    origin = {"Origin": stack.http_url}
    room = f"silent-{uuid.uuid4().hex[:8]}"
    async with member(stack, **origin) as a, member(stack, **origin) as b:
        a_id = (await a.join(room))["you"]
        b_id = (await b.join(room))["you"]

        async def keepalive() -> None:
            while True:
                await a.send(action="ping")
                await asyncio.sleep(KEEPALIVE / 2)

        alive = asyncio.create_task(keepalive())
        try:
            async with member(stack, **origin) as c:
                await b.send(action="ping")  # B is alive now...
                b_last = time.time()
                await b.next("pong")
                first = await c.join(room)  # ...so C is refused
                while (answer := await c.join(room))["type"] != "joined":  # B says nothing
                    assert answer["code"] == "room-full", answer
                    await asyncio.sleep(0.5)
                admitted_at = time.time()
                peer_left = await a.next("peer-left")
                async with asyncio.timeout(WAIT_SECONDS):
                    await b.reader  # ends when the server closes B
        finally:
            alive.cancel()
    return {
        "a": a_id,
        "b": b_id,
        "first": first.get("code"),
        "admitted": answer,
        "admitted_at": admitted_at,
        "b_last": b_last,
        "peer_left": peer_left["peer"],
        "b_closed": b.closed_with,
    }
