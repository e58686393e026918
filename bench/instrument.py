"""Count what the handler costs, from inside the process that runs it.

- Every botocore call made in this process goes through one wrapper (installed on
  ``BaseClient._make_api_call``, so it sees every client however it was created): DynamoDB
  calls get ``ReturnConsumedCapacity=TOTAL`` added when the code did not ask for it, and each
  call's operation, duration, consumed capacity and error code are recorded; Management API
  calls (post/get/delete connection) are recorded with the size of the data posted.
- ``wrap_handler`` times each Lambda invocation (the handler function itself, as Lambda bills
  it, rounded up to the next 1 ms) and ties the AWS calls made during it to it (thread-local:
  the local gateway runs each invocation on one worker thread).

Nothing here changes what the product does, except asking DynamoDB to report capacity.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

READ_OPS = {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"}
WRITE_OPS = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
CAPACITY_OPS = READ_OPS | WRITE_OPS


@dataclass
class Call:
    service: str
    op: str
    ms: float
    capacity: float = 0.0  # as DynamoDB (Local) reported it
    error: str | None = None
    data_bytes: int = 0
    units: float = 0.0  # request units as AWS bills them, computed from the request
    tables: tuple[str, ...] = ()


# ---- DynamoDB request units by AWS's documented rules ----------------------------------
# Item size: attribute names plus values (strings and binary by length, numbers about one byte
# per two digits plus one, maps and lists 3 bytes plus their elements, 1 byte per element).
def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    (kind, v), = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "B":
        return len(v)
    if kind == "N":
        digits = len(v.lstrip("-").replace(".", "").lstrip("0")) or 1
        return (digits + 1) // 2 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + _value_size(x) + 1 for k, x in v.items())
    if kind == "L":
        return 3 + sum(_value_size(x) + 1 for x in v)
    if kind in ("SS", "NS", "BS"):
        return sum(len(str(x).encode()) for x in v)
    return 0


def _read_units(size: int, consistent: bool) -> float:
    units = max(1, -(-size // 4096))
    return float(units) if consistent else units / 2


def _write_units(size: int) -> float:
    return float(max(1, -(-size // 1024)))


def table_names(params: dict[str, Any]) -> tuple[str, ...]:
    names = set()
    if "TableName" in params:
        names.add(params["TableName"])
    names.update(params.get("RequestItems", {}))
    for item in params.get("TransactItems", []):
        for op in item.values():
            if isinstance(op, dict) and "TableName" in op:
                names.add(op["TableName"])
    return tuple(sorted(names))


def billed_units(op: str, params: dict[str, Any], response: dict[str, Any] | None) -> float:
    """Request units AWS would charge: reads 4 KB (strong 1, eventual 0.5, missing item still
    the minimum), writes 1 KB, transactions double. Updates and deletes are taken as items
    under 1 KB (the product's items are a few hundred bytes)."""
    response = response or {}
    if op == "GetItem":
        size = item_size(response.get("Item") or {})
        return _read_units(size, bool(params.get("ConsistentRead")))
    if op == "BatchGetItem":
        total = 0.0
        for table, req in params.get("RequestItems", {}).items():
            found = response.get("Responses", {}).get(table, [])
            sizes = sorted((item_size(i) for i in found), reverse=True)
            for k in range(len(req.get("Keys", []))):
                size = sizes[k] if k < len(sizes) else 0
                total += _read_units(size, bool(req.get("ConsistentRead")))
        return total
    if op in ("Query", "Scan"):
        size = sum(item_size(i) for i in response.get("Items", []))
        return _read_units(size, bool(params.get("ConsistentRead")))
    if op == "PutItem":
        return _write_units(item_size(params.get("Item", {})))
    if op in ("UpdateItem", "DeleteItem"):
        return 1.0
    if op == "BatchWriteItem":
        return sum(_write_units(item_size(r["PutRequest"]["Item"])) if "PutRequest" in r else 1.0
                   for reqs in params.get("RequestItems", {}).values() for r in reqs)
    if op == "TransactWriteItems":
        return sum(2 * (_write_units(item_size(t["Put"]["Item"])) if "Put" in t else 1.0)
                   for t in params.get("TransactItems", []))
    if op == "TransactGetItems":
        return 2.0 * len(params.get("TransactItems", []))
    return 0.0


@dataclass
class Invocation:
    route: str
    ms: float = 0.0
    calls: list[Call] = field(default_factory=list)
    error: str | None = None

    @property
    def billed_ms(self) -> int:
        return max(1, math.ceil(self.ms))


class Recorder:
    """Everything recorded since the last ``reset``; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tls = threading.local()
        self.invocations: list[Invocation] = []
        self.outside: list[Call] = []  # AWS calls made outside any invocation

    def reset(self) -> None:
        with self._lock:
            self.invocations = []
            self.outside = []

    def snapshot(self) -> tuple[list[Invocation], list[Call]]:
        with self._lock:
            return list(self.invocations), list(self.outside)

    # -- used by the wrappers
    def current(self) -> Invocation | None:
        return getattr(self._tls, "inv", None)

    def record_call(self, call: Call) -> None:
        inv = self.current()
        if inv is not None:
            inv.calls.append(call)
        else:
            with self._lock:
                self.outside.append(call)

    def begin(self, route: str) -> Invocation:
        inv = Invocation(route=route)
        self._tls.inv = inv
        return inv

    def end(self, inv: Invocation) -> None:
        self._tls.inv = None
        with self._lock:
            self.invocations.append(inv)


RECORDER = Recorder()
_installed = False


def _capacity(response: dict[str, Any]) -> float:
    cc = response.get("ConsumedCapacity")
    if cc is None:
        return 0.0
    items = cc if isinstance(cc, list) else [cc]
    return float(sum(c.get("CapacityUnits", 0.0) for c in items))


def install_botocore_hook(recorder: Recorder = RECORDER) -> None:
    """Wrap every botocore API call in this process (idempotent)."""
    global _installed
    if _installed:
        return
    from botocore.client import BaseClient
    from botocore.exceptions import ClientError

    original = BaseClient._make_api_call

    def _make_api_call(self, operation_name, api_params):
        service = self.meta.service_model.service_name
        if service == "dynamodb" and operation_name in CAPACITY_OPS:
            api_params = {"ReturnConsumedCapacity": "TOTAL", **api_params}
        data = api_params.get("Data") if service == "apigatewaymanagementapi" else None
        call = Call(service, operation_name, 0.0, data_bytes=len(data) if data else 0)
        if service == "dynamodb":
            call.tables = table_names(api_params)
        t = time.perf_counter()
        try:
            response = original(self, operation_name, api_params)
        except ClientError as exc:
            call.ms = (time.perf_counter() - t) * 1000
            call.error = str(exc.response.get("Error", {}).get("Code", "?"))
            call.capacity = _capacity(exc.response)
            if service == "dynamodb":
                call.units = billed_units(operation_name, api_params, None)
            recorder.record_call(call)
            raise
        call.ms = (time.perf_counter() - t) * 1000
        if service == "dynamodb":
            call.capacity = _capacity(response)
            call.units = billed_units(operation_name, api_params, response)
        recorder.record_call(call)
        return response

    BaseClient._make_api_call = _make_api_call
    _installed = True


def wrap_handler(fn, recorder: Recorder = RECORDER):
    """A lambda_handler(event, context) that records its own duration and AWS calls."""

    def timed_handler(event, context):
        route = (event.get("requestContext") or {}).get("routeKey", "?")
        inv = recorder.begin(route)
        t = time.perf_counter()
        try:
            return fn(event, context)
        except Exception as exc:
            inv.error = type(exc).__name__
            raise
        finally:
            inv.ms = (time.perf_counter() - t) * 1000
            recorder.end(inv)

    timed_handler.__wrapped__ = fn
    return timed_handler


# ------------------------------------------------------------------------------ summaries


def totals(invocations: list[Invocation]) -> dict[str, Any]:
    """Lambda, API Gateway and DynamoDB counters over a list of invocations."""
    from bench.prices import apigw_messages

    db_ops: Counter[str] = Counter()
    mgmt_ops: Counter[str] = Counter()
    rru = wru = 0.0  # as DynamoDB Local reported
    rru_aws = wru_aws = 0.0  # as AWS would bill, from the requests
    db_ms = 0.0
    posted_msgs = 0
    errors: Counter[str] = Counter()
    routes: Counter[str] = Counter()
    for inv in invocations:
        routes[inv.route] += 1
        for c in inv.calls:
            if c.service == "dynamodb":
                db_ops[c.op] += 1
                db_ms += c.ms
                if c.op in READ_OPS:
                    rru += c.capacity
                    rru_aws += c.units
                else:
                    wru += c.capacity
                    wru_aws += c.units
            elif c.service == "apigatewaymanagementapi":
                mgmt_ops[c.op] += 1
                if c.op == "PostToConnection" and not c.error:
                    posted_msgs += apigw_messages(c.data_bytes)
            if c.error:
                errors[f"{c.service}.{c.op}:{c.error}"] += 1
    inbound = sum(n for route, n in routes.items() if route not in ("$connect", "$disconnect"))
    return {
        "invocations": len(invocations),
        "routes": dict(routes),
        "billed_ms": sum(inv.billed_ms for inv in invocations),
        "handler_ms": sum(inv.ms for inv in invocations),
        "dynamodb_requests": sum(db_ops.values()),
        "dynamodb_ops": dict(db_ops),
        "dynamodb_ms": db_ms,
        "rru_reported": rru,
        "wru_reported": wru,
        "rru": rru_aws,
        "wru": wru_aws,
        "management_ops": dict(mgmt_ops),
        "messages_in": inbound,
        "messages_out": posted_msgs,
        "errors": dict(errors),
    }


def per_route(invocations: list[Invocation]) -> dict[str, dict[str, Any]]:
    by: dict[str, list[Invocation]] = defaultdict(list)
    for inv in invocations:
        by[inv.route].append(inv)
    return {route: totals(invs) for route, invs in by.items()}
