"""Fair serving under attack (issue 21): another room's ping latency with no attack, while one
connection floods, and while one client opens 200 connections at once.

The local stack as `make run` starts it (`python -m local`, DynamoDB Local), on a free loopback
port. Five pingers, each in a room of its own, send 4 pings a second each (20 a second in
all, open loop: a ping leaves on time whatever became of the last one, so a stall shows in
full), within the function's budget (50 messages per 10 s). Each phase measures the pongs of
the pings sent during `--seconds`, then waits for the late ones (lost after `--drain`):

- `quiet`: nothing else.
- `flood`: at its start one connection sends `--flood` valid frames (an ICE candidate
  signal to its room's peer and a ping, in turn) as fast as it can, once.
- `connects`: at its start one client opens `--connects` WebSocket connections at once,
  keeps them open for half the phase, then closes them all at once ($disconnect each).

In every phase a new connection is opened every second: its handshake time (the $connect
invocation included). Latency is send -> pong, FIFO per pinger (one process, one clock).

    .venv/bin/python -m bench.flood                         # 10 s per phase
    .venv/bin/python -m bench.flood --checkout /tmp/head    # the stack of another checkout
    .venv/bin/python -m bench.flood --rate-limit 10000      # the gateway alone: no budget

`--checkout DIR` runs `python -m local` from DIR (its own `local/` and `lambdas/`, this venv),
for a figure before a change (`git worktree add /tmp/head HEAD`). The load generator runs on
the same two cores as the stack: this is the machine's figure, not the cloud's.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp

from bench.common import RESULTS, ROOT, machine, median, percentile, serve, when
from bench.wsclient import CANDIDATE
from local.settings import WS_PATH

NAME = "flood"
PHASES = ("quiet", "flood", "connects")


# ---- pure parts (tests/bench/test_flood.py) ------------------------------------------------
def flood_frames(count: int, peer: str) -> list[str]:
    """``count`` valid frames, a signal to ``peer`` and a ping in turn, each well under 32 KB."""
    signal_ = json.dumps({"action": "signal", "to": peer, "data": CANDIDATE})
    ping = json.dumps({"action": "ping"})
    return [signal_ if i % 2 == 0 else ping for i in range(count)]


class PingClock:
    """The send times of one pinger's pings and their latencies: a pong answers the oldest
    ping still unanswered (a connection's pongs come back in the order of its pings, but for
    two that overtake each other: nearly simultaneous, nearly the same latency)."""

    def __init__(self) -> None:
        self.sent: collections.deque[float] = collections.deque()
        self.latencies_ms: list[float] = []

    def ping(self, at: float) -> None:
        self.sent.append(at)

    def pong(self, at: float) -> None:
        if self.sent:  # a pong nobody waits for (a ping of an earlier phase) is ignored
            self.latencies_ms.append((at - self.sent.popleft()) * 1000)

    @property
    def waiting(self) -> int:
        return len(self.sent)


def summary(latencies_ms: list[float], lost: int = 0) -> dict:
    return {
        "n": len(latencies_ms),
        "p50_ms": median(latencies_ms),
        "p99_ms": percentile(latencies_ms, 99),
        "max_ms": max(latencies_ms, default=float("nan")),
        "lost": lost,
    }


def headline(result: dict) -> str:
    p = result["phases"]
    return (
        f"another room's ping p50/p99: quiet {p['quiet']['p50_ms']:.0f}/"
        f"{p['quiet']['p99_ms']:.0f} ms, during a {result['flood']}-frame flood "
        f"{p['flood']['p50_ms']:.0f}/{p['flood']['p99_ms']:.0f} ms, during "
        f"{result['connects']} connects {p['connects']['p50_ms']:.0f}/"
        f"{p['connects']['p99_ms']:.0f} ms"
    )


def render(result: dict) -> str:
    """The markdown table of one run."""
    out = [
        f"{when(result)} Stack: `{result['stack']}`; {result['pingers']} pingers x "
        f"{result['rate']:g} pings/s, {result['seconds']:g} s per phase.",
        "",
        "| phase | pings | ping p50 | p99 | max | lost | new connection's handshake p50 / max |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in PHASES:
        r = result["phases"][name]
        h = r["handshakes"]
        out.append(
            f"| {_label(name, result)} | {r['n']} | {_ms(r['p50_ms'])} | {_ms(r['p99_ms'])} | "
            f"{_ms(r['max_ms'])} | {r['lost']} | {_ms(h['p50_ms'])} / {_ms(h['max_ms'])} |"
        )
    flood = result["phases"]["flood"]["attack"]
    connects = result["phases"]["connects"]["attack"]
    out += [
        "",
        f"Flood: {flood['frames']} frames sent in {flood['send_s']:.2f} s; the flooder got "
        f"{_kinds(flood['replies'])}, its peer {flood['peer_signals']} signals; the gateway "
        f"logged {flood['gateway_dropped']} frames dropped (queue full). Connects: "
        f"{connects['opened']} of {connects['asked']} opened, handshake p50 "
        f"{_ms(connects['p50_ms'])}, max {_ms(connects['max_ms'])}.",
    ]
    return "\n".join(out)


def _label(name: str, result: dict) -> str:
    return {
        "quiet": "quiet",
        "flood": f"one connection floods {result['flood']} frames",
        "connects": f"one client opens {result['connects']} connections, then closes them",
    }[name]


def _kinds(replies: dict[str, int]) -> str:
    return ", ".join(f"{n} {kind}" for kind, n in sorted(replies.items())) or "nothing"


def _ms(x: float | None) -> str:
    if x is None or x != x:
        return "n/a"
    return f"{x:.0f} ms" if x < 1000 else f"{x / 1000:.1f} s"


# ---- the stack -----------------------------------------------------------------------------
class Stack:
    """``python -m local`` of a checkout, on a free port; its output kept."""

    def __init__(self, proc: subprocess.Popen, port: int, lines: list[str]) -> None:
        self.proc, self.port, self.lines = proc, port, lines

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{WS_PATH}"

    def dropped(self) -> int:
        return sum(int(n) for n in re.findall(r"dropped\s+\S+ (\d+) frames", "".join(self.lines)))


@contextlib.contextmanager
def local_stack(checkout: Path, env: dict[str, str]) -> Iterator[Stack]:
    extra = dict(env)
    if checkout.resolve() != ROOT:  # its own code first, before this venv's editable install
        extra["PYTHONPATH"] = f"{checkout / 'lambdas'}{os.pathsep}{checkout}"
    lines: list[str] = []
    with serve("local", cwd=checkout, env=extra, output=lines) as (url, proc):
        yield Stack(proc, int(url.rsplit(":", 1)[1]), lines)


# ---- the load --------------------------------------------------------------------------------
class Client:
    """A raw client: its frames by type, pongs timed by a PingClock."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws, self.clock = ws, PingClock()
        self.replies: collections.Counter[str] = collections.Counter()
        self.joined: asyncio.Future = asyncio.get_running_loop().create_future()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            frame = json.loads(msg.data)
            kind = frame.get("type")
            if kind == "pong":
                self.clock.pong(time.perf_counter())
            elif kind == "joined" and not self.joined.done():
                self.joined.set_result(frame["you"])
            self.replies[frame.get("code", kind)] += 1

    async def join(self, room: str) -> str:
        await self.ws.send_str(json.dumps({"action": "join", "room": room, "name": "bench"}))
        async with asyncio.timeout(30):
            return await self.joined

    async def close(self) -> None:
        await self.ws.close()
        self.reader.cancel()


async def connect(session: aiohttp.ClientSession, url: str) -> Client:
    return Client(await session.ws_connect(url, autoping=True))


async def handshake(session: aiohttp.ClientSession, url: str, timeout: float) -> float | None:
    """Time to open (and then close) one connection, in ms; None if it failed."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            ws = await session.ws_connect(url)
    except (TimeoutError, aiohttp.ClientError):
        return None
    took = (time.perf_counter() - started) * 1000
    await ws.close()
    return took


async def phase(
    name: str,
    url: str,
    args: argparse.Namespace,
    session: aiohttp.ClientSession,
    pingers: list[Client],
    stack: Stack,
) -> dict:
    interval = 1 / args.rate
    stop = time.perf_counter() + args.seconds
    before = [len(p.clock.latencies_ms) for p in pingers]

    async def pinger(i: int, p: Client) -> None:
        await asyncio.sleep(interval * i / len(pingers))  # spread evenly
        next_at = time.perf_counter()
        while next_at < stop:
            p.clock.ping(time.perf_counter())
            await p.ws.send_str('{"action":"ping"}')
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))

    async def probes() -> list[float | None]:
        out = []
        while time.perf_counter() < stop:
            tick = time.perf_counter()
            out.append(await handshake(session, url, args.drain))
            await asyncio.sleep(max(0.0, 1 - (time.perf_counter() - tick)))
        return out

    dropped_before = stack.dropped()
    attack = {"quiet": _nothing, "flood": _flood, "connects": _connects}[name]
    attack_task = asyncio.create_task(attack(url, args, stop))
    probe_task = asyncio.create_task(probes())
    await asyncio.gather(*(pinger(i, p) for i, p in enumerate(pingers)))
    deadline = time.perf_counter() + args.drain
    while any(p.clock.waiting for p in pingers) and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    latencies = [x for p, n in zip(pingers, before, strict=True) for x in p.clock.latencies_ms[n:]]
    lost = sum(p.clock.waiting for p in pingers)
    for p in pingers:
        p.clock.sent.clear()  # a late pong of this phase must not answer the next one's ping
    shakes = await probe_task
    attack_result = await attack_task
    if name == "flood":
        attack_result["gateway_dropped"] = stack.dropped() - dropped_before
    done = [x for x in shakes if x is not None]
    return {
        **summary(latencies, lost),
        "handshakes": {**summary(done, len(shakes) - len(done))},
        "attack": attack_result,
    }


async def _nothing(url: str, args: argparse.Namespace, stop: float) -> dict:
    return {}


async def _flood(url: str, args: argparse.Namespace, stop: float) -> dict:
    async with aiohttp.ClientSession() as session:
        flooder, peer = await connect(session, url), await connect(session, url)
        room = f"flood-{uuid.uuid4().hex[:8]}"
        await flooder.join(room)
        peer_id = await peer.join(room)
        started = time.perf_counter()
        for frame in flood_frames(args.flood, peer_id):
            await flooder.ws.send_str(frame)
        send_s = time.perf_counter() - started
        await asyncio.sleep(max(0.0, stop - time.perf_counter()))
        await asyncio.sleep(1)  # its last replies
        replies = dict(flooder.replies)
        replies.pop("joined", None)
        peer_signals = peer.replies["signal"]
        await flooder.close()
        await peer.close()
    return {"frames": args.flood, "send_s": send_s, "replies": replies,
            "peer_signals": peer_signals}  # fmt: skip


async def _connects(url: str, args: argparse.Namespace, stop: float) -> dict:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> tuple[float | None, aiohttp.ClientWebSocketResponse | None]:
            started = time.perf_counter()
            try:
                async with asyncio.timeout(args.drain):
                    ws = await session.ws_connect(url)
            except (TimeoutError, aiohttp.ClientError):
                return None, None
            return (time.perf_counter() - started) * 1000, ws

        started = time.perf_counter()
        opened = await asyncio.gather(*(one() for _ in range(args.connects)))
        await asyncio.sleep(max(0.0, started + (stop - started) / 2 - time.perf_counter()))
        await asyncio.gather(*(ws.close() for _, ws in opened if ws is not None))
    times = [t for t, _ in opened if t is not None]
    return {"asked": args.connects, "opened": len(times), **summary(times)}


async def measure(url: str, args: argparse.Namespace, stack: Stack) -> dict:
    async with aiohttp.ClientSession() as session:
        pingers = [await connect(session, url) for _ in range(args.pingers)]
        for i, p in enumerate(pingers):
            await p.join(f"bench-other-{uuid.uuid4().hex[:8]}-{i}")
        phases = {}
        for name in PHASES:
            print(f"phase {name} ({args.seconds:g} s)", flush=True)
            phases[name] = await phase(name, url, args, session, pingers, stack)
            await asyncio.sleep(args.settle)
        for p in pingers:
            await p.close()
    return phases


def run(args: argparse.Namespace) -> dict:
    env = {"RATE_LIMIT_MESSAGES": str(args.rate_limit)} if args.rate_limit else {}
    with local_stack(args.checkout, env) as stack:
        phases = asyncio.run(measure(stack.ws_url, args, stack))
    label = "this checkout" if args.checkout.resolve() == ROOT else str(args.checkout)
    if args.rate_limit:
        label += f", RATE_LIMIT_MESSAGES={args.rate_limit}"
    return {
        "stack": label,
        "pingers": args.pingers,
        "rate": args.rate,
        "seconds": args.seconds,
        "flood": args.flood,
        "connects": args.connects,
        "phases": phases,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10, help="pinging per phase")
    parser.add_argument("--flood", type=int, default=5000, help="frames the flooder sends")
    parser.add_argument("--connects", type=int, default=200, help="connections opened at once")
    parser.add_argument("--pingers", type=int, default=5)
    parser.add_argument("--rate", type=float, default=4, help="pings per second per pinger")
    parser.add_argument("--drain", type=float, default=120, help="wait for late pongs (s)")
    parser.add_argument("--settle", type=float, default=2, help="pause between phases (s)")
    parser.add_argument("--checkout", type=Path, default=ROOT, help="whose python -m local")
    parser.add_argument("--rate-limit", type=int, help="RATE_LIMIT_MESSAGES for the stack")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder of the result")
    args = parser.parse_args()
    result = {"command": " ".join(["python -m", f"bench.{NAME}", *sys.argv[1:]]), **run(args)}
    result["machine"] = machine()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{NAME}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(render(result))
    print(f"raw result: {path}")
    print(f"{NAME.upper()}: {headline(result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
