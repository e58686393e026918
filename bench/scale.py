"""Flat cost with scale: DynamoDB requests and handler time per join and per relayed signal,
with 10 rooms versus 100,000 rooms in the table (copies of a real room). Method and findings:
docs/benchmarks.md, section 3.

    .venv/bin/python -m bench.scale                         # 10 vs 100,000 rooms
    .venv/bin/python -m bench.scale --big 10000 --pairs 5   # quicker
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import aiohttp

from bench.common import main, median, when
from bench.instrument import by_route, totals
from bench.stack import instrumented_stack
from bench.wsclient import CANDIDATE, pair
from local import dynamodb

BATCH = 25
THREADS = 4


def copy(template: str, ids: list[str], n: int) -> list[dict]:
    """Copy n of the template room's items (JSON), every id replaced by one as long."""
    for old in ids:
        template = template.replace(old, f"{old[:-9]}x{n:08d}")
    return json.loads(template)


async def template_room(ws_url: str, client, table: str) -> tuple[list[dict], list[str]]:
    """The items of one real occupied room (the only one in `table`), and its identifiers."""
    room = "tpl" + uuid.uuid4().hex[:10]
    async with aiohttp.ClientSession() as session:
        a, b = await pair(session, ws_url, room)
        items = client.scan(TableName=table)["Items"]
        await a.close()
        await b.close()
    conns = {
        it["pk"]["S"].removeprefix("CONN#") for it in items if it["pk"]["S"].startswith("CONN#")
    }
    return items, [room, a.me, b.me, *sorted(conns)]


def fill(
    client, table: str, template: list[dict], ids: list[str], rooms: int, budget_s: float
) -> dict:
    """Write `rooms` copies of the template room (until the time budget runs out)."""
    start, text, per_request = time.perf_counter(), json.dumps(template), BATCH // len(template)

    def write(first: int) -> int:
        if time.perf_counter() - start > budget_s:
            return 0
        last = min(first + per_request, rooms)
        request = {
            table: [
                {"PutRequest": {"Item": item}}
                for n in range(first, last)
                for item in copy(text, ids, n)
            ]
        }
        while request:
            request = client.batch_write_item(RequestItems=request).get("UnprocessedItems")
        return last - first

    with ThreadPoolExecutor(THREADS) as pool:
        written = sum(pool.map(write, range(0, rooms, per_request)))
    return {
        "rooms": written,
        "items": written * len(template),
        "seconds": time.perf_counter() - start,
    }


async def exercise(ws_url: str, pairs: int, signals: int) -> None:
    """`pairs` fresh rooms: join two clients, relay `signals` signals each way, one at a time."""
    async with aiohttp.ClientSession() as session:
        for _ in range(pairs):
            a, b = await pair(session, ws_url, "s" + uuid.uuid4().hex[:12])
            for sender, receiver in ((a, b), (b, a)):
                got: asyncio.Queue = asyncio.Queue()
                receiver.on_signal = got.put_nowait
                for i in range(signals):
                    await sender.signal(receiver.me, {**CANDIDATE, "seq": i})
                    await asyncio.wait_for(got.get(), 10)
            await a.close()
            await b.close()


def per_route(invocations: list) -> dict[str, float]:
    """Requests, units and medians per join and per signal."""
    out = {}
    for route in ("join", "signal"):
        xs = by_route(invocations)[route]
        t, db_ms = totals(xs), [c.ms for i in xs for c in i.calls if c.service == "dynamodb"]
        out |= {
            f"{route}_requests_per": t["dynamodb_requests"] / len(xs),
            f"{route}_rru_per": t["rru"] / len(xs),
            f"{route}_wru_per": t["wru"] / len(xs),
            f"{route}_handler_ms_median": median([i.ms for i in xs]),
            f"{route}_dynamodb_ms_median": median(db_ms),
        }
    return out


def run(args: argparse.Namespace) -> dict:
    sizes = {"small": args.small, "big": args.big}
    with dynamodb.start_dynamodb_local() as db, contextlib.ExitStack() as stacks:
        stack = {
            label: stacks.enter_context(
                instrumented_stack(endpoint=db.endpoint, table=f"p2pchat-scale-{label}")
            )
            for label in sizes
        }
        client = dynamodb.client(db.endpoint)
        small = stack["small"]
        template, ids = asyncio.run(template_room(small.ws_url, client, small.table))
        fills = {
            label: fill(client, stack[label].table, template, ids, rooms, args.budget)
            for label, rooms in sizes.items()
        }
        print(f"  filled: {fills}", flush=True)
        asyncio.run(exercise(small.ws_url, 2, 3))  # warm-up, not kept
        recorded: dict[str, list] = {label: [] for label in sizes}
        for r in range(args.rounds):
            for label in ("small", "big") if r % 2 == 0 else ("big", "small"):
                stack[label].recorder.reset()
                asyncio.run(exercise(stack[label].ws_url, args.pairs, args.signals))
                time.sleep(1)  # the last $disconnects
                recorded[label] += stack[label].recorder.snapshot()
                print(f"  round {r + 1} {label} done", flush=True)
    summary = {
        label: {
            "rooms": fills[label]["rooms"],
            "items": fills[label]["items"],
            **per_route(recorded[label]),
        }
        for label in sizes
    }
    return {
        "pairs_per_round": args.pairs,
        "signals_each_way": args.signals,
        "rounds": args.rounds,
        "fill": fills,
        "summary": summary,
    }


def headline(d: dict) -> str:
    a, b = d["summary"]["small"], d["summary"]["big"]
    return (
        f"{a['rooms']:,} vs {b['rooms']:,} rooms: DynamoDB requests per join "
        f"{a['join_requests_per']:g} vs {b['join_requests_per']:g}, per signal "
        f"{a['signal_requests_per']:g} vs {b['signal_requests_per']:g}; handler median per "
        f"signal {a['signal_handler_ms_median']:.1f} vs {b['signal_handler_ms_median']:.1f} "
        f"ms, per join {a['join_handler_ms_median']:.1f} vs "
        f"{b['join_handler_ms_median']:.1f} ms"
    )


def render(d: dict) -> str:
    fb = d["fill"]["big"]
    out = [
        f"{when(d)} Fill: {fb['rooms']:,} rooms ({fb['items']:,} items) in "
        f"{fb['seconds']:.0f} s; {d['rounds']} alternating rounds of {d['pairs_per_round']} "
        f"fresh pairs, {d['signals_each_way']} signals each way.",
        "",
        "| rooms in the table | DynamoDB requests per join | per signal | RRU / WRU per join "
        "| RRU per signal | handler median per join | per signal | DynamoDB time per "
        "signal |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for v in d["summary"].values():
        out.append(
            f"| {v['rooms']:,} | {v['join_requests_per']:.2f} | "
            f"{v['signal_requests_per']:.2f} | {v['join_rru_per']:g} / "
            f"{v['join_wru_per']:g} | {v['signal_rru_per']:g} | "
            f"{v['join_handler_ms_median']:.1f} ms | {v['signal_handler_ms_median']:.1f} ms"
            f" | {v['signal_dynamodb_ms_median']:.1f} ms |"
        )
    return "\n".join(out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=10)
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--pairs", type=int, default=20, help="fresh rooms per round")
    parser.add_argument("--signals", type=int, default=10, help="signals each way per room")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--budget", type=float, default=900, help="fill seconds per table")
    main("scale", parser, run, headline)
