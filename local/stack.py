"""The whole local stack (``python -m local``) as a child process, for tests and scripts.

Usage::

    with start_local_stack(MAX_PEERS="4") as stack:
        page.goto(stack.http_url)          # http://127.0.0.1:<free port>
        ...                                # stack.ws_url, stack.port, stack.output()

A child process per configuration, because the handler reads its settings from the
environment: each stack gets exactly the settings it was started with, as a Lambda would.
The child's output is kept (``output()``) and printed by the ``local_stack`` fixture on failure.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from local import ROOT
from local.dynamodb import die_with_parent

READY = re.compile(r"running at http://localhost:(\d+)/")
STOP_SECONDS = 30.0  # a bound; it takes about a second


class StackFailed(RuntimeError):
    """The child exited before it was ready; the message ends with its output."""


@dataclass
class LocalStack:
    port: int
    process: subprocess.Popen
    lines: list[str] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def output(self) -> str:
        with self.changed:
            return "".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match:
        """The first match of ``pattern`` in the output, once it has been printed."""
        regex = re.compile(pattern)
        with self.changed:
            self.changed.wait_for(lambda: regex.search("".join(self.lines)), timeout)
            match = regex.search("".join(self.lines))
        if match is None:
            raise AssertionError(f"{pattern!r} not in the output:\n{self.output()}")
        return match

    def stop(self, sig: int = signal.SIGINT) -> int:
        """SIGINT (what Ctrl-C sends) by default; SIGKILL only if it hangs. Its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@contextlib.contextmanager
def start_local_stack(port: int = 0, **settings: str) -> Iterator[LocalStack]:
    """Start ``python -m local`` on ``port`` (0: a free one) with extra environment
    ``settings`` (e.g. ``MAX_PEERS="4"``, ``LOCAL_DYNAMODB="moto"``); stop it on exit."""
    env = {**os.environ, **settings, "PORT": str(port), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "local"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own group: a Ctrl-C at the terminal reaches pytest only
        preexec_fn=die_with_parent,  # and it dies if the test process is killed
    )
    lines: list[str] = []
    ready_port = None
    for line in process.stdout:
        lines.append(line)
        if match := READY.search(line):
            ready_port = int(match.group(1))
            break
    if ready_port is None:
        process.wait()
        raise StackFailed(f"python -m local exited with {process.returncode}:\n{''.join(lines)}")
    stack = LocalStack(ready_port, process, lines)
    drain = threading.Thread(target=_keep, args=(stack,), daemon=True)
    drain.start()
    try:
        yield stack
    finally:
        stack.stop()
        drain.join()


def _keep(stack: LocalStack) -> None:
    for line in stack.process.stdout:
        with stack.changed:
            stack.lines.append(line)
            stack.changed.notify_all()
    stack.process.stdout.close()
