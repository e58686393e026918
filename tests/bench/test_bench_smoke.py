"""Cheap checks of the benchmark helpers (no browser, no timing assertions)."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp.test_utils import TestServer

from bench import prices
from bench.common import percentile
from bench.cost import sample_design
from bench.floor.server import make_app
from bench.instrument import billed_units, item_size
from bench.wsclient import pair


def test_floor_relay_delivers_a_signal_to_the_addressee():
    async def scenario():
        server = TestServer(make_app(), host="127.0.0.1")
        await server.start_server()
        try:
            async with aiohttp.ClientSession() as session:
                a, b = await pair(session, str(server.make_url("/ws")), "r1")
                got = asyncio.Queue()
                b.on_signal = got.put_nowait
                await a.signal(b.me, {"x": 1})
                frame = await asyncio.wait_for(got.get(), 5)
                await a.close()
                await b.close()
        finally:
            await server.close()
        return frame

    frame = asyncio.run(scenario())
    assert frame["type"] == "signal"
    assert frame["data"] == {"x": 1}


def test_request_units_follow_the_documented_rules():
    small = {"pk": {"S": "ROOM#r"}, "sk": {"S": "ROOM"}, "v": {"N": "1"}}
    assert item_size(small) < 1024
    three_puts = {"TransactItems": [{"Put": {"Item": small}}] * 3}
    assert billed_units("TransactWriteItems", three_puts, {}) == 6.0
    keys = {"RequestItems": {"t": {"Keys": [{}, {}], "ConsistentRead": True}}}
    # One of two keys found: a missing item still costs the minimum read.
    assert billed_units("BatchGetItem", keys, {"Responses": {"t": [small]}}) == 2.0
    assert billed_units("GetItem", {"ConsistentRead": False}, {"Item": small}) == 0.5


def test_api_gateway_meters_messages_in_32_kb_steps():
    assert prices.apigw_messages(100) == 1
    assert prices.apigw_messages(32 * 1024) == 1
    assert prices.apigw_messages(32 * 1024 + 1) == 2


def test_sample_design_scan_grows_with_connected_clients():
    ping = {"billed_ms": 5, "dynamodb_requests": 0}
    small = sample_design(10, 20, (2.0, 5.0), 256, ping, 30)
    big = sample_design(100_000, 20, (2.0, 5.0), 256, ping, 30)
    assert small["rru_per_message"] == 0.5
    assert big["scan_pages"] == 3
    assert big["setup"]["messages_out"] == 20 * 100_000


def test_percentile_interpolates():
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([5], 95) == 5
