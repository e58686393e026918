"""Fixtures for the adapter tests: the real handler, recorded events, DynamoDB in moto.

Order matters (moto's advice): fake credentials first, then the mock, then the table.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto import mock_aws
from p2pchat import handler

from tests.adapter.handler_harness import ENV, UNSET, FakeGateway, World, create_table


@pytest.fixture(scope="session")
def db_client() -> Any:
    """Made once: creating a boto3 client costs 0.1 to 0.3 s. moto intercepts it (and the
    handler's cached clients) whenever a mock is active, whenever the client was made."""
    return boto3.session.Session().client(
        "dynamodb",
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials before anything touches boto3, so no test can reach real AWS."""
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    for key in UNSET:
        monkeypatch.delenv(key, raising=False)


@pytest.fixture
def world(aws_credentials: None, db_client: Any) -> Any:
    gateway = FakeGateway()
    with mock_aws():
        create_table(db_client)
        handler.set_poster_factory(gateway.factory)
        try:
            yield World(db_client, gateway)
        finally:
            handler.set_poster_factory(None)
