"""Shared by the benchmarks: statistics, results (bench/results/<name>.json, ignored by git),
child processes, and browser calls with the probe. Everything binds to 127.0.0.1 only."""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import json
import math
import os
import platform
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from local.browser import CHROMIUM, CHROMIUM_ARGS
from local.processes import stop_group

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PYTHON = sys.executable
# The browser benchmarks' outside instrumentation (a Playwright init script): window.__probe.
PROBE = ROOT / "bench" / "probe.js"
# A browser call that shows no video within this long counts as failed.
CALL_TIMEOUT_MS = 20_000


# ---------------------------------------------------------------- statistics


def percentile(values: Sequence[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); NaN when empty."""
    if not values:
        return math.nan
    xs = sorted(values)
    k = (len(xs) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def ms(x: float | None) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{x:.0f} ms"


# ---------------------------------------------------------------- results


def machine() -> dict:
    cpu = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu[1] if cpu else "?",
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }


def load_result(name: str, folder: Path = RESULTS) -> dict | None:
    path = folder / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def when(result: dict) -> str:
    """The line under each rendered table: when, where and how it was measured."""
    m = result["machine"]
    command = result["command"].replace("python -m", ".venv/bin/python -m").strip()
    return (
        f"Run: {m['date']}, {m['cpu']}, {m['cores']} cores, Python {m['python']}; load "
        f"average at the end {m['load_average_1_5_15']}; "
        f"`{command}`."
    )


def main(
    name: str,
    parser: argparse.ArgumentParser,
    run: Callable[[argparse.Namespace], dict],
    headline: Callable[[dict], str],
) -> None:
    """A benchmark's command: run it, write its result, print its headline last."""
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder of the result")
    args = parser.parse_args()
    result = {"command": " ".join(["python -m", f"bench.{name}", *sys.argv[1:]]), **run(args)}
    result["machine"] = machine()  # the load average at the end
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{name}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"raw result: {path}")
    print(f"{name.upper()}: {headline(result)}")


# ---------------------------------------------------------------- processes


@contextlib.contextmanager
def serve(
    module: str,
    *args: str,
    cwd: Path = ROOT,
    env: dict[str, str] | None = None,
    output: list[str] | None = None,
) -> Iterator[tuple[str, subprocess.Popen]]:
    """`python -m <module>` (`local`: what `make run` runs; `bench.floor`) in a process of its
    own on a free port, in `cwd` with `env` added: (its http URL, the process) once it says it
    is running; its output kept in `output` if given; stopped on the way out."""
    proc = subprocess.Popen(
        [PYTHON, "-m", module, *args],
        cwd=cwd,
        env={**os.environ, "PORT": "0", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines = output if output is not None else []
    try:
        for line in proc.stdout:
            lines.append(line)
            if ready := re.search(r"running at http://[^/]+:(\d+)/", line):
                break
        else:
            raise RuntimeError(f"{module} exited with {proc.wait()}:\n{''.join(lines)}")
        drain = functools.partial(collections.deque, maxlen=0)
        keep = lines.extend if output is not None else drain
        threading.Thread(target=keep, args=(proc.stdout,), daemon=True).start()
        yield f"http://127.0.0.1:{ready[1]}", proc
    finally:
        stop_group(proc, (signal.SIGINT, signal.SIGTERM, signal.SIGKILL))


# ---------------------------------------------------------------- browser calls


@contextlib.contextmanager
def chromium() -> Iterator:
    """This machine's Chromium with fake media (local/browser.py), closed on the way out."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def call(browser, origin: str, url: str) -> Iterator[tuple]:
    """A 1:1 call: person 1 opens `url` and waits in the room, person 2 opens it; yields both
    pages once both decode the other's video (an error after CALL_TIMEOUT_MS), closes them on
    the way out. Each person has a fresh context (cold cache, as a person clicking a link)
    with the probe, as a returning visitor: the display name is remembered
    (frontend/js/prefs.js), so no name prompt adds human time."""
    visitor = {
        "cookies": [],
        "origins": [
            {"origin": origin, "localStorage": [{"name": "p2pchat.name", "value": "Bench"}]}
        ],
    }
    contexts = [
        browser.new_context(viewport={"width": 800, "height": 600}, storage_state=visitor)
        for _ in range(2)
    ]
    try:
        for ctx in contexts:
            ctx.add_init_script(path=str(PROBE))
        p1, p2 = (ctx.new_page() for ctx in contexts)
        p1.goto(url, wait_until="load")
        wait_marks(p1, "joined", "gum.end")
        time.sleep(0.3)  # person 1 sits in the room, idle, before person 2 arrives
        p2.goto(url, wait_until="commit")
        for page in (p1, p2):
            wait_marks(page, "frame")
        yield p1, p2
    finally:
        for ctx in contexts:
            ctx.close()


def wait_marks(page, *names: str) -> None:
    """Until the probe has marked all of `names`. Waits on the probe's promise: Playwright's
    wait_for_function polls on every animation frame, which would make the pages draw at 60 Hz."""
    page.evaluate("([names, ms]) => window.__probe.when(names, ms)", [list(names), CALL_TIMEOUT_MS])
