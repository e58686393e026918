"""Cost of a call: what one 1:1 call setup and one hour of call cause, in counts and dollars.

Real calls: two Chromium pages with fake media run the product's own room page against the
local stack, which runs in this process with the handler instrumented (bench/stack.py,
bench/instrument.py). Per call the bench records every Lambda invocation (route, duration
rounded up to 1 ms as Lambda bills), every DynamoDB request (operation; request units as AWS
bills them, computed from the request and the items; and ConsumedCapacity as DynamoDB Local
reported it) and every Management API post (API Gateway messages out, 32 KB increments).

- setup: from person 1 opening the room to both pages decoding video, plus 3 s for the
  trailing candidates; teardown: both pages closed (`bye`, `$disconnect`).
- one hour: 2 connections x 60 connection minutes, plus the keepalive: the client pings every
  PING_INTERVAL_MS (read from frontend/js/signaling.js), one ping measured through the stack.
  Nothing else flows during a call (checked: a quiet window after setup is recorded).

Dollars: bench/prices.py (us-east-1 on-demand, cited there and in docs/benchmarks.md).
Beside it, the same call on the AWS sample chat design (simple-websockets-chat-app: one Scan
of all connections per message, broadcast to all) at 10, 1,000 and 100,000 connected clients,
and on Kinesis Video Streams signaling channels, both modeled from the call's measured
message counts.

    .venv/bin/python -m bench.cost             # 5 calls, 10 s quiet window each
    .venv/bin/python -m bench.cost --calls 3
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import re
import sys
import time
import uuid

from bench import prices
from bench.common import PROBE, ROOT, median, returning_visitor, save_result, wait_marks
from bench.instrument import per_route, totals
from local.browser import CHROMIUM, CHROMIUM_ARGS

SAMPLE_SIZES = (10, 1_000, 100_000)
SAMPLE_ITEM_BYTES = len("connectionId") + 16  # {connectionId: "L0SM9cOFvHcCIhw="}
NODE_SDK_MAX_SOCKETS = 50  # AWS SDK for JavaScript v3's default concurrent sockets per client


def lambda_memory_mb() -> int:
    """memory_size of the function in the CDK app (infra/), 256 if not found."""
    for path in (ROOT / "infra").rglob("*.py"):
        m = re.search(r"memory_size\s*=\s*(\d+)", path.read_text())
        if m:
            return int(m.group(1))
    return 256


def ping_interval_minutes() -> float:
    text = (ROOT / "frontend/js/signaling.js").read_text()
    m = re.search(r"PING_INTERVAL_MS\s*=\s*([\d\s*]+);", text)
    if not m:
        return 4.0
    return eval(m.group(1), {"__builtins__": {}}) / 60000  # digits and * only


# ------------------------------------------------------------------------------ measuring


def browser_calls(stack, calls: int, quiet: float) -> list[dict]:
    from playwright.sync_api import sync_playwright

    rec = stack.recorder
    out = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for i in range(calls):
                room = "c" + uuid.uuid4().hex[:12]
                url = f"{stack.http_url}/room.html?room={room}"
                visitor = returning_visitor(stack.http_url)
                contexts = [browser.new_context(storage_state=visitor) for _ in range(2)]
                result: dict = {"room": room}
                try:
                    for ctx in contexts:
                        ctx.add_init_script(path=str(PROBE))
                    p1, p2 = (ctx.new_page() for ctx in contexts)
                    rec.reset()
                    p1.goto(url)
                    wait_marks(p1, "joined")
                    time.sleep(0.3)
                    p2.goto(url)
                    ok = True
                    try:
                        for p in (p1, p2):
                            wait_marks(p, "frame")
                    except Exception:
                        ok = False
                    time.sleep(3)  # trailing candidates, state messages
                    result["ok"] = ok
                    result["setup"], _ = rec.snapshot()
                    result["probe"] = [p.evaluate("window.__probe.collect().counts")
                                       for p in (p1, p2)]  # fmt: skip
                    rec.reset()
                    time.sleep(quiet)
                    result["quiet"], _ = rec.snapshot()
                    rec.reset()
                finally:
                    for ctx in contexts:
                        ctx.close()
                time.sleep(2)  # bye, $disconnect
                result["teardown"], _ = rec.snapshot()
                print(f"  call {i + 1}: {'connected' if result.get('ok') else 'FAILED'}; setup "
                      f"{totals(result['setup'])['invocations']} invocations", flush=True)
                out.append(result)
        finally:
            browser.close()
    return out


async def measure_ping(ws_url: str, n: int = 10) -> list:
    import aiohttp

    from bench.wsclient import ProtocolClient

    async with aiohttp.ClientSession() as session:
        c = ProtocolClient(session, ws_url)
        await c.connect()
        await c.join("ping-" + uuid.uuid4().hex[:8])
        for _ in range(n):
            await c.send({"action": "ping"})
            await c.expect("pong")
        await c.close()


# ------------------------------------------------------------------------------ dollars


def dollars(t: dict, memory_mb: int, connection_minutes: float = 0.0) -> dict:
    gb_s = t["billed_ms"] / 1000 * memory_mb / 1024
    parts = {
        "apigw_messages": (t["messages_in"] + t["messages_out"]) * prices.APIGW_PER_MESSAGE,
        "apigw_connection_minutes": connection_minutes * prices.APIGW_PER_CONNECTION_MINUTE,
        "lambda_requests": t["invocations"] * prices.LAMBDA_PER_REQUEST,
        "lambda_duration": gb_s * prices.LAMBDA_ARM_PER_GB_SECOND,
        "dynamodb_reads": t["rru"] * prices.DDB_PER_RRU,
        "dynamodb_writes": t["wru"] * prices.DDB_PER_WRU,
    }
    parts["total"] = sum(parts.values())
    return parts


def median_totals(list_of_invocation_lists: list[list]) -> dict:
    """Per-field median over calls of the totals() of each call."""
    ts = [totals(invs) for invs in list_of_invocation_lists]
    keys = ["invocations", "billed_ms", "handler_ms", "dynamodb_requests", "rru", "wru",
            "rru_reported", "wru_reported", "messages_in", "messages_out"]  # fmt: skip
    out = {k: median([t[k] for t in ts]) for k in keys}
    ops: dict[str, list[int]] = {}
    for t in ts:
        for op in set().union(*(x["dynamodb_ops"] for x in ts)):
            ops.setdefault(op, []).append(t["dynamodb_ops"].get(op, 0))
    out["dynamodb_ops"] = {op: median(v) for op, v in ops.items()}
    routes: dict[str, list[int]] = {}
    for t in ts:
        for r in set().union(*(x["routes"] for x in ts)):
            routes.setdefault(r, []).append(t["routes"].get(r, 0))
    out["routes"] = {r: median(v) for r, v in routes.items()}
    return out


def sample_design(n: int, signals: int, per_signal_ms: tuple[float, float], memory_mb: int,
                  ping: dict, pings_per_hour: float) -> dict:  # fmt: skip
    """simple-websockets-chat-app for one call's signals with n clients connected: each
    message is one Lambda invocation that Scans every connection item and posts to all n."""
    t_db, t_post = per_signal_ms
    scan_bytes = n * SAMPLE_ITEM_BYTES
    pages = max(1, math.ceil(scan_bytes / prices.SCAN_PAGE_BYTES))
    rru_per_scan = 0.5 * max(1, math.ceil(scan_bytes / prices.READ_UNIT_BYTES))  # eventual
    per_msg_ms = t_db * pages + t_post * math.ceil(n / NODE_SDK_MAX_SOCKETS)
    setup = {
        # the two clients' $connect (PutItem) and each relayed signal
        "invocations": 2 + signals,
        "billed_ms": 2 * math.ceil(t_db) + signals * math.ceil(per_msg_ms),
        "messages_in": signals,
        "messages_out": signals * n,
        "rru": signals * rru_per_scan,
        "wru": 2.0,
        "dynamodb_requests": 2 + signals * pages,
    }
    hour = {
        "invocations": pings_per_hour, "billed_ms": pings_per_hour * ping["billed_ms"],
        "messages_in": pings_per_hour, "messages_out": pings_per_hour, "rru": 0.0, "wru": 0.0,
        "dynamodb_requests": 0,
    }  # fmt: skip
    return {
        "clients": n,
        "scan_pages": pages,
        "rru_per_message": rru_per_scan,
        "lambda_ms_per_message_model": per_msg_ms,
        "setup": setup,
        "setup_dollars": dollars(setup, memory_mb),
        "hour_dollars": dollars(hour, memory_mb, connection_minutes=120),
    }


def kvs(sdp_ice_messages: float) -> dict:
    """Kinesis Video Streams signaling channel for one call (one channel per room)."""
    billed = 2 * sdp_ice_messages  # counted when sent and when received
    return {
        "signaling_messages_billed": billed,
        "setup_dollars": {
            "channel_month": prices.KVS_PER_ACTIVE_CHANNEL_MONTH,
            "messages": billed * prices.KVS_PER_SIGNALING_MESSAGE,
            "total": prices.KVS_PER_ACTIVE_CHANNEL_MONTH
            + billed * prices.KVS_PER_SIGNALING_MESSAGE,
            "total_channel_reused_100x_a_month": prices.KVS_PER_ACTIVE_CHANNEL_MONTH / 100
            + billed * prices.KVS_PER_SIGNALING_MESSAGE,
        },
        "hour_dollars_direct": 0.0,
        "hour_dollars_if_turn_relayed": 2 * 60 * prices.KVS_PER_TURN_MINUTE,
    }


# ------------------------------------------------------------------------------ main


def run(calls: int, quiet: float) -> dict:
    from bench.stack import instrumented_stack

    memory_mb = lambda_memory_mb()
    interval = ping_interval_minutes()
    pings_per_hour = 2 * 60 / interval
    with instrumented_stack(table="p2pchat-cost") as stack:
        # Warm the handler (imports, clients, JIT of DynamoDB Local) with one ping round.
        asyncio.run(measure_ping(stack.ws_url, 3))
        results = browser_calls(stack, calls, quiet)
        stack.recorder.reset()
        asyncio.run(measure_ping(stack.ws_url, 10))
        ping_invs, _ = stack.recorder.snapshot()
    good = [r for r in results if r.get("ok")]
    if not good:
        raise SystemExit("no call connected: nothing to count")
    setup = median_totals([r["setup"] for r in good])
    teardown = median_totals([r["teardown"] for r in good])
    quiet_t = median_totals([r["quiet"] for r in good])
    ping_only = [i for i in ping_invs if i.route == "ping"]
    ping = totals(ping_only)
    ping_med = {"billed_ms": median([i.billed_ms for i in ping_only]),
                "handler_ms": median([i.ms for i in ping_only]),
                "dynamodb_requests": ping["dynamodb_requests"] / max(1, len(ping_only)),
                }  # fmt: skip
    hour = {
        "invocations": pings_per_hour,
        "billed_ms": pings_per_hour * ping_med["billed_ms"],
        "messages_in": pings_per_hour,
        "messages_out": pings_per_hour,  # pong
        "rru": 0.0,
        "wru": 0.0,
        "dynamodb_requests": pings_per_hour * ping_med["dynamodb_requests"],
        "connection_minutes": 120,
    }
    setup_full = {k: setup[k] + teardown[k] for k in
                  ("invocations", "billed_ms", "messages_in", "messages_out", "rru", "wru",
                   "dynamodb_requests")}  # fmt: skip
    signal_invs = [i for r in good for i in r["setup"] if i.route == "signal"]
    sig_db = median([c.ms for i in signal_invs for c in i.calls if c.service == "dynamodb"])
    sig_post = median([c.ms for i in signal_invs for c in i.calls if c.op == "PostToConnection"])
    probe = good[0]["probe"]
    sdp_ice = median([sum(p.get(f"sent.signal.{k}", 0) for p in r["probe"]
                          for k in ("offer", "answer", "candidate")) for r in good])  # fmt: skip
    out = {
        "command": "python -m bench.cost " + " ".join(sys.argv[1:]),
        "calls": calls,
        "connected": len(good),
        "lambda_memory_mb": memory_mb,
        "ping_interval_minutes": interval,
        "setup": setup,
        "teardown": teardown,
        "quiet_window_seconds": quiet,
        "quiet_window": quiet_t,
        "setup_and_teardown": setup_full,
        "setup_per_route": {k: {kk: v[kk] for kk in ("invocations", "dynamodb_requests", "rru",
                                                     "wru", "billed_ms")}
                            for k, v in per_route([i for i in good[0]["setup"]]).items()},
        "ping": ping_med,
        "hour": hour,
        "setup_dollars": dollars(setup_full, memory_mb),
        "hour_dollars": dollars(hour, memory_mb, connection_minutes=120),
        "browser_counts_example": probe,
        "sdp_ice_messages": sdp_ice,
        "signal_handler_parts_ms": {"dynamodb": sig_db, "post": sig_post},
    }  # fmt: skip
    out["call_hour_total_dollars"] = out["setup_dollars"]["total"] + out["hour_dollars"]["total"]
    signals = setup["routes"].get("signal", 0)
    out["sample_design"] = [
        sample_design(n, int(signals), (sig_db, sig_post), memory_mb, ping_med, pings_per_hour)
        for n in SAMPLE_SIZES
    ]
    out["kvs"] = kvs(sdp_ice)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--quiet", type=float, default=10, help="seconds watched after setup")
    args = parser.parse_args()
    with contextlib.redirect_stderr(sys.stderr):
        out = run(args.calls, args.quiet)
    save_result("cost", out)
    s, h = out["setup_and_teardown"], out["hour"]
    print(f"\nconnected {out['connected']} of {out['calls']} calls; Lambda "
          f"{out['lambda_memory_mb']} MB arm64; medians per call:")  # fmt: skip
    print(f"  setup+teardown: {s['messages_in']:.0f} messages in, {s['messages_out']:.0f} out, "
          f"{s['invocations']:.0f} invocations, {s['billed_ms']:.0f} billed ms, "
          f"{s['dynamodb_requests']:.0f} DynamoDB requests ({s['rru']:.0f} RRU, "
          f"{s['wru']:.0f} WRU)")
    print(f"  by operation (setup): {out['setup']['dynamodb_ops']}; "
          f"routes {out['setup']['routes']}")
    print(f"  quiet {out['quiet_window_seconds']:.0f} s after setup: "
          f"{out['quiet_window']['invocations']:.0f} invocations")
    print(f"  one hour: 120 connection minutes, {h['messages_in']:.0f} pings + pongs "
          f"(every {out['ping_interval_minutes']:g} min per client), "
          f"{h['dynamodb_requests']:.0f} DynamoDB requests")
    sd, hd = out["setup_dollars"], out["hour_dollars"]
    print(f"  dollars: setup ${sd['total']:.8f}, hour ${hd['total']:.8f}")
    for row in out["sample_design"]:
        print(f"  AWS sample design, {row['clients']:>7} clients: setup "
              f"${row['setup_dollars']['total']:.6f} ({row['setup']['messages_out']:.0f} posts, "
              f"{row['setup']['rru']:.0f} RRU)")
    k = out["kvs"]
    print(f"  KVS signaling channel: setup ${k['setup_dollars']['total']:.6f} (one channel per "
          f"room per month), ${k['setup_dollars']['total_channel_reused_100x_a_month']:.6f} "
          f"if a channel serves 100 calls a month")
    per_million = out["call_hour_total_dollars"] * 1e6
    print(f"COST: one call setup ${sd['total']:.7f} + one hour ${hd['total']:.7f} = "
          f"${out['call_hour_total_dollars']:.7f} (${per_million:.0f} per million one-hour calls)")


if __name__ == "__main__":
    main()
