"""docs/ttff.png: the time-to-first-frame distribution, product against floor, and where the
time goes (median milestones). Drawn from a bench.ttff result.

    .venv/bin/python -m bench.chart   # redraw from bench/results/ttff.json
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.common import RESULTS, ROOT

OUT = ROOT / "docs" / "ttff.png"
COLORS = {"floor": "#7a869a", "floor-bare": "#b8c0cc", "product": "#2f7ed8",
          "baseline": "#9b59b6", "page-on-floor": "#17a589"}
ORDER = ("floor-bare", "floor", "page-on-floor", "product", "baseline")  # the legend's order
PHASES = [  # (label, end milestone); each bar segment runs from the previous end
    ("page load", "p2.dcl"),
    ("WebSocket open", "p2.ws.open"),
    ("joined", "p2.joined"),
    ("offer sent", "offer.sent"),
    ("answer applied", "answer.applied"),
    ("ICE connected", "ice.connected"),
    ("first frame, both", "frame"),
]
PHASE_COLORS = ["#c9d6ea", "#9fb8dc", "#7b9fd0", "#f2b880", "#e98f4f", "#8cc084", "#4f9a52"]


def ttff_chart(result: dict, out: Path = OUT) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = result["summaries"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.6), gridspec_kw={"width_ratios": [1.1, 1]})
    for name in [n for n in ORDER if n in s]:
        xs = sorted(s[name]["ttff_ms"])
        if not xs:
            continue
        ys = [(i + 1) / len(xs) for i in range(len(xs))]
        ax1.step(xs, ys, where="post", color=COLORS[name], lw=2,
                 label=f"{name}: median {s[name]['median']:.0f} ms, p95 {s[name]['p95']:.0f} ms "
                       f"(n={len(xs)})")  # fmt: skip
        ax1.plot(xs, [0.0] * len(xs), "|", color=COLORS[name], ms=12, alpha=0.6)
    ax1.set_xlabel("second person opens the link -> both sides decode video (ms)")
    ax1.set_ylabel("fraction of calls")
    ax1.set_ylim(-0.05, 1.02)
    ax1.grid(alpha=0.3)
    ratio = result.get("ratio_median")
    title = "Time to first frame, 1:1 call on loopback"
    if ratio:
        title += f" (product/floor median {ratio:.2f}x)"
    ax1.set_title(title, fontsize=11)
    ax1.legend(loc="lower right", fontsize=9)

    rows = [n for n in reversed(ORDER) if n in s]  # the fastest at the bottom
    for row, name in enumerate(rows):
        miles = s[name]["milestones"]
        start = 0.0
        for (label, key), color in zip(PHASES, PHASE_COLORS, strict=True):
            m = miles.get(key, {})
            end = m.get("median") if m.get("n") else None
            if end is None or end != end:
                continue
            ax2.barh(row, max(0.0, end - start), left=start, color=color, edgecolor="white",
                     label=label if row == 0 else None)  # fmt: skip
            start = max(start, end)
    ax2.set_yticks(list(range(len(rows))), rows)
    ax2.set_xlabel("median time of each milestone after the second person's navigation (ms)")
    ax2.set_title("Where the time goes (medians)", fontsize=11)
    ax2.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=4, frameon=False)
    ax2.grid(axis="x", alpha=0.3)
    m = result.get("machine", {})
    fig.text(0.01, 0.01, f"{m.get('date', '')} · {m.get('cpu', '')} · {m.get('cores', '')} cores"
             f" (shared; load average {m.get('load_average_1_5_15', '?')}) · "
             f"{result.get('command', '')}", fontsize=7, color="#555")  # fmt: skip
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    out.parent.mkdir(exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main() -> None:
    result = json.loads((RESULTS / "ttff.json").read_text())
    print(f"CHART: {ttff_chart(result).relative_to(ROOT)}")


if __name__ == "__main__":
    main()
