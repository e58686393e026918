"""The local stack run inside the bench's own process, with the handler instrumented.

Same parts as `python -m local` (local.gateway's app around p2pchat.handler.lambda_handler,
DynamoDB Local from local.dynamodb, the table from table_spec), but the handler is wrapped
by bench.instrument (durations, DynamoDB requests and capacity, Management API posts) and the
gateway runs in a background thread so the bench can drive it from the main thread.

    with instrumented_stack() as stack:
        stack.ws_url, stack.http_url, stack.recorder, stack.endpoint, stack.table
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from bench.common import FAKE_AWS_ENV, add_lambdas_to_path, free_port
from bench.instrument import RECORDER, Recorder, install_botocore_hook, wrap_handler

ROUTES = frozenset({"join", "signal", "leave", "ping"})


@dataclass
class Stack:
    http_url: str
    ws_url: str
    endpoint: str  # DynamoDB
    table: str
    recorder: Recorder


class _DropEMF:
    """stdout without Powertools' EMF metric lines (still written, as in Lambda, then dropped)."""

    def __init__(self, stream) -> None:
        self._stream = stream
        self._dropped = False

    def write(self, text: str) -> int:
        if text.startswith('{"_aws"') or (self._dropped and text == "\n"):
            self._dropped = text != "\n"
            return len(text)
        self._dropped = False
        return self._stream.write(text)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


@contextlib.contextmanager
def database(endpoint: str | None = None) -> Iterator[str]:
    """DynamoDB Local from the local stack's own starter (stopped on exit), or `endpoint`."""
    add_lambdas_to_path()
    if endpoint:
        yield endpoint
        return
    from local import dynamodb

    db = dynamodb.start_dynamodb_local()
    try:
        yield db.endpoint
    finally:
        db.stop()


@contextlib.contextmanager
def instrumented_stack(
    endpoint: str | None = None, table: str = "p2pchat-bench", extra_env: dict | None = None
) -> Iterator[Stack]:
    add_lambdas_to_path()
    for key, value in FAKE_AWS_ENV.items():
        os.environ.setdefault(key, value)
    install_botocore_hook()
    with database(endpoint) as db_endpoint:
        from local import dynamodb

        dynamodb.create_table(db_endpoint, table)
        port = free_port()
        env = {
            "DYNAMODB_ENDPOINT": db_endpoint,
            "TABLE_NAME": table,
            "APIGW_ENDPOINT": f"http://127.0.0.1:{port}/local",
            "ICE_SERVERS": "[]",  # loopback calls need no STUN
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "POWERTOOLS_METRICS_DISABLED": "true",
            **(extra_env or {}),
        }
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        stdout = sys.stdout
        sys.stdout = _DropEMF(stdout)
        from p2pchat.handler import lambda_handler

        from local.gateway import Settings, create_app, serve

        app = create_app(wrap_handler(lambda_handler), Settings(routes=ROUTES, stage="local"))
        loop = asyncio.new_event_loop()
        ready = threading.Event()
        state: dict = {}

        async def start() -> None:
            state["runner"] = await serve(app, "127.0.0.1", port)

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(start())
            except BaseException as exc:
                state["error"] = exc
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(state["runner"].cleanup())
            loop.close()

        thread = threading.Thread(target=run, daemon=True, name="bench-gateway")
        thread.start()
        if not ready.wait(30) or "error" in state:
            raise RuntimeError(f"gateway did not start: {state.get('error')}")
        try:
            yield Stack(
                http_url=f"http://127.0.0.1:{port}",
                ws_url=f"ws://127.0.0.1:{port}/ws",
                endpoint=db_endpoint,
                table=table,
                recorder=RECORDER,
            )
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(15)
            sys.stdout = stdout
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
