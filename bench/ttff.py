"""Time to first frame: the second person opens the invite link -> both sides decode video.

Two Chromium contexts with fake media. Person 1 opens the room and waits; person 2 opens
the same link; the figure runs from person 2's navigation start to the later of the two
first decoded remote video frames. The product (the local stack, `python -m local`) and the
floor (bench/floor: a bare in-memory relay and a minimal page, served with the site's
security headers like the product's pages) are measured interleaved in the same run, rotating
which goes first; so is 'floor-bare', the same floor without those headers (its
Cross-Origin-Opener-Policy makes Chromium start a renderer process after the response: the
cost of the header, not of signaling). `--baseline CHECKOUT` adds the product of another
checkout (a git worktree of main, say), so a change is measured against what it replaces in
the same run. 'page-on-floor' is the product's own pages served over the floor's relay
(`--no-page-on-floor` leaves it out): product / page-on-floor is what the signaling service
costs with the page held the same, page-on-floor / floor what the page costs. Steps are
timed from outside by an init script (bench/probe.js) that wraps WebSocket, getUserMedia
and RTCPeerConnection.

    .venv/bin/python -m bench.ttff            # 24 calls each (after 2 warm-up calls each)
    .venv/bin/python -m bench.ttff --calls 5  # quicker
    .venv/bin/python -m bench.ttff --only floor
    git worktree add /tmp/main main && ln -s "$PWD/node_modules" /tmp/main/
    .venv/bin/python -m bench.ttff --baseline /tmp/main   # this checkout against main

The last line is the headline: medians, p95s and the ratio product/floor.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import (
    FAKE_AWS_ENV,
    PROBE,
    PYTHON,
    ROOT,
    free_port,
    median,
    ms,
    percentile,
    returning_visitor,
    save_result,
    stop_process,
    wait_http,
    wait_marks,
    wait_port,
)
from local.browser import CHROMIUM, CHROMIUM_ARGS

# Steps of the breakdown, each (label, start mark, end mark) on the marks computed in
# `timeline` below; times are offsets from person 2's navigation start.
STEPS = [
    ("page load (nav -> DOMContentLoaded)", "nav", "p2.dcl"),
    ("media (getUserMedia)", "p2.gum.start", "p2.gum.end"),
    ("script start -> WebSocket created", "p2.gum.start", "p2.ws.create"),
    ("WebSocket open", "p2.ws.create", "p2.ws.open"),
    ("join (join sent -> joined)", "p2.join.sent", "p2.joined"),
    ("ready (joined + media) -> first offer sent", "ready", "offer.sent"),
    ("first offer sent -> answer applied", "offer.sent", "answer.applied"),
    ("ICE connected (answer -> both connected)", "answer.applied", "ice.connected"),
    ("first frame (connected -> both decoded)", "ice.connected", "frame"),
]
# The ratios a run reports: (target, the floor it is divided by, key prefix in the result);
# the first is the headline.
RATIOS = (("product", "floor", "ratio"), ("baseline", "floor", "ratio_baseline"),
          ("product", "floor-bare", "ratio_bare"),
          # page-on-floor: the signaling service's share and the page's share of the ratio
          ("product", "page-on-floor", "ratio_signaling"),
          ("page-on-floor", "floor", "ratio_page"))  # fmt: skip
MILESTONES = [
    "p2.response", "p2.entry-script", "p2.all-scripts", "p2.dcl", "p2.config.json",
    "p2.gum.start", "p2.ws.create", "p2.ws.open", "p2.gum.end",
    "p2.join.sent", "p2.joined", "p1.peer-joined", "offer.sent", "offer.recv", "answer.sent",
    "answer.applied", "ice.connected", "frame.p1", "frame.p2", "frame",
]  # fmt: skip


@dataclass
class Target:
    name: str
    base: str
    proc: subprocess.Popen | None = None
    results: list[dict] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    failed_calls: list[dict] = field(default_factory=list)

    def url(self, room: str) -> str:
        raise NotImplementedError

    def storage_state(self) -> dict:
        """Every target's contexts are made the same way (the floor page ignores the name)."""
        return returning_visitor(self.base)


class Floor(Target):
    def url(self, room: str) -> str:
        return f"{self.base}/room?room={room}"


class Product(Target):
    """The product's invite link. The room page reads the room from its URL."""

    link_format = "{base}/room.html?room={room}"

    def url(self, room: str) -> str:
        return self.link_format.format(base=self.base, room=room)


def _floor_server(*flags: str) -> tuple[str, subprocess.Popen]:
    """`python -m bench.floor` with `flags` on a free port, ready: (base URL, process)."""
    port = free_port()
    proc = subprocess.Popen(
        [PYTHON, "-m", "bench.floor", "--port", str(port), *flags],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    wait_port(port, 15, proc)
    return f"http://127.0.0.1:{port}", proc


def start_floor(*, bare: bool = False) -> Floor:
    """The floor relay and page; `bare`: without the site's security headers."""
    base, proc = _floor_server(*(["--bare"] if bare else []))
    return Floor("floor-bare" if bare else "floor", base, proc)


def start_page_on_floor() -> Product:
    """The product's own pages over the floor's in-memory relay (`bench.floor --site`): the
    same page as the product's, none of its signaling service."""
    base, proc = _floor_server("--site")
    return Product("page-on-floor", base, proc)


def start_product(log_path: Path, root: Path = ROOT, name: str = "product") -> Product:
    """`make run`'s process, `python -m local`, on a free port (it starts DynamoDB Local),
    from this checkout or from another one at `root` (its own code and frontend/)."""
    port = free_port()
    env = {**os.environ, **FAKE_AWS_ENV, "PORT": str(port), "HOST": "127.0.0.1"}
    log = open(log_path, "w")  # noqa: SIM115 - kept open for the child's lifetime
    proc = subprocess.Popen(
        [PYTHON, "-m", "local"], cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    wait_port(port, 60, proc)
    wait_http(f"http://127.0.0.1:{port}/config.json", 90, proc)  # the database is up too
    return Product(name, f"http://127.0.0.1:{port}", proc)


def one_call(browser, target: Target) -> dict:
    room = "b" + uuid.uuid4().hex[:12]
    url = target.url(room)
    contexts = []
    try:
        pages = []
        for _ in range(2):
            ctx = browser.new_context(
                viewport={"width": 800, "height": 600}, storage_state=target.storage_state()
            )
            ctx.add_init_script(path=str(PROBE))
            contexts.append(ctx)
            pages.append(ctx.new_page())
        p1, p2 = pages
        p1.goto(url, wait_until="load")
        wait_marks(p1, "joined", "gum.end")
        time.sleep(0.3)  # person 1 sits in the room, idle, before person 2 arrives
        p2.goto(url, wait_until="commit")
        try:
            for page in (p1, p2):
                wait_marks(page, "frame")
        except Exception:
            # Keep what both pages saw, for the failure report.
            with contextlib.suppress(Exception):
                target.failed_calls.append({
                    "room": room, "p1": p1.evaluate("window.__probe.collect()"),
                    "p2": p2.evaluate("window.__probe.collect()"),
                })  # fmt: skip
            raise
        time.sleep(0.05)
        return {"room": room, "p1": p1.evaluate("window.__probe.collect()"),
                "p2": p2.evaluate("window.__probe.collect()")}  # fmt: skip
    finally:
        for ctx in contexts:
            ctx.close()


def timeline(call: dict) -> dict[str, float]:
    """Offsets (ms) from person 2's navigation start of every milestone of one call."""
    p1, p2 = call["p1"], call["p2"]
    t0 = p2["timeOrigin"]
    m1, m2 = p1["marks"], p2["marks"]
    out: dict[str, float] = {"nav": 0.0}

    def rel(x):
        return None if x is None else x - t0

    for key, value in (("p2.response", p2["responseEnd"]), ("p2.dcl", p2["domContentLoaded"])):
        if value is not None:
            out[key] = rel(value)
    for name, value in m2.items():
        out[f"p2.{name}"] = rel(value)
    # The page's fetch chain (resource timing, already relative to p2's navigation start):
    # the entry script, the last script module, config.json.
    scripts = [r for r in p2.get("resources", []) if r[0].split("?")[0].endswith(".js")]
    if scripts:
        out["p2.entry-script"] = float(min(scripts, key=lambda r: r[1])[2])
        out["p2.all-scripts"] = float(max(r[2] for r in scripts))
    configs = [r for r in p2.get("resources", []) if "config.json" in r[0]]
    if configs:
        out["p2.config.json"] = float(configs[0][2])
    for name, value in m1.items():
        out[f"p1.{name}"] = rel(value)
    # The first offer, answer and applied answer, on whichever side they happened (with
    # perfect negotiation both sides may offer; one offer is then rolled back or ignored).
    for key, mark in (("offer.sent", "offer.sent"), ("offer.recv", "offer.recv"),
                      ("answer.sent", "answer.sent"), ("answer.applied", "srd.answer")):
        times = [m[mark] for m in (m1, m2) if mark in m]
        if times:
            out[key] = rel(min(times))
    out["offers"] = float(sum(p["counts"].get("sent.signal.offer", 0) for p in (p1, p2)))
    if "answer.sent" in m1 or "answer.sent" in m2:
        out["answerer"] = 1.0 if m1.get("answer.sent", 1e18) < m2.get("answer.sent", 1e18) else 2.0
    if "joined" in m2 and "gum.end" in m2:
        out["ready"] = rel(max(m2["joined"], m2["gum.end"]))
    ice = [m.get("ice.connected") or m.get("ice.completed") for m in (m1, m2)]
    if all(ice):
        out["ice.connected"] = rel(max(ice))
    if "frame" in m1 and "frame" in m2:
        out["frame.p1"] = rel(m1["frame"])
        out["frame.p2"] = rel(m2["frame"])
        out["frame"] = max(out["frame.p1"], out["frame.p2"])
    rvfc = [m.get("frame.rvfc") for m in (m1, m2)]
    if all(rvfc):
        out["frame.rvfc"] = rel(max(rvfc))
    return out


def summarize(target: Target) -> dict:
    lines = [timeline(c) for c in target.results]
    ttff = [t["frame"] for t in lines if "frame" in t]
    steps = {}
    for label, a, b in STEPS:
        xs = [t[b] - t[a] for t in lines if a in t and b in t]
        steps[label] = {"median": median(xs), "p95": percentile(xs, 95), "n": len(xs)}
    miles = {}
    for name in MILESTONES:
        xs = [t[name] for t in lines if name in t]
        miles[name] = {"median": median(xs), "n": len(xs)}
    rvfc = [t["frame.rvfc"] for t in lines if "frame.rvfc" in t]
    first = target.results[0] if target.results else None
    failed_detail = []
    for call in target.failed_calls:
        t = timeline(call)
        failed_detail.append({
            "offers": t.get("offers"),
            "answered_by_person": t.get("answerer"),
            "candidates_sent": [call[p]["counts"].get("sent.signal.candidate", 0)
                                for p in ("p1", "p2")],
            "ice": [sorted(k for k in call[p]["marks"] if k.startswith(("ice.", "gather.")))
                    for p in ("p1", "p2")],
        })  # fmt: skip
    return {
        "calls": len(ttff),
        "failures": target.failures,
        "failed_detail": failed_detail,
        "ttff_ms": ttff,
        "median": median(ttff),
        "p95": percentile(ttff, 95),
        "min": min(ttff) if ttff else None,
        "max": max(ttff) if ttff else None,
        "median_rvfc": median(rvfc),
        "steps": steps,
        "milestones": miles,
        "calls_with_two_offers": sum(1 for t in lines if t.get("offers", 0) >= 2),
        "answered_by_person_1": sum(1 for t in lines if t.get("answerer") == 1.0),
        "pc_config": first["p2"]["pcConfig"] if first else None,
        "ice_servers": first["p2"]["iceServers"] if first else None,
        "counts_p1": first["p1"]["counts"] if first else None,
        "counts_p2": first["p2"]["counts"] if first else None,
    }


def print_summary(name: str, s: dict) -> None:
    print(f"\n== {name}: {s['calls']} calls, {len(s['failures'])} failed")
    print(f"   time to first frame: median {ms(s['median'])}, p95 {ms(s['p95'])}"
          f" (rVFC cross-check median {ms(s['median_rvfc'])})")  # fmt: skip
    print("   steps (median / p95):")
    for label, v in s["steps"].items():
        print(f"     {label:<46} {ms(v['median']):>8} / {ms(v['p95']):>8}  (n={v['n']})")
    print("   milestones after person 2's navigation start (median):")
    for k, v in s["milestones"].items():
        if v["n"]:
            print(f"     {k:<16} {ms(v['median']):>8}")
    print(f"   calls where both sides sent an offer (glare): {s['calls_with_two_offers']}; "
          f"answered by person 1: {s['answered_by_person_1']}")
    print(f"   RTCPeerConnection config: {s['pc_config']}")
    for failure in s["failures"]:
        print(f"   failed: {failure}")


@contextlib.contextmanager
def stopped_after(targets: list[Target]) -> Iterator[list[Target]]:
    """Yield `targets`; every target appended to it meanwhile is stopped on the way out, also
    when a later one fails to start."""
    try:
        yield targets
    finally:
        for target in targets:
            if target.proc is not None:
                stop_process(target.proc)


@contextlib.contextmanager
def chromium(args: list[str]) -> Iterator[Any]:
    """This machine's Chromium (local/browser.py) with `args`, closed on the way out."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            yield browser
        finally:
            browser.close()


def call_order(targets: list[Target], i: int) -> list[Target]:
    """Round `i`'s order: every target goes first, middle and last equally often."""
    k = i % len(targets)
    order = targets[k:] + targets[:k]
    if (i // len(targets)) % 2:
        order.reverse()
    return order


def run(calls: int, warmup: int, only: str | None, product_link: str | None,
        baseline: Path | None = None, bare_floor: bool = True,
        page_on_floor: bool = True) -> dict:  # fmt: skip
    targets: list[Target] = []
    # The stack's own log, kept out of the tree (bench/results holds results only).
    log_path = Path(tempfile.gettempdir()) / "p2pchat-bench-ttff-local-stack.log"
    log_path.parent.mkdir(exist_ok=True)
    args = list(CHROMIUM_ARGS)
    with stopped_after(targets):
        if only in (None, "floor"):
            targets.append(start_floor())
            if bare_floor:
                targets.append(start_floor(bare=True))
        if only in (None, "product"):
            product = start_product(log_path)
            if product_link:
                product.link_format = product_link
            targets.append(product)
            if baseline is not None:
                # Another checkout (say, main before a change) measured in the same run.
                other = start_product(log_path.with_name(log_path.stem + "-baseline.log"),
                                      root=baseline, name="baseline")  # fmt: skip
                other.link_format = product.link_format
                targets.append(other)
            if page_on_floor:
                page = start_page_on_floor()
                page.link_format = product.link_format
                targets.append(page)
        with chromium(args) as browser:
            for i in range(warmup + calls):
                for target in call_order(targets, i):
                    try:
                        call = one_call(browser, target)
                    except Exception as exc:  # a failed call is counted, never retried
                        if i >= warmup:
                            target.failures.append(f"call {i}: {type(exc).__name__}: "
                                                   f"{str(exc).splitlines()[0][:200]}")
                        print(f"  {target.name} call {i} failed: {exc!s:.200}", flush=True)
                        continue
                    if i >= warmup:
                        target.results.append(call)
                        t = timeline(call)
                        print(f"  {target.name:<15} call {i - warmup + 1:>2}: "
                              f"{ms(t.get('frame', float('nan')))}", flush=True)  # fmt: skip
    summaries = {t.name: summarize(t) for t in targets}
    for t in targets:
        print_summary(t.name, summaries[t.name])
    out = {"command": "python -m bench.ttff " + " ".join(sys.argv[1:]), "calls": calls,
           "warmup": warmup, "chromium_args": args, "summaries": summaries,
           "raw": {t.name: [timeline(c) for c in t.results] for t in targets},
           "failed_calls": {t.name: t.failed_calls for t in targets},
           "example_call": {t.name: t.results[len(t.results) // 2] for t in targets
                            if t.results}}  # fmt: skip
    for name, floor, prefix in RATIOS:
        f = summaries.get(floor)
        if f and name in summaries:
            for stat in ("median", "p95"):
                value = summaries[name][stat]
                out[f"{prefix}_{stat}"] = value / f[stat] if f[stat] else None
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=24, help="measured calls per target")
    parser.add_argument("--warmup", type=int, default=2, help="discarded calls per target")
    parser.add_argument("--only", choices=["floor", "product"])
    parser.add_argument("--product-link", help="format of the invite link, {base} and {room}")
    parser.add_argument("--no-chart", action="store_true")
    parser.add_argument("--baseline", type=Path, metavar="CHECKOUT",
                        help="also measure the product of another checkout (e.g. a git worktree "
                             "of main), interleaved, as target 'baseline'")
    parser.add_argument("--no-bare-floor", action="store_true",
                        help="leave out 'floor-bare', the floor page without security headers")
    parser.add_argument("--no-page-on-floor", action="store_true",
                        help="leave out 'page-on-floor', the product's own pages over the "
                             "floor's relay (product / it = the signaling service's share)")
    args = parser.parse_args()
    out = run(args.calls, args.warmup, args.only, args.product_link,
              args.baseline, bare_floor=not args.no_bare_floor,
              page_on_floor=not args.no_page_on_floor)  # fmt: skip
    path = save_result("ttff" if args.only is None else f"ttff-{args.only}", out)
    print(f"\nraw results: {path.relative_to(ROOT)}")
    s = out["summaries"]
    if "ratio_median" in out and not args.no_chart:
        from bench.chart import ttff_chart

        saved = json.loads(path.read_text())  # with the machine's description, for the footer
        print(f"chart: {ttff_chart(saved).relative_to(ROOT)}")
    parts = [f"{name} median {ms(v['median'])} p95 {ms(v['p95'])} (n={v['calls']})"
             for name, v in s.items()]  # fmt: skip
    tail = ""
    if out.get("ratio_median"):
        tail = (f" | ratio product/floor: median {out['ratio_median']:.2f}x, "
                f"p95 {out['ratio_p95']:.2f}x (target <= 1.2x)")  # fmt: skip
    for name, floor, prefix in RATIOS[1:]:
        if out.get(f"{prefix}_median"):
            tail += f"; {name}/{floor} {out[f'{prefix}_median']:.2f}x"
    print("TTFF: " + " | ".join(parts) + tail)


if __name__ == "__main__":
    main()
