"""Cheap checks of the benchmark helpers (no browser, no timing assertions)."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp.test_utils import TestServer

from bench import prices, trace
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


def test_floor_site_mode_serves_the_product_pages_with_its_own_socket():
    async def scenario():
        server = TestServer(make_app(site=True), host="127.0.0.1")
        await server.start_server()
        port = server.port
        try:
            async with aiohttp.ClientSession() as session:
                async with session.get(server.make_url("/room.html")) as page:
                    html, csp = await page.text(), page.headers["Content-Security-Policy"]
                async with session.get(server.make_url("/config.json")) as config:
                    settings = await config.json()
                async with session.get(server.make_url("/room")) as floor_page:
                    floor_status = floor_page.status
        finally:
            await server.close()
        return html, csp, settings, floor_status, port

    html, csp, settings, floor_status, port = asyncio.run(scenario())
    assert 'src="js/boot.js"' in html and "unsafe-inline" not in csp
    assert settings["signalingUrl"] == f"ws://127.0.0.1:{port}/ws"
    assert floor_status == 404  # the floor's own page is not served in this mode


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


def test_trace_breakdown_counts_each_process_by_role_within_the_call():
    room = "bROOM"

    def meta(pid, name):
        return {"ph": "M", "name": "process_name", "pid": pid, "args": {"name": name}}

    def parse(pid, ts):
        url = f"http://127.0.0.1/room.html?room={room}"
        return {"ph": "X", "name": "ParseHTML", "pid": pid, "ts": ts, "dur": 10,
                "args": {"beginData": {"url": url}}}  # fmt: skip

    def task(pid, ts, cpu_ms, name="ThreadControllerImpl::RunTask"):
        return {"ph": "X", "name": name, "pid": pid, "ts": ts, "dur": cpu_ms * 2000,
                "tdur": cpu_ms * 1000}  # fmt: skip

    browser, gpu, p1, p2 = 1, 2, 10, 20
    events = [
        meta(browser, "Browser"), meta(gpu, "GPU Process"), meta(p1, "Renderer"),
        meta(p2, "Renderer"),
        parse(p1, 1_000),
        {"ph": "X", "name": "NavigationRequest::Create", "pid": browser, "ts": 50_000, "dur": 5},
        parse(p2, 60_000),
        task(p2, 40_000, 7),  # before person 2's navigation: not counted
        task(p2, 70_000, 5), task(p1, 80_000, 3), task(browser, 90_000, 2),
        task(gpu, 100_000, 4, "ThreadPool_RunTask"),
        {"ph": "X", "name": "DisplayItemList::Raster", "pid": p2, "ts": 71_000, "dur": 900,
         "tdur": 800},
        {"ph": "X", "name": "FontDataService::MatchFamilyName", "pid": p2, "ts": 72_000,
         "dur": 3_000},
        task(p2, 50_000 + 200_001, 9),  # after both first frames (200 ms): not counted
    ]  # fmt: skip
    out = trace.cpu_breakdown(events, room, frame_ms=200)
    assert out["cpu_ms"]["person 2's renderer"] == 5
    assert out["cpu_ms"]["person 1's renderer"] == 3
    assert out["cpu_ms"]["browser"] == 2
    assert out["cpu_ms"]["GPU process"] == 4
    assert out["total_cpu_ms"] == 14
    assert (out["p2_raster_cpu_ms"], out["p2_font_lookups"], out["p2_font_lookups_wall_ms"]) == (
        0.8, 1, 3.0,
    )  # fmt: skip
