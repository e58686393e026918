"""Fixtures of the gateway tests (helpers in kit.py)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from local import gateway
from tests.local.kit import Served


@pytest.fixture
def serve_gateway() -> Iterator[Callable[..., Served]]:
    """``serve_gateway(handler, **settings)``: the gateway on a free loopback port, run by an
    event loop in its own thread (so tests may block in boto3 calls), stopped after the test."""
    started: list[tuple[Served, Any, threading.Thread]] = []

    def start(handler: Callable, **settings: Any) -> Served:
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, daemon=True, name="gateway")
        thread.start()
        app = gateway.create_app(handler, gateway.Settings(**settings))
        runner = asyncio.run_coroutine_threadsafe(gateway.serve(app, "127.0.0.1", 0), loop).result()
        served = Served(app, runner.addresses[0][1], loop)
        started.append((served, runner, thread))
        return served

    yield start
    for served, runner, thread in started:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), served.loop).result()
        served.loop.call_soon_threadsafe(served.loop.stop)
        thread.join()
        served.loop.close()
