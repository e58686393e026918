"""`make bench` (= `.venv/bin/python -m bench`): every benchmark, one after the other.

Each runs in its own process exactly as its own command would (`python -m bench.<name>`),
so a failure in one does not stop the others; raw results go to bench/results/*.json, the
chart to docs/ttff.png, and the figures are written up by hand in docs/benchmarks.md.

    .venv/bin/python -m bench            # everything (about 30 min on 2 cores: the 100,000-room
                                         # fill takes most of it)
    .venv/bin/python -m bench --quick    # smaller counts, about 5 min
    .venv/bin/python -m bench coldstart ttff
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from bench.common import PYTHON, ROOT

BENCHES = {
    "coldstart": ([], ["--runs", "5"]),
    "throughput": ([], ["--seconds", "5"]),
    "cost": ([], ["--calls", "2", "--quiet", "3"]),
    "ttff": ([], ["--calls", "5", "--warmup", "1"]),
    "scale": ([], ["--big", "10000", "--pairs", "5", "--signals", "5", "--rounds", "2"]),
}
TIMEOUT_S = 3600


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", metavar="name", help=f"any of {', '.join(BENCHES)}")
    parser.add_argument("--quick", action="store_true", help="smaller counts")
    args = parser.parse_args()
    names = args.names or list(BENCHES)
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}: choose from {', '.join(BENCHES)}")
    headlines: list[tuple[str, str]] = []
    failed = 0
    for name in names:
        full, quick = BENCHES[name]
        cmd = [PYTHON, "-m", f"bench.{name}", *(quick if args.quick else full)]
        print(f"\n=== {' '.join(cmd[1:])}", flush=True)
        started = time.monotonic()
        lines: list[str] = []
        try:
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)  # fmt: skip
            assert proc.stdout is not None
            for line in proc.stdout:
                print(line, end="", flush=True)
                if line.strip():
                    lines.append(line.rstrip())
            rc = proc.wait(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = -1
        took = time.monotonic() - started
        if rc == 0 and lines:
            headlines.append((name, f"{lines[-1]}  [{took:.0f} s]"))
        else:
            failed += 1
            headlines.append((name, f"FAILED (exit {rc}) after {took:.0f} s"))
    print("\n=== headlines")
    for name, line in headlines:
        print(f"{name:<11} {line}")
    tail = f", {failed} failed" if failed else ""
    print(f"BENCH: {len(names) - failed} of {len(names)} benchmarks ran{tail}; "
          "details in docs/benchmarks.md")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
