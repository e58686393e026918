"""The boto3 clients the function uses, made from one session with explicit settings.

Made once per container (per Management API endpoint for that API) and shared by every
invocation and thread: boto3 clients are thread-safe, sessions are not, hence the lock.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

DYNAMODB_ATTEMPTS = 4  # botocore's standard retries: throttling and transient errors only
MANAGEMENT_ATTEMPTS = 3


class Clients:
    def __init__(self, session: boto3.session.Session | None = None) -> None:
        self._session = session or boto3.session.Session()
        self._lock = threading.Lock()
        self._management: dict[tuple[str, str], Any] = {}

    def _client(self, service: str, endpoint: str | None, region: str, attempts: int) -> Any:
        with self._lock:
            return self._session.client(
                service,
                endpoint_url=endpoint,
                region_name=region,
                config=Config(
                    connect_timeout=2,
                    read_timeout=5,
                    retries={"mode": "standard", "max_attempts": attempts},
                ),
            )

    def dynamodb(self, endpoint: str | None, region: str) -> Any:
        return self._client("dynamodb", endpoint, region, DYNAMODB_ATTEMPTS)

    def secrets(self, region: str) -> Any:
        return self._client("secretsmanager", None, region, DYNAMODB_ATTEMPTS)

    def kinesisvideo(self, region: str) -> Any:
        return self._client("kinesisvideo", None, region, DYNAMODB_ATTEMPTS)

    def kvs_signaling(self, endpoint: str, region: str) -> Any:
        """Kinesis Video Streams' signaling data plane at a channel's HTTPS endpoint."""
        return self._client("kinesis-video-signaling", endpoint, region, DYNAMODB_ATTEMPTS)

    def management(self, endpoint: str, region: str) -> Any:
        """The Management API client for one endpoint (https://{domainName}/{stage})."""
        key = (endpoint, region)
        client = self._management.get(key)
        if client is None:
            client = self._client("apigatewaymanagementapi", endpoint, region, MANAGEMENT_ATTEMPTS)
            client = self._management.setdefault(key, client)
        return client
