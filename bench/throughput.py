"""Local gateway throughput: signals relayed per second among 100 raw clients in 50 rooms,
saturated and at half that rate, and the peak memory of `python -m local`. Method and
findings: docs/benchmarks.md, section 5.

    .venv/bin/python -m bench.throughput                 # 20 s measured after 3 s warm-up
    .venv/bin/python -m bench.throughput --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from pathlib import Path

import aiohttp

from bench.common import main, median, percentile, serve, when
from bench.wsclient import CANDIDATE, ProtocolClient, pair
from local.settings import WS_PATH


def peak_memory_mib(pid: int) -> dict[str, int]:
    """Peak resident memory (VmHWM) of a process and its live descendants, from /proc."""
    out, todo = {}, [pid]
    while todo:
        p = todo.pop()
        status = dict(
            line.split(":", 1) for line in Path(f"/proc/{p}/status").read_text().splitlines()
        )
        out[f"{status['Name'].strip()} ({p})"] = round(int(status["VmHWM"].split()[0]) / 1024)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            todo += [int(child) for child in task.read_text().split()]
    return out


async def load(
    url: str, clients: int, seconds: float, warmup: float, rate: float | None = None
) -> dict:
    """Closed loop (rate None: each client keeps one signal in flight) or paced (`rate`
    signals per second in total, spread over the clients with random phase)."""
    latencies: list[float] = []
    timeouts, measuring, stop = 0, False, False
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        t_join = time.perf_counter()
        pairs = [
            await pair(session, url, f"tput-{uuid.uuid4().hex[:8]}-{i}")
            for i in range(clients // 2)
        ]  # in sequence: the figure is relaying, not joining
        join_s = time.perf_counter() - t_join
        everyone = [c for p in pairs for c in p]
        arrived = {c.me: asyncio.Event() for c in everyone}

        def on_signal(frame: dict) -> None:
            if measuring:
                latencies.append((time.perf_counter() - frame["data"]["t"]) * 1000)
            arrived[frame["from"]].set()  # its sender may send the next one

        async def closed_loop(me: ProtocolClient, peer: str) -> None:
            nonlocal timeouts
            while not stop:
                arrived[me.me].clear()
                await me.signal(peer, {**CANDIDATE, "t": time.perf_counter()})
                try:
                    async with asyncio.timeout(5):
                        await arrived[me.me].wait()
                except TimeoutError:
                    timeouts += 1  # lost or very late: count it and go on

        async def paced(me: ProtocolClient, peer: str) -> None:
            interval = len(everyone) / rate
            await asyncio.sleep(random.uniform(0, interval))
            next_at = time.perf_counter()
            while not stop:
                await me.signal(peer, {**CANDIDATE, "t": time.perf_counter()})
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))

        sender = closed_loop if rate is None else paced
        tasks = []
        for a, b in pairs:
            a.on_signal = b.on_signal = on_signal
            tasks += [asyncio.create_task(sender(a, b.me)), asyncio.create_task(sender(b, a.me))]
        await asyncio.sleep(warmup)
        measuring, t0 = True, time.perf_counter()
        await asyncio.sleep(seconds)
        measuring, elapsed = False, time.perf_counter() - t0
        stop = True
        await asyncio.wait(tasks, timeout=10)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*(c.close() for c in everyone), return_exceptions=True)
    return {
        "mode": "closed loop" if rate is None else f"paced at {rate:.0f}/s",
        "clients": clients,
        "rooms": clients // 2,
        "join_seconds": join_s,
        "seconds": elapsed,
        "signals": len(latencies),
        "signals_per_second": len(latencies) / elapsed,
        "p50_ms": median(latencies),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies, default=None),
        "timeouts": timeouts,
    }


def run(args: argparse.Namespace) -> dict:
    with serve("local") as (http_url, proc):
        ws_url = http_url.replace("http:", "ws:") + WS_PATH
        out = asyncio.run(load(ws_url, args.clients, args.seconds, args.warmup))
        rate = out["signals_per_second"] / 2
        out["paced"] = asyncio.run(load(ws_url, args.clients, args.seconds, args.warmup, rate))
        out["peak_rss_mib"] = peak_memory_mib(proc.pid)
    return out


def headline(d: dict) -> str:
    memory = " + ".join(f"{k.split()[0]} {v} MiB" for k, v in d["peak_rss_mib"].items())
    return (
        f"{d['signals_per_second']:.0f} signals/s relayed among {d['clients']} clients in "
        f"{d['rooms']} rooms, saturated (p50 {d['p50_ms']:.0f} ms, p99 {d['p99_ms']:.0f} ms: "
        f"queueing); at half that rate p50 {d['paced']['p50_ms']:.0f} ms, p99 "
        f"{d['paced']['p99_ms']:.0f} ms; peak RSS {memory}"
    )


def render(d: dict) -> str:
    out = [
        f"{when(d)} {d['clients']} clients in {d['rooms']} rooms (joined in "
        f"{d['join_seconds']:.1f} s), {d['seconds']:.0f} s measured after a warm-up.",
        "",
        "| load | signals relayed per second | latency p50 | p99 | max | lost (5 s) |",
        "|---|---|---|---|---|---|",
    ]
    for label, r in (
        ("saturated: every client keeps one signal in flight", d),
        ("paced at half that rate", d["paced"]),
    ):
        out.append(
            f"| {label} | {r['signals_per_second']:.0f} | {r['p50_ms']:.1f} ms | "
            f"{r['p99_ms']:.1f} ms | {r['max_ms']:.0f} ms | {r['timeouts']} |"
        )
    memory = ", ".join(f"{k}: {v} MiB" for k, v in d["peak_rss_mib"].items())
    out += ["", f"Peak resident memory (VmHWM) of `python -m local` and its children: {memory}."]
    return "\n".join(out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=3)
    main("throughput", parser, run, headline)
