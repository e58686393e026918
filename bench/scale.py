"""Flat cost with scale: DynamoDB requests and handler time per join and per relayed signal,
with 10 rooms versus 100,000 rooms in the table.

Two tables in one DynamoDB Local. The filler rooms are copies of a real room: two raw clients
join a room through the instrumented stack, its items (room, two peers, two connections) are
read back, and copied with fresh room, peer and connection ids by BatchWriteItem (25 items a
request, 4 threads) until the table holds the wanted number of occupied rooms (or the fill
time budget runs out: then the size reached is what is reported). Then, alternating between
the tables (small, big, small, big), M fresh pairs join and exchange signals one at a time;
every invocation is timed and its DynamoDB requests counted (bench/instrument.py).

    .venv/bin/python -m bench.scale                        # 10 vs 100,000 rooms
    .venv/bin/python -m bench.scale --big 10000 --pairs 10  # quicker
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import aiohttp

from bench.common import median, percentile, save_result
from bench.instrument import totals
from bench.wsclient import CANDIDATE, pair

BATCH = 25


# ------------------------------------------------------------------------------ filling


def rewrite(value, mapping: dict[str, str]):
    """A DynamoDB item (or attribute value) with every identifier replaced, map keys too."""
    if isinstance(value, str):
        for old, new in mapping.items():
            value = value.replace(old, new)
        return value
    if isinstance(value, dict):
        return {rewrite(k, mapping): rewrite(v, mapping) for k, v in value.items()}
    if isinstance(value, list):
        return [rewrite(v, mapping) for v in value]
    return value


async def template_room(ws_url: str, client, table: str) -> tuple[list[dict], dict[str, str]]:
    """Items of one real occupied room, and its identifiers (to be replaced in copies)."""
    room = "tpl" + uuid.uuid4().hex[:10]
    async with aiohttp.ClientSession() as session:
        a, b = await pair(session, ws_url, room)
        items = []
        kwargs = {"TableName": table}
        while True:
            page = client.scan(**kwargs)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        await a.close()
        await b.close()
    mine = [it for it in items if room in str(it) or a.me in str(it) or b.me in str(it)]
    conns = set()
    for it in mine:
        pk = it["pk"]["S"]
        if pk.startswith("CONN#"):
            conns.add(pk.removeprefix("CONN#"))
    ids = {"room": room, "peer_a": a.me, "peer_b": b.me}
    ids.update({f"conn_{i}": c for i, c in enumerate(sorted(conns))})
    return mine, ids


def fill(client, table: str, template: list[dict], ids: dict[str, str], rooms: int,
         budget_s: float) -> dict:  # fmt: skip
    """Write `rooms` copies of the template room; stops at the time budget."""
    start = time.perf_counter()
    written = 0
    lock = threading.Lock()
    stop = threading.Event()

    def copies(first: int, count: int) -> list[dict]:
        out = []
        for n in range(first, first + count):
            tag = f"{n:08d}"
            mapping = {}
            for old in ids.values():
                # Same length and alphabet as the original id: a copy is the same size.
                mapping[old] = old[: len(old) - 9] + "x" + tag if len(old) > 9 else "f" + tag
            out += [rewrite(it, mapping) for it in template]
        return out

    per_request_rooms = max(1, BATCH // len(template))

    def worker(first_room: int, last_room: int) -> None:
        nonlocal written
        n = first_room
        while n < last_room and not stop.is_set():
            count = min(per_request_rooms, last_room - n)
            items = copies(n, count)
            request = {table: [{"PutRequest": {"Item": it}} for it in items]}
            while request:
                resp = client.batch_write_item(RequestItems=request)
                request = resp.get("UnprocessedItems") or {}
            n += count
            with lock:
                written += count
            if time.perf_counter() - start > budget_s:
                stop.set()

    threads = 4
    step = -(-rooms // threads)
    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(worker, i * step, min(rooms, (i + 1) * step))
                   for i in range(threads)]  # fmt: skip
        last = time.perf_counter()
        while any(not f.done() for f in futures):
            time.sleep(0.5)
            if time.perf_counter() - last > 15:
                last = time.perf_counter()
                print(f"    filled {written} rooms ({written * len(template)} items), "
                      f"{time.perf_counter() - start:.0f} s", flush=True)
        for f in futures:
            f.result()
    elapsed = time.perf_counter() - start
    return {"rooms": written, "items": written * len(template), "seconds": elapsed,
            "budget_hit": stop.is_set()}  # fmt: skip


# ------------------------------------------------------------------------------ measuring


async def exercise(ws_url: str, pairs: int, signals: int) -> None:
    """`pairs` fresh rooms: join two clients, relay `signals` signals each way, one at a time."""
    async with aiohttp.ClientSession() as session:
        for _ in range(pairs):
            a, b = await pair(session, ws_url, "s" + uuid.uuid4().hex[:12])
            for sender, receiver in ((a, b), (b, a)):
                got = asyncio.Queue()
                receiver.on_signal = got.put_nowait
                for i in range(signals):
                    await sender.signal(receiver.me, {**CANDIDATE, "seq": i})
                    await asyncio.wait_for(got.get(), 10)
            await a.close()
            await b.close()


def measure(stack, table: str, pairs: int, signals: int) -> dict:
    os.environ["TABLE_NAME"] = table  # the handler reads its settings per request
    stack.recorder.reset()
    asyncio.run(exercise(stack.ws_url, pairs, signals))
    time.sleep(1)
    invs, _ = stack.recorder.snapshot()
    used = {t for i in invs for c in i.calls for t in c.tables}
    if used != {table}:
        raise RuntimeError(f"the handler used tables {used}, not {table}: does it still read "
                           "TABLE_NAME per request?")
    out = {}
    for route in ("join", "signal"):
        xs = [i for i in invs if i.route == route]
        t = totals(xs)
        db_ms = [c.ms for i in xs for c in i.calls if c.service == "dynamodb"]
        out[route] = {
            "n": len(xs),
            "requests_per": t["dynamodb_requests"] / max(1, len(xs)),
            "ops": t["dynamodb_ops"],
            "rru_per": t["rru"] / max(1, len(xs)),
            "wru_per": t["wru"] / max(1, len(xs)),
            "handler_ms_median": median([i.ms for i in xs]),
            "handler_ms_p95": percentile([i.ms for i in xs], 95),
            "dynamodb_ms_median": median(db_ms),
        }
    return out


def table_count(client, table: str) -> int:
    return client.describe_table(TableName=table)["Table"].get("ItemCount", -1)


def run(small: int, big: int, pairs: int, signals: int, rounds: int, budget: float) -> dict:
    from bench.common import dynamodb_client
    from bench.stack import instrumented_stack

    with instrumented_stack(table="p2pchat-scale-tpl") as stack:
        from local import dynamodb

        client = dynamodb_client(stack.endpoint)
        template, ids = asyncio.run(template_room(stack.ws_url, client, stack.table))
        print(f"  template room: {len(template)} items, "
              f"{sum(len(str(i)) for i in template)} characters", flush=True)  # fmt: skip
        tables = {}
        fills = {}
        for label, rooms in (("small", small), ("big", big)):
            name = f"p2pchat-scale-{label}"
            dynamodb.create_table(stack.endpoint, name)
            print(f"  filling {name} with {rooms} rooms", flush=True)
            fills[label] = fill(client, name, template, ids, rooms, budget)
            tables[label] = name
            print(f"    {fills[label]['rooms']} rooms, {fills[label]['items']} items in "
                  f"{fills[label]['seconds']:.0f} s", flush=True)  # fmt: skip
        measure(stack, tables["small"], 2, 3)  # warm-up (not kept)
        results: dict[str, list] = {"small": [], "big": []}
        for r in range(rounds):
            for label in ("small", "big") if r % 2 == 0 else ("big", "small"):
                m = measure(stack, tables[label], pairs, signals)
                results[label].append(m)
                print(f"  round {r + 1} {label:<5}: join {m['join']['requests_per']:.2f} req "
                      f"{m['join']['handler_ms_median']:.1f} ms; signal "
                      f"{m['signal']['requests_per']:.2f} req "
                      f"{m['signal']['handler_ms_median']:.1f} ms", flush=True)  # fmt: skip

    def merged(label: str, route: str, key: str, fn=median) -> float:
        return fn([m[route][key] for m in results[label]])

    summary = {}
    for label in ("small", "big"):
        summary[label] = {
            "rooms": fills[label]["rooms"],
            "items": fills[label]["items"],
            **{f"{route}_{key}": merged(label, route, key)
               for route in ("join", "signal")
               for key in ("requests_per", "rru_per", "wru_per", "handler_ms_median",
                           "dynamodb_ms_median")},
        }  # fmt: skip
    return {
        "command": "python -m bench.scale " + " ".join(sys.argv[1:]),
        "pairs_per_round": pairs,
        "signals_each_way": signals,
        "rounds": rounds,
        "fill": fills,
        "rounds_detail": results,
        "summary": summary,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=10)
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--pairs", type=int, default=20, help="fresh rooms per round")
    parser.add_argument("--signals", type=int, default=10, help="signals each way per room")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--fill-budget", type=float, default=900, help="seconds per table")
    args = parser.parse_args()
    out = run(args.small, args.big, args.pairs, args.signals, args.rounds, args.fill_budget)
    save_result("scale", out)
    s, b = out["summary"]["small"], out["summary"]["big"]
    print(f"\n{'':<8}{'rooms':>9}{'join req':>10}{'join ms':>9}{'signal req':>12}{'signal ms':>11}"
          f"{'signal DB ms':>14}")  # fmt: skip
    for label, v in (("small", s), ("big", b)):
        print(f"{label:<8}{v['rooms']:>9}{v['join_requests_per']:>10.2f}"
              f"{v['join_handler_ms_median']:>9.1f}{v['signal_requests_per']:>12.2f}"
              f"{v['signal_handler_ms_median']:>11.1f}{v['signal_dynamodb_ms_median']:>14.1f}")
    print(f"SCALE: {s['rooms']} vs {b['rooms']} rooms: DynamoDB requests per signal "
          f"{s['signal_requests_per']:.2f} vs {b['signal_requests_per']:.2f}, per join "
          f"{s['join_requests_per']:.2f} vs {b['join_requests_per']:.2f}; handler median per "
          f"signal {s['signal_handler_ms_median']:.1f} vs {b['signal_handler_ms_median']:.1f} ms, "
          f"per join {s['join_handler_ms_median']:.1f} vs {b['join_handler_ms_median']:.1f} ms")


if __name__ == "__main__":
    main()
