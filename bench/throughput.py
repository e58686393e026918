"""Local gateway throughput: signals relayed per second among 100 raw clients in 50 rooms.

Starts the local stack exactly as `make run` does (`python -m local`, which starts DynamoDB
Local), on a free loopback port. 100 raw WebSocket clients join 50 rooms (two each); then
every client keeps one signal in flight to its peer (closed loop: a client sends its next
signal when the previous one it sent has arrived), for a fixed time. Latency is send -> the
addressee receives it (one process, one clock). Memory: peak resident set (VmHWM) of the
`python -m local` process and of DynamoDB Local's JVM, plus the highest sum sampled.

    .venv/bin/python -m bench.throughput                 # 20 s measured after 3 s warm-up
    .venv/bin/python -m bench.throughput --seconds 10

Bounded: fixed duration, every wait has a timeout, the stack is stopped at the end. The
load generator runs on the same 2 cores as the stack, so this is the machine's figure, not
the gateway's alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import aiohttp

from bench.common import (
    FAKE_AWS_ENV,
    PYTHON,
    ROOT,
    descendants,
    free_port,
    median,
    percentile,
    proc_memory_kb,
    proc_name,
    save_result,
    stop_process,
    wait_http,
    wait_port,
)
from bench.wsclient import CANDIDATE, ProtocolClient, pair


def start_stack(log_path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {**os.environ, **FAKE_AWS_ENV, "PORT": str(port)}
    log = open(log_path, "w")  # noqa: SIM115 - the child's log, open for its lifetime
    proc = subprocess.Popen(
        [PYTHON, "-m", "local"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    wait_port(port, 60, proc)
    return proc, port


def signaling_url(port: int, proc: subprocess.Popen | None = None) -> str:
    config = json.loads(wait_http(f"http://127.0.0.1:{port}/config.json", 90, proc))
    return config["signalingUrl"].replace("localhost", "127.0.0.1")


class MemorySampler(threading.Thread):
    """Samples RSS of the stack's processes every 0.25 s until stopped."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.stop_event = threading.Event()
        self.max_total_kb = 0
        self.peak: dict[int, tuple[str, int]] = {}

    def run(self) -> None:
        while not self.stop_event.wait(0.25):
            self.sample()

    def sample(self) -> None:
        total = 0
        for pid in [self.pid, *descendants(self.pid)]:
            mem = proc_memory_kb(pid)
            if not mem:
                continue
            total += mem.get("VmRSS", 0)
            self.peak[pid] = (proc_name(pid), mem.get("VmHWM", 0))
        self.max_total_kb = max(self.max_total_kb, total)


async def load(url: str, clients: int, seconds: float, warmup: float,
               rate: float | None = None) -> dict:
    """Closed loop (rate None: each client keeps one signal in flight) or paced (`rate`
    signals per second in total, spread over the clients with random phase, no waiting)."""
    rooms = clients // 2
    latencies: list[float] = []
    delivered = 0
    errors = 0
    measuring = False
    stop = False
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        pairs: list[tuple[ProtocolClient, ProtocolClient]] = []
        t_join = time.perf_counter()
        for i in range(rooms):  # joins in sequence: the figure is relaying, not joining
            pairs.append(await pair(session, url, f"tput-{uuid.uuid4().hex[:8]}-{i}"))
        join_s = time.perf_counter() - t_join
        events: dict[str, asyncio.Event] = {}

        def make_receiver(client: ProtocolClient):
            def on_signal(frame):
                nonlocal delivered
                sent = frame["data"].get("t")
                if measuring and sent is not None:
                    latencies.append((time.perf_counter() - sent) * 1000)
                    delivered += 1
                # Tell the sender it may send its next one.
                ev = events.get(frame["from"])
                if ev is not None:
                    ev.set()

            client.on_signal = on_signal

        everyone = [c for p in pairs for c in p]
        for c in everyone:
            make_receiver(c)
            events[c.me] = asyncio.Event()

        async def paced(me: ProtocolClient, peer_id: str) -> None:
            interval = len(everyone) / rate
            await asyncio.sleep(random.uniform(0, interval))
            seq = 0
            next_at = time.perf_counter()
            while not stop:
                await me.signal(peer_id, {**CANDIDATE, "seq": seq, "t": time.perf_counter()})
                seq += 1
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))

        async def sender(me: ProtocolClient, peer_id: str) -> None:
            nonlocal errors
            seq = 0
            ev = events[me.me]
            while not stop:
                ev.clear()
                await me.signal(peer_id, {**CANDIDATE, "seq": seq, "t": time.perf_counter()})
                seq += 1
                try:
                    async with asyncio.timeout(5):
                        await ev.wait()
                except TimeoutError:
                    errors += 1  # lost or very late: count it and go on

        tasks = []
        run_one = sender if rate is None else paced
        for a, b in pairs:
            tasks.append(asyncio.create_task(run_one(a, b.me)))
            tasks.append(asyncio.create_task(run_one(b, a.me)))
        await asyncio.sleep(warmup)
        measuring = True
        t0 = time.perf_counter()
        await asyncio.sleep(seconds)
        measuring = False
        elapsed = time.perf_counter() - t0
        stop = True
        if rate is not None:
            await asyncio.sleep(2)  # let the last ones arrive (counted only if measured)
        await asyncio.wait(tasks, timeout=10)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*(c.close() for c in everyone), return_exceptions=True)
    return {
        "mode": "closed loop" if rate is None else f"paced at {rate:.0f}/s",
        "clients": clients,
        "rooms": rooms,
        "join_seconds": join_s,
        "seconds": elapsed,
        "signals": delivered,
        "signals_per_second": delivered / elapsed,
        "p50_ms": median(latencies),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies) if latencies else None,
        "timeouts": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--paced-fraction", type=float, default=0.5,
                        help="then a paced run at this fraction of the closed-loop rate")
    parser.add_argument("--url", help="measure this WebSocket server instead (e.g. the floor)")
    args = parser.parse_args()
    if args.url:
        out = asyncio.run(load(args.url, args.clients, args.seconds, args.warmup))
        print(f"THROUGHPUT ({args.url}): {out['signals_per_second']:.0f} signals/s; latency p50 "
              f"{out['p50_ms']:.1f} ms, p99 {out['p99_ms']:.1f} ms; {out['timeouts']} timeouts")
        return
    # The stack's own log, kept out of the tree (bench/results holds results only).
    log_path = Path(tempfile.gettempdir()) / "p2pchat-bench-throughput-local-stack.log"
    log_path.parent.mkdir(exist_ok=True)
    proc, port = start_stack(log_path)
    sampler = MemorySampler(proc.pid)
    try:
        sampler.start()
        url = signaling_url(port, proc)
        out = asyncio.run(load(url, args.clients, args.seconds, args.warmup))
        if args.paced_fraction > 0:
            rate = out["signals_per_second"] * args.paced_fraction
            out["paced"] = asyncio.run(load(url, args.clients, args.seconds, args.warmup, rate))
        sampler.sample()
    finally:
        sampler.stop_event.set()
        stop_process(proc)
    out["peak_rss_mib"] = {f"{name} ({pid})": round(kb / 1024) for pid, (name, kb) in
                           sampler.peak.items()}  # fmt: skip
    out["max_sampled_total_rss_mib"] = round(sampler.max_total_kb / 1024)
    out["command"] = "python -m bench.throughput " + " ".join(sys.argv[1:])
    save_result("throughput", out)
    print(f"{out['rooms']} rooms joined in {out['join_seconds']:.1f} s; "
          f"{out['timeouts']} signals timed out (5 s)")  # fmt: skip
    for k, v in out["peak_rss_mib"].items():
        print(f"peak RSS {k}: {v} MiB")
    paced = out.get("paced")
    if paced:
        print(f"paced at {paced['mode'].split()[-1]}: {paced['signals_per_second']:.0f} signals/s "
              f"delivered, latency p50 {paced['p50_ms']:.1f} ms, p99 {paced['p99_ms']:.1f} ms")
    tail = ""
    if paced:
        tail = (f"; at half that rate p50 {paced['p50_ms']:.1f} ms, p99 "
                f"{paced['p99_ms']:.1f} ms")  # fmt: skip
    print(f"THROUGHPUT: {out['signals_per_second']:.0f} signals/s relayed among {out['clients']} "
          f"clients in {out['rooms']} rooms (saturated, one in flight each: p50 "
          f"{out['p50_ms']:.1f} ms, p99 {out['p99_ms']:.1f} ms){tail}; peak RSS python+JVM "
          f"{sum(out['peak_rss_mib'].values())} MiB")  # fmt: skip


if __name__ == "__main__":
    main()
