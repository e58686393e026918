"""Count what the function costs, from inside the process that runs it, through public hooks:

    recorder = Recorder()
    session = boto3.session.Session()
    recorder.watch(session)  # botocore's events, before any client is made from the session
    handler = recorder.wrap(build_handler(settings, session=session))

Each invocation is timed as Lambda bills it and gets the AWS calls made during it (same
thread): operation, duration, error code, the request units AWS would bill (computed from the
request and the items: DynamoDB Local's ConsumedCapacity is not what AWS bills), and for the
Management API the size of the data posted. Nothing here changes what the function does.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

READ_OPS = {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"}
MANAGEMENT = "apigatewaymanagementapi"
APIGW_MESSAGE_BYTES = 32 * 1024  # API Gateway meters WebSocket messages in 32 KB steps


@dataclass
class Call:
    service: str
    op: str
    ms: float
    error: str | None = None
    units: float = 0.0  # request units as AWS bills them, computed from the request
    data_bytes: int = 0


@dataclass
class Invocation:
    route: str
    ms: float = 0.0
    calls: list[Call] = field(default_factory=list)

    @property
    def billed_ms(self) -> int:
        return max(1, math.ceil(self.ms))


# ---- DynamoDB request units by AWS's documented rules ----------------------------------
def item_size(item: dict[str, Any]) -> int:
    """Attribute names plus values: strings and binary by length, numbers about one byte per
    two digits plus one, booleans and nulls 1, maps and lists 3 plus 1 per element."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    ((kind, v),) = value.items()
    if kind == "N":
        digits = len(v.lstrip("-").replace(".", "").lstrip("0")) or 1
        return (digits + 1) // 2 + 1
    if kind == "M":
        return 3 + sum(item_size({k: x}) + 1 for k, x in v.items())
    if kind == "L":
        return 3 + sum(_value_size(x) + 1 for x in v)
    return 1 if kind in ("BOOL", "NULL") else len(v.encode() if isinstance(v, str) else v)


def _read_units(size: int, consistent: bool) -> float:
    units = max(1, -(-size // 4096))
    return float(units) if consistent else units / 2


def _write_units(size: int) -> float:
    return float(max(1, -(-size // 1024)))


def billed_units(op: str, params: dict[str, Any], response: dict[str, Any] | None) -> float:
    """Request units AWS would charge for the operations the product uses: reads 4 KB (strong
    1, eventual 0.5, a missing item still the minimum), writes 1 KB, transactions double.
    Updates and deletes are taken as items under 1 KB (the product's items are a few hundred
    bytes). NaN for an operation without a rule here, so that a new one shows."""
    response = response or {}
    if op == "GetItem":
        return _read_units(
            item_size(response.get("Item") or {}), bool(params.get("ConsistentRead"))
        )
    if op == "BatchGetItem":
        total = 0.0
        for table, req in params["RequestItems"].items():
            found = [item_size(i) for i in response.get("Responses", {}).get(table, [])]
            sizes = found + [0] * (len(req["Keys"]) - len(found))
            total += sum(_read_units(size, bool(req.get("ConsistentRead"))) for size in sizes)
        return total
    if op == "PutItem":
        return _write_units(item_size(params["Item"]))
    if op in ("UpdateItem", "DeleteItem"):
        return 1.0
    if op == "TransactWriteItems":
        return sum(
            2 * (_write_units(item_size(t["Put"]["Item"])) if "Put" in t else 1.0)
            for t in params["TransactItems"]
        )
    return math.nan


# ---- recording --------------------------------------------------------------------------
class Recorder:
    """Every invocation (with its AWS calls) recorded since the last ``reset``; thread-safe.
    AWS calls made outside an invocation are not recorded."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tls = threading.local()
        self.invocations: list[Invocation] = []

    def reset(self) -> None:
        with self._lock:
            self.invocations = []

    def snapshot(self) -> list[Invocation]:
        with self._lock:
            return list(self.invocations)

    def watch(self, session) -> None:
        """Record every call of the clients made from this boto3 session from now on."""
        session.events.register("provide-client-params", self._before)
        session.events.register("after-call", self._after)

    def _before(self, params: dict[str, Any], context: dict[str, Any], **_) -> None:
        context["bench.started"] = time.perf_counter()
        context["bench.params"] = params

    def _after(
        self, http_response, parsed: dict[str, Any], model, context: dict[str, Any], **_
    ) -> None:
        invocation = getattr(self._tls, "invocation", None)
        if invocation is None:
            return
        service, op = model.service_model.service_name, model.name
        params = context["bench.params"]
        call = Call(service, op, (time.perf_counter() - context["bench.started"]) * 1000)
        if http_response.status_code >= 300:
            call.error = parsed.get("Error", {}).get("Code", "?")
        if service == "dynamodb":
            call.units = billed_units(op, params, None if call.error else parsed)
        elif service == MANAGEMENT:
            call.data_bytes = len(params.get("Data") or b"")
        invocation.calls.append(call)

    def wrap(self, handler):
        """A lambda_handler(event, context) that records its own duration and AWS calls."""

        def timed_handler(event, context):
            invocation = Invocation((event.get("requestContext") or {}).get("routeKey", "?"))
            self._tls.invocation = invocation
            started = time.perf_counter()
            try:
                return handler(event, context)
            finally:
                invocation.ms = (time.perf_counter() - started) * 1000
                self._tls.invocation = None
                with self._lock:
                    self.invocations.append(invocation)

        return timed_handler


# ---- summaries --------------------------------------------------------------------------
def totals(invocations: list[Invocation]) -> dict[str, Any]:
    """Lambda, API Gateway and DynamoDB counters over a list of invocations."""
    routes = Counter(inv.route for inv in invocations)
    db = [c for inv in invocations for c in inv.calls if c.service == "dynamodb"]
    posts = [
        c for inv in invocations for c in inv.calls if c.op == "PostToConnection" and not c.error
    ]
    return {
        "invocations": len(invocations),
        "routes": dict(routes),
        "billed_ms": sum(inv.billed_ms for inv in invocations),
        "dynamodb_requests": len(db),
        "dynamodb_ops": dict(Counter(c.op for c in db)),
        "rru": sum(c.units for c in db if c.op in READ_OPS),
        "wru": sum(c.units for c in db if c.op not in READ_OPS),
        # API Gateway bills every client frame (one invocation each) and every post.
        "messages_in": sum(n for r, n in routes.items() if r not in ("$connect", "$disconnect")),
        "messages_out": sum(max(1, -(-c.data_bytes // APIGW_MESSAGE_BYTES)) for c in posts),
    }


def by_route(invocations: list[Invocation]) -> dict[str, list[Invocation]]:
    out: dict[str, list[Invocation]] = defaultdict(list)
    for inv in invocations:
        out[inv.route].append(inv)
    return out
