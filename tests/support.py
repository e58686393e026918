"""What the tests share: recorded API Gateway events, a Lambda context, the table, and the
function built for a test with explicit settings (never through os.environ).

- ``load_event(name)``: a recorded event from tests/events/.
- ``LambdaContext``: the local stack's context object (one definition, local/events.py).
- ``create_table``: the table from ``p2pchat.table_spec`` (one definition, local/dynamodb.py).
- ``settings(**fields)``: the function's settings for a test (``p2pchat.settings.Settings``).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from local.dynamodb import create_table as create_table
from local.events import LambdaContext as LambdaContext
from p2pchat.settings import Settings

EVENTS = Path(__file__).resolve().parent / "events"
SITE = "https://d1example.cloudfront.net"
TEST_REGION = "eu-west-1"


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


def settings(**fields: Any) -> Settings:
    """The defaults a deployed function has with no optional setting, in the test region."""
    return replace(Settings(region=TEST_REGION), **fields)
