"""The local stack (local.stack, what ``python -m local`` runs) inside the bench's own
process, with the function instrumented through public hooks (bench.instrument): the events
of the boto3 session its clients are made from, and a wrapper timing each invocation.

    with instrumented_stack(table="p2pchat-cost") as stack:
        stack.ws_url, stack.http_url, stack.recorder, stack.endpoint, stack.table
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bench.instrument import Recorder
from local.dynamodb import local_session
from local.stack import local_function, start_local_stack
from p2pchat import observability
from p2pchat.settings import Settings


@dataclass
class Stack:
    http_url: str
    ws_url: str
    endpoint: str  # DynamoDB
    table: str
    recorder: Recorder


@contextlib.contextmanager
def instrumented_stack(
    endpoint: str | None = None, table: str = "p2pchat-bench", **changes: Any
) -> Iterator[Stack]:
    """DynamoDB Local of its own (or ``endpoint``), the table ``table``, and the function
    recorded by ``stack.recorder``; ``changes`` as ``StackSettings.with_changes`` takes them
    (``max_peers=4``…)."""
    # The bench's console shows the function's warnings and errors only (a process-wide
    # logger: Powertools' own, made at import).
    observability.logger.setLevel(logging.WARNING)
    recorder = Recorder()

    def make_handler(settings: Settings):
        session = local_session(settings.region)
        recorder.watch(session)  # before any client is made from it
        return recorder.wrap(local_function(settings, session=session))

    with start_local_stack(
        dynamodb_endpoint=endpoint, table_name=table, make_handler=make_handler, **changes
    ) as stack:
        yield Stack(stack.http_url, stack.ws_url, stack.database.endpoint,
                    stack.function.table_name, recorder)  # fmt: skip
