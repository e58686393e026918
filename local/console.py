"""Readable console lines for ``python -m local``: the handler's Powertools output (JSON log
records and EMF metric blobs, one per line on stdout) shown as short lines like the gateway's.

    {"level":"WARNING","message":"refused ...","origin":"https://x","service":"p2pchat",...}
    ->  09:44:10 handler    WARNING refused ... origin=https://x
    {"_aws":{...,"Metrics":[{"Name":"Joins",...}]},"service":"p2pchat","Joins":[1.0]}
    ->  09:44:10 metric     Joins=1 service=p2pchat   (or dropped: ``metrics=False``)
"""

from __future__ import annotations

import io
import json
import threading
import time
from typing import Any, TextIO

# Keys every Powertools record carries: noise on a console.
_ROUTINE = {
    "level", "message", "timestamp", "service", "location", "cold_start", "function_name",
    "function_memory_size", "function_arn", "function_request_id", "sampling_rate",
    "xray_trace_id", "correlation_id",
}  # fmt: skip


def compact(line: str) -> str:
    """One JSON record as a short line; anything else unchanged."""
    if not line.startswith("{"):
        return line
    try:
        record: Any = json.loads(line)
    except ValueError:
        return line
    if not isinstance(record, dict):
        return line
    stamp = time.strftime("%H:%M:%S")
    if "_aws" in record:
        try:
            names = [m["Name"] for d in record["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]]
            dims = [
                k for d in record["_aws"]["CloudWatchMetrics"] for g in d["Dimensions"] for k in g
            ]
        except (KeyError, TypeError):
            return line
        values = " ".join(f"{n}={_number(record.get(n))}" for n in names)
        extra = " ".join(f"{k}={record.get(k)}" for k in dict.fromkeys(dims))
        return f"{stamp} metric     {values} {extra}".rstrip()
    if "level" in record and "message" in record:
        extra = " ".join(f"{k}={v}" for k, v in record.items() if k not in _ROUTINE)
        return f"{stamp} handler    {record['level']} {record['message']} {extra}".rstrip()
    return line


def _number(value: Any) -> str:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    return f"{value:g}" if isinstance(value, float) else str(value)


class CompactStream(io.TextIOBase):
    """A text stream that writes whole lines to ``target``, each through ``compact``.
    Handler invocations write from many threads, and ``print`` writes a line in two calls:
    each thread's partial line waits in its own buffer."""

    def __init__(self, target: TextIO, *, metrics: bool = True) -> None:
        self._target = target
        self._metrics = metrics
        self._pending: dict[int, str] = {}
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        me = threading.get_ident()
        with self._lock:
            *lines, rest = (self._pending.pop(me, "") + text).split("\n")
            if rest:
                self._pending[me] = rest
            for line in lines:
                if not self._metrics and line.startswith('{"_aws":'):
                    continue  # an EMF metric blob: CloudWatch's business, not the console's
                self._target.write(compact(line) + "\n")
            if lines:
                self._target.flush()
        return len(text)

    def flush(self) -> None:
        with self._lock:
            self._target.flush()
