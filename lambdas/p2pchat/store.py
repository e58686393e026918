"""The only DynamoDB code: reads and atomic writes of room, peer and connection items.

Layout in table_spec and docs/table-design.md. Every read is strongly consistent; every write
carries the TTL attribute; every removal is conditional on the connection id it meant; the
room item's version ``v`` makes a join an optimistic transaction that enforces capacity.
No Scan, no Query over more than one room.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import Enum
from typing import Any

from botocore.exceptions import ClientError

from . import table_spec as spec
from .rooms import Binding, JoinPlan, KnownSession, Member, RoomState

PK, SK, TTL = spec.PARTITION_KEY, spec.SORT_KEY, spec.TTL_ATTRIBUTE


class Outcome(Enum):
    """What a conditional transaction did. Retrying is the caller's choice (service.py)."""

    WRITTEN = "written"
    CONDITION_FAILED = "condition-failed"  # the state is not what the write expected
    CONFLICT = "conflict"  # another transaction held an item (TransactionConflict): retry


def room_key(room: str) -> dict[str, Any]:
    return {PK: {"S": spec.ROOM_PREFIX + room}, SK: {"S": spec.ROOM_SORT}}


def peer_key(peer_id: str) -> dict[str, Any]:
    return {PK: {"S": spec.PEER_PREFIX + peer_id}, SK: {"S": spec.PEER_SORT}}


def conn_key(conn: str) -> dict[str, Any]:
    return {PK: {"S": spec.CONNECTION_PREFIX + conn}, SK: {"S": spec.CONNECTION_SORT}}


def rate_key(conn: str, window: int) -> dict[str, Any]:
    return {PK: {"S": spec.RATE_PREFIX + conn}, SK: {"S": f"{spec.RATE_WINDOW_PREFIX}{window}"}}


def _member_value(member: Member) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "name": {"S": member.name},
        "conn": {"S": member.conn},
        "joined": {"N": str(member.joined)},
    }
    if member.sess is not None:
        fields["sess"] = {"S": member.sess}
    return {"M": fields}


def _member(peer_id: str, value: dict[str, Any]) -> Member:
    fields = value["M"]
    return Member(
        peer_id=peer_id,
        name=fields["name"]["S"],
        conn=fields["conn"]["S"],
        sess=fields["sess"]["S"] if "sess" in fields else None,
        joined=int(fields["joined"]["N"]),
    )


def _room_state(room: str, item: dict[str, Any] | None) -> RoomState:
    if not item:
        return RoomState(room=room, version=0, members=())
    members = tuple(
        _member(pid, value) for pid, value in item.get("members", {"M": {}})["M"].items()
    )
    sessions = {
        sess: KnownSession(peer_id=value["M"]["peer"]["S"], seen=int(value["M"]["seen"]["N"]))
        for sess, value in item.get("sessions", {"M": {}})["M"].items()
    }
    return RoomState(room=room, version=int(item["v"]["N"]), members=members, sessions=sessions)


def _conn_binding(item: dict[str, Any] | None) -> Binding | None:
    if not item:
        return None
    conn = item[PK]["S"].removeprefix(spec.CONNECTION_PREFIX)
    return Binding(conn=conn, room=item["room"]["S"], peer_id=item["peer"]["S"])


def _peer_binding(item: dict[str, Any] | None) -> Binding | None:
    if not item:
        return None
    peer_id = item[PK]["S"].removeprefix(spec.PEER_PREFIX)
    return Binding(conn=item["conn"]["S"], room=item["room"]["S"], peer_id=peer_id)


class Store:
    """Room membership in one DynamoDB table, through a boto3 DynamoDB client."""

    def __init__(
        self,
        client: Any,
        table: str,
        ttl_seconds: int = spec.DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = client
        self._table = table
        self._ttl_seconds = ttl_seconds
        self._clock = clock

    def _expires_at(self) -> dict[str, str]:
        return {"N": str(int(self._clock()) + self._ttl_seconds)}

    # ---- reads (strongly consistent) ------------------------------------------------------
    def _batch_get(self, keys: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """One BatchGetItem (more only if DynamoDB leaves keys unprocessed), by partition key."""
        found: dict[str, dict[str, Any]] = {}
        request = {self._table: {"Keys": keys, "ConsistentRead": True}}
        while request:
            response = self._db.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(self._table, []):
                found[item[PK]["S"]] = item
            request = response.get("UnprocessedKeys") or {}
        return found

    def read_for_join(self, conn: str, room: str) -> tuple[Binding | None, RoomState]:
        """The joining connection's current membership and the room, in one request."""
        items = self._batch_get([conn_key(conn), room_key(room)])
        return (
            _conn_binding(items.get(spec.CONNECTION_PREFIX + conn)),
            _room_state(room, items.get(spec.ROOM_PREFIX + room)),
        )

    def read_for_signal(self, conn: str, peer_id: str) -> tuple[Binding | None, Binding | None]:
        """The sender's membership and the addressee's, in one request."""
        items = self._batch_get([conn_key(conn), peer_key(peer_id)])
        return (
            _conn_binding(items.get(spec.CONNECTION_PREFIX + conn)),
            _peer_binding(items.get(spec.PEER_PREFIX + peer_id)),
        )

    def get_room(self, room: str) -> RoomState:
        item = self._db.get_item(TableName=self._table, Key=room_key(room), ConsistentRead=True)
        return _room_state(room, item.get("Item"))

    def get_binding(self, conn: str) -> Binding | None:
        item = self._db.get_item(TableName=self._table, Key=conn_key(conn), ConsistentRead=True)
        return _conn_binding(item.get("Item"))

    # ---- writes ---------------------------------------------------------------------------
    def count_message(self, conn: str, window: int, expires_at: int) -> int:
        """Add one to the connection's count for this window (one UpdateItem, atomic across
        containers); the count with this message."""
        response = self._db.update_item(
            TableName=self._table,
            Key=rate_key(conn, window),
            UpdateExpression="ADD #n :one SET #ttl = if_not_exists(#ttl, :expires)",
            ExpressionAttributeNames={"#n": "n", "#ttl": TTL},
            ExpressionAttributeValues={":one": {"N": "1"}, ":expires": {"N": str(expires_at)}},
            ReturnValues="UPDATED_NEW",
        )
        return int(response["Attributes"]["n"]["N"])

    def commit_join(self, plan: JoinPlan) -> Outcome:
        """Write the plan in one transaction if the room is still at the version read."""
        expires = self._expires_at()
        joiner = plan.joiner
        room_item = {
            **room_key(plan.room),
            "room": {"S": plan.room},
            "v": {"N": str(plan.expected_version + 1)},
            "members": {"M": {m.peer_id: _member_value(m) for m in plan.members}},
            "sessions": {
                "M": {
                    sess: {"M": {"peer": {"S": known.peer_id}, "seen": {"N": str(known.seen)}}}
                    for sess, known in plan.sessions.items()
                }
            },
            TTL: expires,
        }
        if plan.expected_version == 0:
            room_put = {"ConditionExpression": "attribute_not_exists(#pk)"}
            room_put["ExpressionAttributeNames"] = {"#pk": PK}
        else:
            room_put = {
                "ConditionExpression": "#v = :v",
                "ExpressionAttributeNames": {"#v": "v"},
                "ExpressionAttributeValues": {":v": {"N": str(plan.expected_version)}},
            }
        items: list[dict[str, Any]] = [
            {"Put": {"TableName": self._table, "Item": room_item, **room_put}},
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        **peer_key(joiner.peer_id),
                        "room": {"S": plan.room},
                        "conn": {"S": joiner.conn},
                        TTL: expires,
                    },
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        **conn_key(joiner.conn),
                        "room": {"S": plan.room},
                        "peer": {"S": joiner.peer_id},
                        TTL: expires,
                    },
                    # The connection is in no room, or (a resume on the same connection) in
                    # this place already: two joins racing from one connection cannot both win.
                    "ConditionExpression": "attribute_not_exists(#pk) OR (#r = :r AND #p = :p)",
                    "ExpressionAttributeNames": {"#pk": PK, "#r": "room", "#p": "peer"},
                    "ExpressionAttributeValues": {
                        ":r": {"S": plan.room},
                        ":p": {"S": joiner.peer_id},
                    },
                }
            },
        ]
        if plan.replaced_conn is not None:
            items.append(
                {"Delete": {"TableName": self._table, "Key": conn_key(plan.replaced_conn)}}
            )
        return self._transact(items)

    def remove_member(self, binding: Binding) -> Outcome:
        """Remove one membership if that peer still has that connection.

        A late `$disconnect` of a connection that a resume replaced finds the condition false
        (CONDITION_FAILED) and changes nothing.
        """
        names = {"#m": "members", "#p": binding.peer_id, "#c": "conn", "#v": "v"}
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": room_key(binding.room),
                    "UpdateExpression": "REMOVE #m.#p SET #v = #v + :one",
                    "ConditionExpression": "#m.#p.#c = :conn",
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": {
                        ":conn": {"S": binding.conn},
                        ":one": {"N": "1"},
                    },
                }
            },
            {
                "Delete": {
                    "TableName": self._table,
                    "Key": peer_key(binding.peer_id),
                    # Absent when TTL swept it first: the member must still be removable.
                    "ConditionExpression": "attribute_not_exists(#pk) OR #c = :conn",
                    "ExpressionAttributeNames": {"#pk": PK, "#c": "conn"},
                    "ExpressionAttributeValues": {":conn": {"S": binding.conn}},
                }
            },
            {"Delete": {"TableName": self._table, "Key": conn_key(binding.conn)}},
        ]
        return self._transact(items)

    def forget_connection(self, binding: Binding) -> None:
        """Drop a connection's own item if it still names this membership (after a removal
        found the membership gone or taken over: a room item swept by TTL leaves it)."""
        try:
            self._db.delete_item(
                TableName=self._table,
                Key=conn_key(binding.conn),
                ConditionExpression="#r = :r AND #peer = :p",
                ExpressionAttributeNames={"#r": "room", "#peer": "peer"},
                ExpressionAttributeValues={":r": {"S": binding.room}, ":p": {"S": binding.peer_id}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise

    def _transact(self, items: list[dict[str, Any]]) -> Outcome:
        """Other failures than a false condition or a conflict raise."""
        try:
            self._db.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = {r.get("Code") for r in exc.response.get("CancellationReasons", [])}
            if "ConditionalCheckFailed" in reasons:
                return Outcome.CONDITION_FAILED
            if "TransactionConflict" in reasons or not reasons:
                return Outcome.CONFLICT
            raise
        return Outcome.WRITTEN

