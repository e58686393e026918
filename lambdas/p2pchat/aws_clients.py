"""boto3 clients, created once per container and shared by every invocation (and thread).

One client per (service, endpoint, region): the Management API endpoint comes from each event,
and the local stack points DynamoDB elsewhere with DYNAMODB_ENDPOINT.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

_clients: dict[tuple[str, str | None, str], Any] = {}
_clients_lock = threading.Lock()


def cached_client(service: str, endpoint: str | None, region: str, *, max_attempts: int) -> Any:
    key = (service, endpoint, region)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = boto3.session.Session().client(
                service,
                endpoint_url=endpoint,
                region_name=region,
                config=Config(
                    connect_timeout=2,
                    read_timeout=5,
                    retries={"mode": "standard", "max_attempts": max_attempts},
                ),
            )
            _clients[key] = client
        return client
