"""Helpers to run the real function on recorded events (tests/events/*.json).

A fake Management API (FakeGateway) records what was posted to each connection; `World` and
`Browser` drive the function (built by ``build_handler`` from settings parsed out of an
environment of the world's own, as the Lambda module does) the way API Gateway does. Used by
tests/adapter (DynamoDB in moto) and tests/concurrency (DynamoDB Local).
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.exceptions import ClientError

from p2pchat import table_spec
from p2pchat.function import build_handler
from p2pchat.observability import Metrics
from p2pchat.protocol import CLIENT_ACTIONS, server_messages
from p2pchat.settings import Settings, Var
from tests.support import SITE, TEST_REGION, LambdaContext, load_event


def gone_error(operation: str) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": "GoneException", "Message": ""},
            "ResponseMetadata": {"HTTPStatusCode": 410},
        },
        operation,
    )


class FakeGateway:
    """The Management API as the handler sees it: frames per connection, gone connections."""

    def __init__(self) -> None:
        self.frames: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.gone: set[str] = set()
        self.deleted: list[str] = []
        self.checked: list[str] = []
        self.endpoints: list[str] = []
        self.last_active: dict[str, datetime] = {}  # default: now
        self._lock = threading.Lock()

    def post_to_connection(self, *, ConnectionId: str, Data: bytes) -> None:
        with self._lock:
            if ConnectionId in self.gone:
                raise gone_error("PostToConnection")
            # Every frame the server sends must be a valid protocol v1 server frame.
            server_messages().validate_json(Data)
            self.frames[ConnectionId].append(json.loads(Data))

    def get_connection(self, *, ConnectionId: str) -> dict[str, Any]:
        with self._lock:
            self.checked.append(ConnectionId)
            if ConnectionId in self.gone:
                raise gone_error("GetConnection")
            now = datetime.now(UTC)  # botocore parses the timestamps into aware datetimes
            return {
                "ConnectedAt": now - timedelta(minutes=5),
                "LastActiveAt": self.last_active.get(ConnectionId, now),
            }

    def delete_connection(self, *, ConnectionId: str) -> None:
        with self._lock:
            self.deleted.append(ConnectionId)
            if ConnectionId in self.gone:
                raise gone_error("DeleteConnection")
            self.gone.add(ConnectionId)

    def factory(self, endpoint: str, region: str) -> FakeGateway:
        self.endpoints.append(endpoint)
        return self


class Browser:
    """One browser tab: a connection id, and the frames the server posted to it."""

    def __init__(self, world: World, conn: str) -> None:
        self.world = world
        self.conn = conn

    @property
    def frames(self) -> list[dict[str, Any]]:
        return self.world.gateway.frames[self.conn]

    def take(self) -> list[dict[str, Any]]:
        """The frames received since the last take."""
        frames = list(self.frames)
        self.frames.clear()
        return frames

    def connect(self, origin: str | None = SITE) -> dict[str, Any]:
        event = load_event("connect")
        event["requestContext"]["connectionId"] = self.conn
        for headers in (event["headers"], event["multiValueHeaders"]):
            headers.pop("Origin")
        if origin is not None:
            event["headers"]["Origin"] = origin
            event["multiValueHeaders"]["Origin"] = [origin]
        return self.world.invoke(event)

    def disconnect(self) -> dict[str, Any]:
        event = load_event("disconnect")
        event["requestContext"]["connectionId"] = self.conn
        return self.world.invoke(event)

    def send(self, message: dict[str, Any] | str) -> dict[str, Any]:
        body = message if isinstance(message, str) else json.dumps(message)
        return self.world.invoke(self.world.message_event(self.conn, body))

    def join(self, room: str, name: str, session: str | None = None) -> dict[str, Any]:
        message = {"action": "join", "room": room, "name": name}
        if session is not None:
            message["session"] = session
        self.send(message)
        frames = self.take()
        assert frames and frames[0]["type"] == "joined", frames
        return frames[0]


class World:
    """One deployment: a table, a fake Management API, and the function built from ``env``
    (the variables the CDK stack would set; ``setenv`` rebuilds it as a new deployment)."""

    def __init__(
        self,
        db: Any,
        gateway: FakeGateway,
        table: str = table_spec.LOCAL_TABLE_NAME,
        env: dict[str, str] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.db = db
        self.gateway = gateway
        self.table = table
        self.env = {Var.TABLE_NAME: table, Var.AWS_REGION: TEST_REGION, **(env or {})}
        self.metrics = metrics or Metrics()
        self.now: float | None = None  # None: the real clock; else a fixed epoch time
        # The function's other AWS clients (Secrets Manager, Kinesis Video Streams) come from
        # this session: moto's when a mock is active.
        self.session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=TEST_REGION
        )
        self._template = load_event("message_ping")
        self.rebuild()

    def rebuild(self) -> None:
        self.settings = Settings.from_env(self.env)
        self.function = build_handler(
            self.settings,
            session=self.session,
            dynamodb=self.db,
            management=self.gateway.factory,
            metrics=self.metrics,
            clock=lambda: time.time() if self.now is None else self.now,
        )

    def setenv(self, name: str, value: str) -> None:
        self.env[name] = value
        self.rebuild()

    def message_event(self, conn: str, body: str) -> dict[str, Any]:
        event = copy.deepcopy(self._template)
        event["requestContext"]["connectionId"] = conn
        # API Gateway picks the route from $request.body.action; unknown actions go to $default.
        try:
            action = json.loads(body).get("action")
        except (ValueError, AttributeError, RecursionError):
            action = None
        event["requestContext"]["routeKey"] = (
            action if isinstance(action, str) and action in CLIENT_ACTIONS else "$default"
        )
        event["body"] = body
        return event

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        return self.function(event, LambdaContext())

    def browser(self, conn: str) -> Browser:
        return Browser(self, conn)

    def dump(self) -> list[dict[str, Any]]:
        """Every membership item in the table (tests only; the function itself never scans).
        The fair-use counters (RATE#) are left out: every message writes one."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": self.table, "ConsistentRead": True}
        while True:
            page = self.db.scan(**kwargs)
            items.extend(
                i for i in page["Items"] if not i["pk"]["S"].startswith(table_spec.RATE_PREFIX)
            )
            if "LastEvaluatedKey" not in page:
                return sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def item(self, pk: str) -> dict[str, Any] | None:
        return next((i for i in self.dump() if i["pk"]["S"] == pk), None)

    def members(self, room: str) -> dict[str, dict[str, Any]]:
        item = self.item(table_spec.ROOM_PREFIX + room)
        return item["members"]["M"] if item else {}

