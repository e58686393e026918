"""Fixtures for the adapter tests: the real function, recorded events, DynamoDB in moto.

Order matters (moto's advice): fake credentials first, then the mock, then the table. The
credentials are the test client's own; the function is handed that client.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.adapter.handler_harness import FakeGateway, World
from tests.support import TEST_REGION, create_table


@pytest.fixture(scope="session")
def db_client() -> Any:
    """Made once: creating a boto3 client costs 0.1 to 0.3 s. moto intercepts it whenever a
    mock is active, whenever the client was made."""
    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=TEST_REGION
    ).client("dynamodb")


@pytest.fixture
def world(db_client: Any) -> Any:
    with mock_aws():
        create_table(db_client)
        yield World(db_client, FakeGateway())
