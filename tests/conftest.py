"""Fixtures shared by every test folder.

- ``dynamodb_endpoint`` (session): a running DynamoDB Local (Amazon's emulator, from
  node_modules), e.g. ``http://127.0.0.1:41234``. Any credentials work; it runs with
  ``-sharedDb``, so region and key id do not matter either. Never skipped: a missing java or
  missing jars fail the test (``make test`` installs both).
- ``fresh_table`` (function): the name of a new, empty table on ``dynamodb_endpoint``, built
  from ``p2pchat.table_spec``, deleted after the test.
- ``local_stack`` (session): the whole product (``local.stack``, what ``python -m local``
  runs) in this process, on a thread of its own, on a free port, with the real function, on
  the session's DynamoDB Local (table ``p2pchat-local``); ``.http_url``, ``.ws_url``,
  ``.port``, ``.output()`` and ``.wait_for(regex)`` (its log lines).
  ``local.stack.start_local_stack(**settings)`` starts another one with other settings (e.g.
  ``max_peers=4``), in this process too, as a context manager.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from local import dynamodb
from local.stack import LocalStack, StackFailed, start_local_stack


@pytest.fixture(scope="session")
def dynamodb_endpoint() -> Iterator[str]:
    try:
        database = dynamodb.start_dynamodb_local()
    except dynamodb.DatabaseUnavailable as error:
        pytest.fail(f"DynamoDB Local cannot start: {error}", pytrace=False)
    with database:
        yield database.endpoint


@pytest.fixture
def fresh_table(dynamodb_endpoint: str) -> Iterator[str]:
    name = f"p2pchat-test-{uuid.uuid4().hex[:12]}"
    dynamodb.create_table(dynamodb_endpoint, name)
    yield name
    dynamodb.delete_table(dynamodb_endpoint, name)


@pytest.fixture(scope="session")
def local_stack(dynamodb_endpoint: str) -> Iterator[LocalStack]:
    # On the session's DynamoDB Local (one JVM for the session, not two); starting and
    # stopping a JVM of its own is what tests/local/test_stack.py checks.
    try:
        with start_local_stack(dynamodb_endpoint=dynamodb_endpoint) as stack:
            yield stack
    except StackFailed as error:
        pytest.fail(str(error), pytrace=False)
