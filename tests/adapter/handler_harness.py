"""Helpers to run the real handler on recorded events (tests/events/*.json).

A fake Management API (FakeGateway) records what was posted to each connection; `World` and
`Browser` drive lambda_handler the way API Gateway does. Used by tests/adapter (DynamoDB in
moto) and tests/concurrency (DynamoDB Local).
"""

from __future__ import annotations

import copy
import json
import threading
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from p2pchat import handler, table_spec
from p2pchat.protocol import server_message_adapter

EVENTS = Path(__file__).resolve().parent.parent / "events"
SITE = "https://d1example.cloudfront.net"


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


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
        self._lock = threading.Lock()

    def post_to_connection(self, *, ConnectionId: str, Data: bytes) -> None:
        with self._lock:
            if ConnectionId in self.gone:
                raise gone_error("PostToConnection")
            # Every frame the server sends must be a valid protocol v1 server frame.
            server_message_adapter.validate_json(Data)
            self.frames[ConnectionId].append(json.loads(Data))

    def get_connection(self, *, ConnectionId: str) -> dict[str, Any]:
        with self._lock:
            self.checked.append(ConnectionId)
            if ConnectionId in self.gone:
                raise gone_error("GetConnection")
            return {"ConnectedAt": "2026-11-25T09:30:25Z"}

    def delete_connection(self, *, ConnectionId: str) -> None:
        with self._lock:
            self.deleted.append(ConnectionId)
            if ConnectionId in self.gone:
                raise gone_error("DeleteConnection")
            self.gone.add(ConnectionId)

    def factory(self, endpoint: str, region: str) -> FakeGateway:
        self.endpoints.append(endpoint)
        return self


@dataclass
class FakeLambdaContext:
    function_name: str = "p2pchat-signaling"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:p2pchat-signaling"
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e812345678"


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
    def __init__(
        self, db: Any, gateway: FakeGateway, table: str = table_spec.LOCAL_TABLE_NAME
    ) -> None:
        self.db = db
        self.gateway = gateway
        self.table = table
        self._template = load_event("message_ping")

    def message_event(self, conn: str, body: str) -> dict[str, Any]:
        event = copy.deepcopy(self._template)
        event["requestContext"]["connectionId"] = conn
        # API Gateway picks the route from $request.body.action; unknown actions go to $default.
        try:
            action = json.loads(body).get("action")
        except (ValueError, AttributeError, RecursionError):
            action = None
        known = {"join", "signal", "leave", "ping"}
        event["requestContext"]["routeKey"] = (
            action if isinstance(action, str) and action in known else "$default"
        )
        event["body"] = body
        return event

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        return handler.lambda_handler(event, FakeLambdaContext())

    def browser(self, conn: str) -> Browser:
        return Browser(self, conn)

    def dump(self) -> list[dict[str, Any]]:
        """Every item in the table (tests only; the function itself never scans)."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": self.table, "ConsistentRead": True}
        while True:
            page = self.db.scan(**kwargs)
            items.extend(page["Items"])
            if "LastEvaluatedKey" not in page:
                return sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def item(self, pk: str) -> dict[str, Any] | None:
        return next((i for i in self.dump() if i["pk"]["S"] == pk), None)

    def members(self, room: str) -> dict[str, dict[str, Any]]:
        item = self.item(table_spec.ROOM_PREFIX + room)
        return item["members"]["M"] if item else {}


ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_REGION": "eu-west-1",
    "TABLE_NAME": table_spec.LOCAL_TABLE_NAME,
    "POWERTOOLS_METRICS_NAMESPACE": "P2PChat",
    "POWERTOOLS_SERVICE_NAME": "p2pchat",
}
UNSET = ("DYNAMODB_ENDPOINT", "APIGW_ENDPOINT", "MAX_PEERS", "ALLOWED_ORIGINS", "ICE_SERVERS")


def create_table(db: Any) -> None:
    db.create_table(
        TableName=table_spec.LOCAL_TABLE_NAME,
        KeySchema=table_spec.KEY_SCHEMA,
        AttributeDefinitions=table_spec.ATTRIBUTE_DEFINITIONS,
        BillingMode="PAY_PER_REQUEST",
    )
    db.update_time_to_live(
        TableName=table_spec.LOCAL_TABLE_NAME,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": table_spec.TTL_ATTRIBUTE},
    )
