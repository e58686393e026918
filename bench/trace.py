"""Where a call's set-up spends CPU: Chromium traces of time-to-first-frame calls.

    .venv/bin/python -m bench.trace                       # 3 traced calls each
    .venv/bin/python -m bench.trace --calls 5 --keep /tmp/traces
    .venv/bin/python -m bench.trace --baseline /tmp/main     # also another checkout's product

Each call is bench.ttff's call (same pages, probe and browser flags), recorded with
Playwright's `browser.start_tracing`. For the stretch from person 2's navigation (the browser
creating its navigation request) to both first frames it sums the CPU time (thread time of
the top-level tasks) of every Chromium process, by role: person 1's and person 2's renderers,
the browser process, the GPU process (the compositor, which draws every frame in software
here) and the rest; and, in person 2's renderer, rasterization and synchronous font lookups.
A diagnostic, not one of `make bench`'s benchmarks: tracing slows a call, so its times are
not time-to-first-frame figures; the CPU split is what it is for. The local stack's own
processes (gateway, JVM) are not in a Chromium trace.

The last line is the headline: Chromium's CPU per call set-up, product against floor.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import median, save_result
from bench.ttff import (
    Target,
    call_order,
    chromium,
    one_call,
    start_floor,
    start_product,
    stopped_after,
    timeline,
)
from local.browser import CHROMIUM_ARGS

# "mojom" carries the synchronous font lookups (a mojo call to the browser's font service).
CATEGORIES = [
    "toplevel", "devtools.timeline", "disabled-by-default-devtools.timeline", "blink",
    "loading", "navigation", "v8", "webrtc", "media", "gpu", "cc", "mojom", "ipc",
]  # fmt: skip
TOP_LEVEL_TASKS = {"ThreadControllerImpl::RunTask", "ThreadPool_RunTask"}
ROLES = ("person 2's renderer", "person 1's renderer", "browser", "GPU process",
         "other renderers", "other processes")  # fmt: skip


def cpu_breakdown(events: list[dict[str, Any]], room: str, frame_ms: float) -> dict[str, Any]:
    """CPU (ms) by role from person 2's navigation to `frame_ms` after it, for one call's trace.

    Person 1's and person 2's renderers are the processes that parsed the call's page (the
    room code is in its URL), in that order; person 2's navigation starts at the browser's
    last navigation request before its renderer parsed the page.
    """
    processes: dict[int, str] = {}
    parses: list[dict[str, Any]] = []
    for e in events:
        if e.get("ph") == "M" and e.get("name") == "process_name":
            processes[e["pid"]] = e["args"]["name"]
        elif e.get("name") == "ParseHTML":
            url = (e.get("args", {}).get("beginData") or {}).get("url", "")
            if f"room={room}" in url:
                parses.append(e)
    parses.sort(key=lambda e: e["ts"])
    renderers = list(dict.fromkeys(e["pid"] for e in parses))
    if len(renderers) != 2:
        raise ValueError(f"expected two renderers for room {room}, found {len(renderers)}")
    p1, p2 = renderers
    p2_parse = next(e["ts"] for e in parses if e["pid"] == p2)
    starts = [e["ts"] for e in events
              if e.get("name") == "NavigationRequest::Create" and e["ts"] < p2_parse]  # fmt: skip
    if not starts:
        raise ValueError("person 2's navigation request is not in the trace")
    t0 = max(starts)
    end = t0 + frame_ms * 1000

    def role(pid: int) -> str:
        if pid == p2:
            return ROLES[0]
        if pid == p1:
            return ROLES[1]
        name = processes.get(pid, "")
        return {"Browser": ROLES[2], "GPU Process": ROLES[3], "Renderer": ROLES[4]}.get(
            name, ROLES[5]
        )

    cpu: Counter[str] = Counter()
    raster = fonts_ms = 0.0
    fonts = 0
    for e in events:
        if e.get("ph") != "X" or not t0 <= e["ts"] <= end:
            continue
        if e["name"] in TOP_LEVEL_TASKS:
            cpu[role(e["pid"])] += e.get("tdur", 0) / 1000
        elif e["pid"] == p2 and e["name"] == "DisplayItemList::Raster":
            raster += e.get("tdur", 0) / 1000
        elif e["pid"] == p2 and e["name"] == "FontDataService::MatchFamilyName":
            fonts += 1
            fonts_ms += e.get("dur", 0) / 1000
    return {
        "window_ms": frame_ms,
        "cpu_ms": {r: round(cpu[r], 1) for r in ROLES},
        "total_cpu_ms": round(sum(cpu.values()), 1),
        "p2_raster_cpu_ms": round(raster, 1),
        "p2_font_lookups": fonts,
        "p2_font_lookups_wall_ms": round(fonts_ms, 1),
    }


def traced_call(browser, target: Target, keep: Path | None, index: int) -> dict[str, Any]:
    browser.start_tracing(categories=CATEGORIES)
    try:
        call = one_call(browser, target)
    finally:
        data = browser.stop_tracing()
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        (keep / f"{target.name}-{index}.json").write_bytes(data)
    trace = json.loads(data)
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    return cpu_breakdown(events, call["room"], timeline(call)["frame"])


def summarize(calls: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("window_ms", "total_cpu_ms", "p2_raster_cpu_ms", "p2_font_lookups",
            "p2_font_lookups_wall_ms")  # fmt: skip
    out: dict[str, Any] = {k: median([c[k] for c in calls]) for k in keys}
    out["cpu_ms"] = {r: median([c["cpu_ms"][r] for c in calls]) for r in ROLES}
    return out


def run(calls: int, keep: Path | None, baseline: Path | None = None) -> dict[str, Any]:
    targets: list[Target] = []
    with stopped_after(targets):
        targets.append(start_floor())
        log = Path(tempfile.gettempdir()) / "p2pchat-bench-trace-local-stack.log"
        targets.append(start_product(log))
        if baseline is not None:
            targets.append(start_product(log.with_suffix(".baseline.log"), baseline, "baseline"))
        results: dict[str, list[dict[str, Any]]] = {t.name: [] for t in targets}
        with chromium(list(CHROMIUM_ARGS)) as browser:
            for target in targets:
                one_call(browser, target)  # warm-up, untraced
            for i in range(calls):
                for target in call_order(targets, i):
                    result = traced_call(browser, target, keep, i)
                    results[target.name].append(result)
                    print(f"  {target.name:<8} call {i + 1}: {result['total_cpu_ms']:.0f} ms "
                          f"CPU in {result['window_ms']:.0f} ms", flush=True)  # fmt: skip
    return {"calls": calls, "categories": CATEGORIES, "raw": results,
            "summaries": {name: summarize(r) for name, r in results.items()}}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=3, help="traced calls per target")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="also write each trace here")
    parser.add_argument(
        "--baseline", type=Path, metavar="CHECKOUT",
        help="also trace the product of another checkout (a git worktree)",
    )  # fmt: skip
    args = parser.parse_args()
    result = run(args.calls, args.keep, args.baseline)
    save_result("trace", result)
    s = result["summaries"]
    for name, summary in s.items():
        print(f"\n== {name}: medians of {args.calls} traced calls")
        print(f"   person 2's navigation -> both first frames: {summary['window_ms']:.0f} ms")
        for r in ROLES:
            print(f"   {r:<22} {summary['cpu_ms'][r]:6.1f} ms CPU")
        print(f"   person 2's rasterization {summary['p2_raster_cpu_ms']:.1f} ms CPU; "
              f"font lookups {summary['p2_font_lookups']:.0f} "
              f"({summary['p2_font_lookups_wall_ms']:.1f} ms waited)")  # fmt: skip
    p, f = s["product"], s["floor"]
    print(
        f"TRACE: Chromium CPU per call set-up, median: product {p['total_cpu_ms']:.0f} ms "
        f"(person 2's renderer {p['cpu_ms'][ROLES[0]]:.0f}, GPU {p['cpu_ms'][ROLES[3]]:.0f}) | "
        f"floor {f['total_cpu_ms']:.0f} ms (person 2's renderer {f['cpu_ms'][ROLES[0]]:.0f}, "
        f"GPU {f['cpu_ms'][ROLES[3]]:.0f}) | ratio {p['total_cpu_ms'] / f['total_cpu_ms']:.2f}x"
        + (f" | baseline {s['baseline']['total_cpu_ms']:.0f} ms" if "baseline" in s else "")
    )


if __name__ == "__main__":
    main()
