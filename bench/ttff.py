"""Time to first frame: the second person opens the invite link -> both sides decode video,
the product (`python -m local`) against the floor (bench/floor), and the product relay-only
through a local TURN server (`TURN=1 ICE_TRANSPORT_POLICY=relay python -m local`: coturn,
credentials minted per join), interleaved in one browser. Method and findings:
docs/benchmarks.md, section 1.

    .venv/bin/python -m bench.ttff            # 24 calls each, after 2 warm-up calls each
    .venv/bin/python -m bench.ttff --calls 3 --warmup 1
"""

from __future__ import annotations

import argparse
import contextlib
import time
import uuid
from pathlib import Path

from bench.common import call, chromium, main, median, ms, percentile, serve, when

TARGETS = ("product", "relay", "floor")
COLORS = {"product": "#2f7ed8", "relay": "#d8842f", "floor": "#7a869a"}
# Person 2's milestones, in the order of a call (ms after person 2's navigation start).
MILESTONES = {
    "p2.dcl": "page loaded (DOMContentLoaded)",
    "p2.ws.create": "WebSocket created",
    "p2.ws.open": "WebSocket open",
    "p2.joined": "joined",
    "p2.gum.end": "camera open",
    "offer.sent": "first offer sent",
    "answer.applied": "answer applied",
    "ice.connected": "both ICE connected",
    "frame": "both first frames decoded",
}


def one_call(browser, base: str, link: str) -> dict[str, float]:
    """The milestones of one call."""
    with call(browser, base, link.format(base=base, room="b" + uuid.uuid4().hex[:12])) as pages:
        time.sleep(0.05)
        p1, p2 = (page.evaluate("window.__probe.collect()") for page in pages)
    return timeline({"p1": p1, "p2": p2})


def timeline(call: dict) -> dict[str, float]:
    """Offsets (ms) from person 2's navigation start of each milestone of one call; the first
    offer and answer on whichever side they happened."""
    p1, p2 = call["p1"], call["p2"]
    t0, m1, m2 = p2["timeOrigin"], p1["marks"], p2["marks"]
    out = {f"p2.{name}": t - t0 for name, t in m2.items()}
    if p2.get("domContentLoaded"):
        out["p2.dcl"] = p2["domContentLoaded"] - t0
    for key, mark in (("offer.sent", "offer.sent"), ("answer.applied", "srd.answer")):
        if times := [m[mark] for m in (m1, m2) if mark in m]:
            out[key] = min(times) - t0
    ice = [m.get("ice.connected") or m.get("ice.completed") for m in (m1, m2)]
    if all(ice):
        out["ice.connected"] = max(ice) - t0
    if "frame" in m1 and "frame" in m2:
        out["frame"] = max(m1["frame"], m2["frame"]) - t0
    return out


def summarize(lines: list[dict], failures: list[str]) -> dict:
    ttff = [t["frame"] for t in lines]
    return {
        "calls": len(ttff),
        "failures": failures,
        "ttff_ms": ttff,
        "median": median(ttff),
        "p95": percentile(ttff, 95),
        "milestones": {
            k: {"median": median([t[k] for t in lines if k in t]), "n": sum(k in t for t in lines)}
            for k in MILESTONES
        },
    }


def run(args: argparse.Namespace) -> dict:
    lines: dict[str, list] = {name: [] for name in TARGETS}
    failures: dict[str, list] = {name: [] for name in TARGETS}
    with contextlib.ExitStack() as stack:
        product, _ = stack.enter_context(serve("local"))
        relay_env = {"TURN": "1", "ICE_TRANSPORT_POLICY": "relay"}
        relay, _ = stack.enter_context(serve("local", env=relay_env))
        floor, _ = stack.enter_context(serve("bench.floor", "--port", "0"))
        links = {
            "product": (product, "{base}/room.html?room={room}"),
            "relay": (relay, "{base}/room.html?room={room}"),
            "floor": (floor, "{base}/room?room={room}"),
        }
        browser = stack.enter_context(chromium())
        for i in range(args.warmup + args.calls):
            for name in TARGETS if i % 2 == 0 else TARGETS[::-1]:
                try:
                    t = one_call(browser, *links[name])
                except Exception as exc:  # a failed call is counted, never retried
                    if i >= args.warmup:
                        failures[name].append(f"call {i}: {str(exc).splitlines()[0][:200]}")
                    print(f"  {name} call {i} failed: {exc!s:.200}", flush=True)
                    continue
                if i >= args.warmup:
                    lines[name].append(t)
                    print(
                        f"  {name:<8} call {i - args.warmup + 1:>2}: {ms(t['frame'])}", flush=True
                    )
    out = {
        "calls": args.calls,
        "warmup": args.warmup,
        "raw": lines,
        "summaries": {n: summarize(lines[n], failures[n]) for n in TARGETS},
    }
    for stat in ("median", "p95"):
        out[f"ratio_{stat}"] = out["summaries"]["product"][stat] / out["summaries"]["floor"][stat]
        out[f"relay_ratio_{stat}"] = (
            out["summaries"]["relay"][stat] / out["summaries"]["product"][stat]
        )
    return out


def headline(d: dict) -> str:
    p, f = d["summaries"]["product"], d["summaries"]["floor"]
    return (
        f"product {ms(p['median'])} median, {ms(p['p95'])} p95 ({p['calls']} calls, "
        f"{len(p['failures'])} failed) = {d['ratio_median']:.2f}x / {d['ratio_p95']:.2f}x "
        f"the floor ({ms(f['median'])} / {ms(f['p95'])})"
    )


def render(d: dict) -> str:
    s = d["summaries"]
    targets = [name for name in TARGETS if name in s]
    out = [
        when(d),
        "",
        "| | calls | failed (no video in 20 s) | median | p95 |",
        "|---|---|---|---|---|",
    ]
    for name in targets:
        v = s[name]
        out.append(
            f"| {name} | {v['calls']} | {len(v['failures'])} | {ms(v['median'])} | {ms(v['p95'])} |"
        )
    out += [
        f"| **ratio product / floor** | | | **{d['ratio_median']:.2f}x** | "
        f"**{d['ratio_p95']:.2f}x** |",
    ]
    if "relay" in s:
        out.append(
            f"| **ratio relay / product** (relay-only through the local coturn) | | | "
            f"**{d['relay_ratio_median']:.2f}x** | **{d['relay_ratio_p95']:.2f}x** |"
        )
    out += [
        "",
        "Person 2's milestones (median ms after person 2's navigation start):",
        "",
        "| milestone | " + " | ".join(targets) + " |",
        "|---" * (len(targets) + 1) + "|",
    ]
    for key, label in MILESTONES.items():
        cells = [
            f"{s[n]['milestones'][key]['median']:.0f}"
            if s[n]["milestones"].get(key, {}).get("n")
            else "n/a"
            for n in targets
        ]
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def chart(d: dict, path: Path) -> None:
    """docs/ttff.png: the distribution of both targets' times to first frame."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.2))
    for name in [name for name in TARGETS if name in d["summaries"]]:
        color = COLORS[name]
        v = d["summaries"][name]
        xs = sorted(v["ttff_ms"])
        label = f"{name}: median {v['median']:.0f} ms, p95 {v['p95']:.0f} ms (n={len(xs)})"
        ax.step(
            xs,
            [(i + 1) / len(xs) for i in range(len(xs))],
            where="post",
            lw=2,
            color=color,
            label=label,
        )
    ax.set(
        xlabel="second person opens the link -> both sides decode video (ms)",
        ylabel="fraction of calls",
        title=f"Time to first frame, 1:1 on loopback (product/floor {d['ratio_median']:.2f}x)",
    )
    ax.legend(loc="lower right", fontsize=9)
    ax.grid(alpha=0.3)
    fig.text(0.01, 0.01, when(d), fontsize=6, color="#555")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=24, help="measured calls per target")
    parser.add_argument("--warmup", type=int, default=2, help="discarded calls per target")
    main("ttff", parser, run, headline)
