"""Cost of a call: what one 1:1 call's setup and teardown, and one hour of call, cause in
counts and dollars, from real browser calls against the instrumented local stack
(bench/stack.py, bench/instrument.py). Method and findings: docs/benchmarks.md, section 2.

    .venv/bin/python -m bench.cost             # 5 calls, 10 s quiet window each
    .venv/bin/python -m bench.cost --calls 2 --quiet 3
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
import uuid

import aiohttp

from bench.common import ROOT, call, chromium, main, median, when
from bench.instrument import by_route, totals
from bench.stack import instrumented_stack
from bench.wsclient import ProtocolClient

# us-east-1 on-demand prices, November 2026, marginal (free tiers ignored); sources in
# docs/benchmarks.md, section 2.
APIGW_PER_MESSAGE = 1.00 / 1e6  # sent and received, in 32 KB steps (first billion a month)
APIGW_PER_CONNECTION_MINUTE = 0.25 / 1e6
LAMBDA_PER_REQUEST = 0.20 / 1e6
LAMBDA_ARM_PER_GB_SECOND = 0.0000133334  # duration rounded up to 1 ms
DYNAMODB_PER_RRU = 0.125 / 1e6
DYNAMODB_PER_WRU = 0.625 / 1e6
ROWS = (  # (label, counts shown, dollars)
    ("API Gateway messages, in + out", ("messages_in", "messages_out"), "apigw_messages"),
    ("API Gateway connection minutes", ("connection_minutes",), "apigw_connection_minutes"),
    ("Lambda invocations", ("invocations",), "lambda_requests"),
    ("Lambda billed ms (each invocation rounded up)", ("billed_ms",), "lambda_duration"),
    ("DynamoDB read request units (AWS rules)", ("rru",), "dynamodb_reads"),
    ("DynamoDB write request units (AWS rules)", ("wru",), "dynamodb_writes"),
)


def lambda_memory_mb() -> int:
    """memory_size of the function in the CDK app (infra/), 256 if not found."""
    for path in (ROOT / "infra").rglob("*.py"):
        if m := re.search(r"memory_size\s*=\s*(\d+)", path.read_text()):
            return int(m.group(1))
    return 256


def browser_calls(stack, calls: int, quiet: float) -> list[dict]:
    """Each connected call's invocations: setup, a quiet window after it, teardown."""
    rec, out = stack.recorder, []
    with chromium() as browser:
        for i in range(calls):
            rec.reset()
            result = {}
            try:
                url = f"{stack.http_url}/room.html?room=c{uuid.uuid4().hex[:12]}"
                with call(browser, stack.http_url, url):
                    time.sleep(3)  # trailing candidates
                    result["setup"] = rec.snapshot()
                    rec.reset()
                    time.sleep(quiet)
                    result["quiet"] = rec.snapshot()
                    rec.reset()
            except Exception as exc:  # a failed call is counted, never retried
                print(f"  call {i + 1} failed: {exc!s:.200}", flush=True)
                continue
            time.sleep(2)  # bye, $disconnect
            result["teardown"] = rec.snapshot()
            print(f"  call {i + 1}: {len(result['setup'])} invocations in setup", flush=True)
            out.append(result)
    return out


async def pings(ws_url: str, n: int) -> dict:
    """`n` pings from a client alone in a room; the `joined` it got."""
    async with aiohttp.ClientSession() as session:
        client = ProtocolClient(session, ws_url)
        await client.connect()
        joined = await client.join("ping-" + uuid.uuid4().hex[:8])
        for _ in range(n):
            await client.send({"action": "ping"})
            await client.expect("pong")
        await client.close()
    return joined


def dollars(t: dict, memory_mb: int) -> dict:
    gb_seconds = t["billed_ms"] / 1000 * memory_mb / 1024
    parts = {
        "apigw_messages": (t["messages_in"] + t["messages_out"]) * APIGW_PER_MESSAGE,
        "apigw_connection_minutes": t.get("connection_minutes", 0) * APIGW_PER_CONNECTION_MINUTE,
        "lambda_requests": t["invocations"] * LAMBDA_PER_REQUEST,
        "lambda_duration": gb_seconds * LAMBDA_ARM_PER_GB_SECOND,
        "dynamodb_reads": t["rru"] * DYNAMODB_PER_RRU,
        "dynamodb_writes": t["wru"] * DYNAMODB_PER_WRU,
    }
    parts["total"] = sum(parts.values())
    return parts


def median_totals(calls: list[list]) -> dict:
    """Per-field median over calls of each call's totals()."""
    ts = [totals(invocations) for invocations in calls]
    out: dict = {}
    for key, value in ts[0].items():
        if isinstance(value, dict):  # counts by route or operation
            names = sorted(set().union(*(t[key] for t in ts)))
            out[key] = {n: median([t[key].get(n, 0) for t in ts]) for n in names}
        else:
            out[key] = median([t[key] for t in ts])
    return out


def run(args: argparse.Namespace) -> dict:
    memory_mb = lambda_memory_mb()
    with instrumented_stack(table="p2pchat-cost") as stack:
        asyncio.run(pings(stack.ws_url, 3))  # warm the handler and DynamoDB Local's JIT
        results = browser_calls(stack, args.calls, args.quiet)
        stack.recorder.reset()
        # As often as the page pings: what the server's `joined` tells it.
        interval = asyncio.run(pings(stack.ws_url, 10))["keepaliveSeconds"] / 60
        ping_invocations = by_route(stack.recorder.snapshot())["ping"]
    if not results:
        raise SystemExit("no call connected: nothing to count")
    setup = median_totals([r["setup"] for r in results])
    teardown = median_totals([r["teardown"] for r in results])
    both = {k: v + teardown[k] for k, v in setup.items() if not isinstance(v, dict)}
    per_ping = totals(ping_invocations)
    pings_per_hour = 2 * 60 / interval
    hour = {
        k: pings_per_hour * v / len(ping_invocations)
        for k, v in per_ping.items()
        if not isinstance(v, dict)
    }
    hour["billed_ms"] = pings_per_hour * median([i.billed_ms for i in ping_invocations])
    hour["connection_minutes"] = 2 * 60
    setup_dollars, hour_dollars = dollars(both, memory_mb), dollars(hour, memory_mb)
    return {
        "calls": args.calls,
        "connected": len(results),
        "lambda_memory_mb": memory_mb,
        "ping_interval_minutes": interval,
        "setup": setup,
        "teardown": teardown,
        "quiet_window_seconds": args.quiet,
        "quiet_window": median_totals([r["quiet"] for r in results]),
        "setup_and_teardown": both,
        "hour": hour,
        "setup_dollars": setup_dollars,
        "hour_dollars": hour_dollars,
        "call_hour_total_dollars": setup_dollars["total"] + hour_dollars["total"],
    }


def usd(x: float) -> str:
    return f"${x:.7f}" if x < 0.01 else f"${x:,.4f}"


def listed(counts: dict[str, float]) -> str:
    return ", ".join(f"{name} {n:g}" for name, n in counts.items())


def headline(d: dict) -> str:
    total = d["call_hour_total_dollars"]
    return (
        f"setup {usd(d['setup_dollars']['total'])} + one hour {usd(d['hour_dollars']['total'])}"
        f" = {usd(total)} (${total * 1e6:,.0f} per million one-hour calls)"
    )


def render(d: dict) -> str:
    s, h, su, td = d["setup_and_teardown"], d["hour"], d["setup"], d["teardown"]
    out = [
        f"{when(d)} {d['connected']} of {d['calls']} calls connected; medians per call. Lambda "
        f"{d['lambda_memory_mb']} MB arm64; a ping every {d['ping_interval_minutes']:g} min per "
        "client.",
        "",
        "| per call (us-east-1) | setup + teardown | | one hour | |",
        "|---|---|---|---|---|",
    ]
    for label, keys, cost in ROWS:
        counts = [" + ".join(f"{t.get(k, 0):g}" for k in keys) for t in (s, h)]
        out.append(
            f"| {label} | {counts[0]} | {usd(d['setup_dollars'][cost])} "
            f"| {counts[1]} | {usd(d['hour_dollars'][cost])} |"
        )
    out += [
        f"| **total** | | **{usd(d['setup_dollars']['total'])}** | | "
        f"**{usd(d['hour_dollars']['total'])}** |",
        "",
        f"Setup: routes {listed(su['routes'])}; DynamoDB {listed(su['dynamodb_ops'])}. Teardown: "
        f"routes {listed(td['routes'])}; DynamoDB {listed(td['dynamodb_ops'])}. One hour: "
        f"{h['dynamodb_requests']:g} DynamoDB requests. Invocations in the "
        f"{d['quiet_window_seconds']:g} s after setup: {d['quiet_window']['invocations']:g}.",
        "",
        f"**One call: {headline(d)}.**",
    ]
    return "\n".join(out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--quiet", type=float, default=10, help="seconds watched after setup")
    main("cost", parser, run, headline)
