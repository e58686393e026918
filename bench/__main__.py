"""`make bench` (= `.venv/bin/python -m bench`): every benchmark, then docs/benchmarks.md.

Each benchmark runs in a process of its own (`python -m bench.<name>`) and writes its raw
result to bench/results/ (ignored by git); then the summary and each benchmark's table between
`<!-- begin:NAME -->` and `<!-- end:NAME -->` in docs/benchmarks.md, and docs/ttff.png, are
rendered from those results.

    .venv/bin/python -m bench [NAME ...]    # all (about 30 min on 2 cores), or some
    .venv/bin/python -m bench --quick       # small counts into bench/results/quick/, no docs
    .venv/bin/python -m bench --render      # only render the docs from bench/results/
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import time

from bench.common import PYTHON, RESULTS, ROOT, load_result

# name: (title in the summary table, the counts of --quick)
BENCHES = {
    "ttff": ("1. Time to first frame (product / floor)", ["--calls", "3", "--warmup", "1"]),
    "cost": ("2. Cost of a 1:1 call (us-east-1 on-demand)", ["--calls", "2", "--quiet", "3"]),
    "scale": (
        "3. Flat cost with scale",
        ["--big", "2000", "--pairs", "3", "--signals", "3", "--rounds", "2"],
    ),
    "coldstart": ("4. Cold start (import of the Lambda module)", ["--runs", "3"]),
    "throughput": ("5. Local gateway throughput", ["--seconds", "3", "--warmup", "1"]),
    "flood": (
        "6. Fair serving under attack (another room's ping)",
        ["--seconds", "3", "--flood", "2000", "--connects", "50", "--drain", "60"],
    ),
}
DOC = ROOT / "docs" / "benchmarks.md"
CHART = ROOT / "docs" / "ttff.png"
TIMEOUT_S = 3600


def run(name: str, quick: bool) -> bool:
    quick_args = ["--out", str(RESULTS / "quick"), *BENCHES[name][1]] if quick else []
    cmd = [PYTHON, "-m", f"bench.{name}", *quick_args]
    print(f"\n=== {' '.join(cmd[1:])}", flush=True)
    started = time.monotonic()
    try:
        ok = subprocess.run(cmd, cwd=ROOT, timeout=TIMEOUT_S).returncode == 0
    except subprocess.TimeoutExpired:
        ok = False
    print(f"=== {name}: {'done' if ok else 'FAILED'} in {time.monotonic() - started:.0f} s")
    return ok


def render() -> None:
    """The summary table and each benchmark's section from bench/results/, and the chart."""
    text, rows = DOC.read_text(), ["| benchmark | result |", "|---|---|"]
    for name, (title, _) in BENCHES.items():
        result = load_result(name)
        if result is None:
            continue
        module = importlib.import_module(f"bench.{name}")
        rows.append(f"| {title} | {module.headline(result)} |")
        text = replace(text, name, module.render(result))
        if name == "ttff":
            module.chart(result, CHART)
    DOC.write_text(replace(text, "summary", "\n".join(rows)))
    print(
        f"rendered {DOC.relative_to(ROOT)} and {CHART.relative_to(ROOT)} from "
        f"{RESULTS.relative_to(ROOT)}/"
    )


def replace(text: str, name: str, body: str) -> str:
    begin, end = f"<!-- begin:{name} -->", f"<!-- end:{name} -->"
    head, _, rest = text.partition(begin)
    _, found, tail = rest.partition(end)
    if not found:
        raise SystemExit(f"{DOC.name} has no {begin} ... {end}")
    return f"{head}{begin}\n{body}\n{end}{tail}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "names", nargs="*", metavar="name", help=f"any of {', '.join(BENCHES)} (default: all)"
    )
    parser.add_argument("--quick", action="store_true", help="small counts; docs left alone")
    parser.add_argument("--render", action="store_true", help="only render the docs")
    args = parser.parse_args()
    if unknown := set(args.names) - set(BENCHES):
        parser.error(f"unknown benchmark {sorted(unknown)[0]!r}")
    names = args.names or list(BENCHES)
    failed = [] if args.render else [name for name in names if not run(name, args.quick)]
    if not args.quick:
        render()
    if failed:
        print(f"BENCH: failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
