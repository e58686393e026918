"""Children that never outlive the stack: a parent-death signal, and stopping a child that
runs in a process group of its own (DynamoDB Local's JVM, coturn, a stack)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
from collections.abc import Sequence

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In the child between fork and exec (``preexec_fn``): SIGKILL when the parent thread
    goes away, even when Python is killed with SIGKILL."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


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
