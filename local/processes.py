"""Stopping a child that runs in a process group of its own (DynamoDB Local's JVM, a stack)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Sequence


def stop_group(
    proc: subprocess.Popen,
    signals: Sequence[signal.Signals] = (signal.SIGTERM, signal.SIGKILL),
    grace: float = 5.0,
) -> None:
    """Signal the child's whole process group with each signal in turn until the child exits,
    giving each `grace` seconds (the last one as long as it takes), and reap it.

    The group is signalled even when the child itself has exited: its own children may not.
    """
    for index, sig in enumerate(signals):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        last = index == len(signals) - 1
        try:
            proc.wait(timeout=None if last else grace)
            return
        except subprocess.TimeoutExpired:
            continue
