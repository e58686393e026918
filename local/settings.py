"""What the imitation of API Gateway can be told, and the app state its parts share.

Built explicitly (``python -m local`` reads the environment into it in ``local.__main__``);
the defaults are API Gateway's quotas (FACTS.md: "Quotas for configuring and running a
WebSocket API").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from local import ROOT
from p2pchat.settings import DEFAULT_ICE_TRANSPORT_POLICY, ICE_TRANSPORT_POLICIES

WS_PATH = "/ws"
KB = 1024


@dataclass(frozen=True)
class Settings:
    stage: str = "local"
    api_id: str = "local"
    routes: frozenset[str] = frozenset()  # route keys besides $connect/$disconnect/$default
    idle_timeout: float = 600.0  # 10 minutes
    max_duration: float = 7200.0  # 2 hours
    frame_limit: int = 32 * KB
    message_limit: int = 128 * KB
    # Fair serving (local/fairness.py; docs/local-stack.md). Message invocations of all
    # connections running at once, and of one connection; what one connection may have
    # waiting (past it its frames are dropped and counted in the log).
    max_workers: int = 32
    connection_concurrency: int = 4
    connection_queue: int = 64  # messages
    connection_queue_bytes: int = 1024 * KB
    # $connect and $disconnect run on threads of their own, never behind messages.
    lifecycle_workers: int = 4
    # What the gateway holds for one connection that reads slower than it is posted to
    # (queued frames and the socket's write buffer); past it a post answers 429
    # LimitExceededException, as AWS's "the WebSocket client side buffer is full".
    send_buffer_bytes: int = 1024 * KB
    thread_name: str = "lambda"  # the invocations' threads: <thread_name>_0, _1, ...
    static_dir: Path | None = ROOT / "frontend"
    function_name: str = "p2pchat-local"  # the Lambda context's
    region: str = "us-east-1"
    ice_transport_policy: str = DEFAULT_ICE_TRANSPORT_POLICY  # served in /config.json

    def __post_init__(self) -> None:
        if self.send_buffer_bytes < self.message_limit:
            raise ValueError("send_buffer_bytes must hold one message (message_limit)")
        if self.ice_transport_policy not in ICE_TRANSPORT_POLICIES:
            raise ValueError(
                f"ice_transport_policy must be one of {', '.join(ICE_TRANSPORT_POLICIES)}, "
                f"not {self.ice_transport_policy!r}"
            )


SETTINGS = web.AppKey("settings", Settings)
LOG = web.AppKey("log", logging.Logger)  # a line per connection event
