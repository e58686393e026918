"""Cheap checks of each benchmark's pure parts (no browser, no timing assertions)."""

from __future__ import annotations

import asyncio
import contextlib
import json

import aiohttp
import boto3
from aiohttp.test_utils import TestServer
from botocore.stub import Stubber

from bench import coldstart, cost, scale, throughput, ttff
from bench.__main__ import BENCHES, DOC, replace
from bench.common import percentile
from bench.floor.server import make_app
from bench.instrument import Call, Invocation, Recorder, billed_units, item_size, totals
from bench.wsclient import pair

ITEM = {"pk": {"S": "ROOM#r"}, "sk": {"S": "ROOM"}, "v": {"N": "1"}}


async def with_floor(scenario):
    server = TestServer(make_app(), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            return await scenario(session, server)
    finally:
        await server.close()


def test_floor_relays_a_signal_to_the_addressee_and_serves_its_page_with_the_site_headers():
    async def scenario(session, server):
        a, b = await pair(session, str(server.make_url("/ws")), "r1")
        got = asyncio.Queue()
        b.on_signal = got.put_nowait
        await a.signal(b.me, {"x": 1})
        frame = await asyncio.wait_for(got.get(), 5)
        await a.close()
        await b.close()
        async with session.get(server.make_url("/room")) as page:
            return frame, page.status, page.headers.get("Content-Security-Policy")

    frame, status, csp = asyncio.run(with_floor(scenario))
    assert (frame["type"], frame["data"]) == ("signal", {"x": 1})
    assert status == 200 and csp


def test_throughput_load_counts_what_arrives():
    async def scenario(session, server):
        return await throughput.load(str(server.make_url("/ws")), 4, seconds=0.3, warmup=0.1)

    out = asyncio.run(with_floor(scenario))
    assert out["rooms"] == 2 and out["signals"] > 0 and out["timeouts"] == 0


def test_recorder_sees_each_call_through_the_session_events():
    recorder, session = Recorder(), boto3.session.Session()
    recorder.watch(session)  # before the clients are made: they copy the session's hooks
    keys = {"t": {"Keys": [{"pk": {"S": "a"}}], "ConsistentRead": True}}
    credentials = {
        "region_name": "us-east-1",
        "aws_access_key_id": "x",
        "aws_secret_access_key": "x",
    }
    db = session.client("dynamodb", **credentials)
    posts = session.client(
        "apigatewaymanagementapi", endpoint_url="http://127.0.0.1:1/local", **credentials
    )
    with Stubber(db) as db_stub, Stubber(posts) as post_stub:
        db_stub.add_response(
            "batch_get_item",
            {"Responses": {"t": [ITEM]}},
            {"RequestItems": keys},
        )
        post_stub.add_response("post_to_connection", {}, {"ConnectionId": "c", "Data": b"hi"})
        post_stub.add_client_error("post_to_connection", "GoneException", http_status_code=410)

        def handler(event, context):
            db.batch_get_item(RequestItems=keys)
            posts.post_to_connection(ConnectionId="c", Data=b"hi")
            with contextlib.suppress(posts.exceptions.GoneException):
                posts.post_to_connection(ConnectionId="gone", Data=b"hi")
            return {"statusCode": 200}

        recorder.wrap(handler)({"requestContext": {"routeKey": "signal"}}, None)
    (invocation,) = recorder.snapshot()
    get, post, gone = invocation.calls
    assert invocation.route == "signal" and invocation.billed_ms >= 1
    assert (get.op, get.units, get.error) == ("BatchGetItem", 1.0, None)
    assert (post.op, post.data_bytes, post.error, gone.error) == (
        "PostToConnection",
        2,
        None,
        "GoneException",
    )
    t = totals([invocation])
    assert (t["dynamodb_requests"], t["rru"], t["messages_in"], t["messages_out"]) == (1, 1, 1, 1)


def test_request_units_follow_the_documented_rules():
    assert item_size(ITEM) < 1024
    three_puts = {"TransactItems": [{"Put": {"Item": ITEM}}] * 3}
    assert billed_units("TransactWriteItems", three_puts, {}) == 6.0
    keys = {"RequestItems": {"t": {"Keys": [{}, {}], "ConsistentRead": True}}}
    # One of two keys found: a missing item still costs the minimum read.
    assert billed_units("BatchGetItem", keys, {"Responses": {"t": [ITEM]}}) == 2.0
    assert billed_units("GetItem", {"ConsistentRead": False}, {"Item": ITEM}) == 0.5


def test_api_gateway_meters_messages_in_32_kb_steps():
    def posted(size: int) -> int:
        call = Call("apigatewaymanagementapi", "PostToConnection", 1.0, data_bytes=size)
        return totals([Invocation("signal", calls=[call])])["messages_out"]

    assert [posted(n) for n in (100, 32 * 1024, 32 * 1024 + 1)] == [1, 1, 2]


def test_cost_prices_each_part_of_a_call():
    hour = {
        "messages_in": 30,
        "messages_out": 30,
        "connection_minutes": 120,
        "invocations": 30,
        "billed_ms": 1024 * 1000 / 256,
        "rru": 0,
        "wru": 8,
    }
    parts = cost.dollars(hour, memory_mb=256)
    assert parts["apigw_messages"] == 60 * cost.APIGW_PER_MESSAGE
    assert parts["apigw_connection_minutes"] == 120 * cost.APIGW_PER_CONNECTION_MINUTE
    assert parts["lambda_duration"] == cost.LAMBDA_ARM_PER_GB_SECOND  # one GB-second
    assert parts["total"] == sum(v for k, v in parts.items() if k != "total")


def test_scale_copies_a_room_with_fresh_ids_of_the_same_length():
    ids = ["tplroom12345", "peerAAAAAAAAAAAA", "L0SM9cOFvHcCIhw="]
    room = [{"pk": {"S": "ROOM#tplroom12345"}, "m": {"M": {ids[1]: {"S": ids[2]}}}}]
    copies = [json.dumps(scale.copy(json.dumps(room), ids, n)) for n in (1, 2)]
    assert copies[0] != copies[1] and len(copies[0]) == len(json.dumps(room))
    assert not any(i in c for i in ids for c in copies)


def test_ttff_timeline_takes_the_later_first_frame_and_the_first_offer_of_either_side():
    p1 = {"timeOrigin": 0, "marks": {"offer.sent": 1150, "frame": 1500, "ice.connected": 1300}}
    p2 = {
        "timeOrigin": 1000,
        "domContentLoaded": 1100,
        "marks": {"ws.open": 1120, "srd.answer": 1250, "frame": 1450, "ice.completed": 1310},
    }
    t = ttff.timeline({"p1": p1, "p2": p2})
    assert t["frame"] == 500 and t["p2.dcl"] == 100 and t["p2.ws.open"] == 120
    assert (t["offer.sent"], t["answer.applied"], t["ice.connected"]) == (150, 250, 310)


def test_coldstart_adds_up_self_times_by_package():
    lines = [
        "import time: self [us] | cumulative | imported package",
        "import time:      5000 |     300000 | p2pchat.handler",
        "import time:     40000 |     200000 |   boto3",
        "import time:     10000 |      60000 |   boto3.session",
        "import time:     60000 |      60000 |   pydantic",
    ]
    assert coldstart.by_package(lines) == {"pydantic": 60, "boto3": 50, "p2pchat": 5}


def test_percentile_interpolates():
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([5], 95) == 5


def test_docs_have_a_place_for_every_benchmark():
    text = DOC.read_text()
    for name in ["summary", *BENCHES]:
        assert replace(text, name, "X").count(f"<!-- begin:{name} -->\nX\n<!-- end:{name} -->") == 1
