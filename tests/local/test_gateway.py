"""The gateway behaves like API Gateway's WebSocket API: routes, event shapes, the Management
API, limits and concurrency, each checked with an injected handler that records its events."""

import asyncio
import json
import os
import re
import threading
import urllib.request
from datetime import datetime

import aiohttp
import pytest
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayWebSocketConnectEventModel,
    APIGatewayWebSocketDisconnectEventModel,
    APIGatewayWebSocketMessageEventModel,
)
from botocore.exceptions import ClientError

from infra.headers import security_headers
from tests.local.kit import RawWebSocket, Recorder, run_async, websocket

CONNECTION_ID = re.compile(r"^[A-Za-z0-9_-]{15}=$")
ORIGIN = {"Origin": "http://127.0.0.1:8080"}
KB = 1024


def run(coro):
    return run_async(coro)


def test_routes_and_event_shapes(serve_gateway):
    """$connect, the route of $request.body.action ($default otherwise), $disconnect: events
    shaped as API Gateway sends them (Powertools' models parse them) with a Lambda context."""
    handler = Recorder()
    served = serve_gateway(handler, routes=frozenset({"join", "signal"}))
    bodies = {
        '{"action":"join","room":"r"}': "join",
        '{"action":"signal"}': "signal",
        '{"action":"dance"}': "$default",
        '{"action":5}': "$default",
        '["join"]': "$default",
        "not json": "$default",
    }

    async def scenario():
        async with aiohttp.ClientSession() as session:
            url = f"{served.ws_url}?v=1"
            async with session.ws_connect(url, headers={**ORIGIN, "User-Agent": "ua/1"}) as ws:
                for body in bodies:
                    await ws.send_str(body)
                handler.wait_for("$default", 4)
                handler.wait_for("join")
                handler.wait_for("signal")

    run(scenario())
    (connect,) = handler.wait_for("$connect")
    (disconnect,) = handler.wait_for("$disconnect")
    APIGatewayWebSocketConnectEventModel.model_validate(connect)
    APIGatewayWebSocketDisconnectEventModel.model_validate(disconnect)
    messages = [e for e in handler.events if e["requestContext"]["eventType"] == "MESSAGE"]
    for event in messages:
        APIGatewayWebSocketMessageEventModel.model_validate(event)
    assert {e["body"]: e["requestContext"]["routeKey"] for e in messages} == bodies

    ctx = connect["requestContext"]
    conn_id = ctx["connectionId"]
    assert CONNECTION_ID.match(conn_id)
    assert ctx["stage"] == "local"
    assert ctx["domainName"] == f"127.0.0.1:{served.port}"
    assert ctx["identity"] == {"sourceIp": "127.0.0.1", "userAgent": "ua/1"}
    assert connect["headers"]["Origin"] == ORIGIN["Origin"]
    assert connect["multiValueHeaders"]["Origin"] == [ORIGIN["Origin"]]
    assert connect["queryStringParameters"] == {"v": "1"}
    every = [connect, *messages, disconnect]
    assert {e["requestContext"]["connectionId"] for e in every} == {conn_id}
    assert {e["requestContext"]["connectedAt"] for e in every} == {ctx["connectedAt"]}
    assert len({e["requestContext"]["requestId"] for e in every}) == len(every)
    assert len({e["requestContext"]["messageId"] for e in messages}) == len(messages)
    assert all(e["isBase64Encoded"] is False for e in every)
    assert disconnect["requestContext"]["disconnectStatusCode"] == 1000

    context = handler.contexts[0]
    assert context.function_name == "p2pchat-local"
    assert context.invoked_function_arn.startswith("arn:aws:lambda:us-east-1:")
    assert context.memory_limit_in_mb > 0 and context.aws_request_id
    assert 0 <= context.get_remaining_time_in_millis() <= 29_000  # counts down from 29 s


def test_connect_refused_stores_nothing(serve_gateway):
    """A $connect answering 403 refuses the upgrade with 403; no $disconnect follows."""
    handler = Recorder(routes={"$connect": lambda event, context: {"statusCode": 403}})
    served = serve_gateway(handler)

    async def scenario():
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(served.ws_url, headers=ORIGIN)
            return refused.value.status

    assert run(scenario()) == 403
    assert handler.route_keys() == ["$connect"]
    assert served.connection_ids() == []


def test_failing_connect_handler_refuses_with_500(serve_gateway):
    def fail(event, context):
        raise RuntimeError("boom")

    served = serve_gateway(Recorder(routes={"$connect": fail}))

    async def scenario():
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(served.ws_url)
            return refused.value.status

    assert run(scenario()) == 500


@pytest.mark.parametrize("prefix", ["/local", ""], ids=["with-stage", "without-stage"])
def test_management_api(serve_gateway, prefix):
    """boto3's client: POST delivers, GET describes, DELETE closes (then $disconnect), and a
    gone connection raises GoneException, with or without the stage in the path."""
    handler = Recorder()
    served = serve_gateway(handler)
    api = served.management(prefix)

    async def scenario():
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(served.ws_url, headers={"User-Agent": "ua/2"})
            (conn_id,) = served.connection_ids()
            await asyncio.to_thread(api.post_to_connection, ConnectionId=conn_id, Data=b'{"a":1}')
            assert (await ws.receive_str()) == '{"a":1}'
            info = await asyncio.to_thread(api.get_connection, ConnectionId=conn_id)
            await asyncio.to_thread(api.delete_connection, ConnectionId=conn_id)
            closing = await ws.receive()
            await ws.close()
            return conn_id, info, closing

    conn_id, info, closing = run(scenario())
    assert isinstance(info["ConnectedAt"], datetime)
    assert isinstance(info["LastActiveAt"], datetime)
    assert info["Identity"] == {"SourceIp": "127.0.0.1", "UserAgent": "ua/2"}
    assert closing.type is aiohttp.WSMsgType.CLOSE and closing.data == 1000
    (disconnect,) = handler.wait_for("$disconnect")
    assert disconnect["requestContext"]["connectionId"] == conn_id
    for call in (
        lambda: api.post_to_connection(ConnectionId=conn_id, Data=b"late"),
        lambda: api.get_connection(ConnectionId=conn_id),
        lambda: api.delete_connection(ConnectionId=conn_id),
        lambda: api.post_to_connection(ConnectionId="AAAAAAAAAAAAAAA=", Data=b"x"),
    ):
        with pytest.raises(api.exceptions.GoneException) as gone:
            call()
        assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410


def test_gone_is_answered_as_aws_does(serve_gateway):
    """The bytes botocore sees: 410, x-amzn-ErrorType: GoneException, {"message": null}."""
    served = serve_gateway(Recorder())
    request = urllib.request.Request(
        f"{served.url}/local/@connections/AAAAAAAAAAAAAAA%3D", data=b"x", method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as gone:
        urllib.request.urlopen(request)
    assert gone.value.code == 410
    assert gone.value.headers["x-amzn-ErrorType"] == "GoneException"
    assert json.loads(gone.value.read()) == {"message": None}


def test_post_over_128_kb_is_refused(serve_gateway):
    handler = Recorder()
    served = serve_gateway(handler)
    api = served.management()

    async def scenario():
        async with aiohttp.ClientSession() as session, session.ws_connect(served.ws_url):
            (conn_id,) = served.connection_ids()
            with pytest.raises(ClientError) as refused:
                await asyncio.to_thread(
                    api.post_to_connection, ConnectionId=conn_id, Data=b"x" * (128 * KB + 1)
                )
            return refused.value.response["Error"]["Code"]

    assert run(scenario()) == "PayloadTooLargeException"


def test_handler_replies_through_the_management_api(serve_gateway):
    """A handler posts to the sender with boto3, as the real one does through APIGW_ENDPOINT."""
    served_box = []

    def echo(event, context):
        ctx = event["requestContext"]
        served_box[0].management().post_to_connection(
            ConnectionId=ctx["connectionId"], Data=f"echo {event['body']}".encode()
        )
        return {"statusCode": 200}

    served = serve_gateway(Recorder(routes={"$default": echo}))
    served_box.append(served)

    async def scenario():
        async with websocket(served.ws_url) as ws:
            await ws.send_str("hello")
            return await ws.receive_str()

    assert run(scenario()) == "echo hello"


def test_failing_handler_sends_internal_server_error(serve_gateway):
    """What API Gateway sends the client when the integration fails."""

    def fail(event, context):
        raise RuntimeError("boom")

    served = serve_gateway(Recorder(routes={"$default": fail}))

    async def scenario():
        async with websocket(served.ws_url) as ws:
            await ws.send_str("x")
            return json.loads(await ws.receive_str())

    reply = run(scenario())
    assert reply["message"] == "Internal server error"
    assert CONNECTION_ID.match(reply["connectionId"]) and reply["requestId"]


def test_messages_of_one_connection_run_concurrently(serve_gateway):
    """Two messages of one connection are inside the handler at once: each waits on a barrier
    of two that only opens when the other has arrived, then replies."""
    barrier = threading.Barrier(2)
    box = []

    def meet(event, context):
        barrier.wait(timeout=30)  # alone, it breaks: the handler fails, the client is told
        box[0].management().post_to_connection(
            ConnectionId=event["requestContext"]["connectionId"],
            Data=b"past " + event["body"].encode(),
        )
        return {"statusCode": 200}

    served = serve_gateway(Recorder(routes={"$default": meet}))
    box.append(served)

    async def scenario():
        async with websocket(served.ws_url) as ws:
            await ws.send_str("first")
            await ws.send_str("second")
            return {await ws.receive_str(), await ws.receive_str()}

    assert run(scenario()) == {"past first", "past second"}


@pytest.mark.parametrize(
    ("send", "code"),
    [
        (lambda ws: ws.send_frame(b"x" * (32 * KB + 1)), 1009),
        (lambda ws: ws.send_fragmented(b"x" * (128 * KB + 1), 5), 1009),
        (lambda ws: ws.send_frame(b"\x00\x01", opcode=0x2), 1003),
        (lambda ws: ws.send_frame(b"\xff\xfe"), 1007),
        (lambda ws: ws.send_frame(b"x", opcode=0x3), 1002),
        (lambda ws: ws.send_frame(b"x", opcode=0x0), 1002),
    ],
    ids=[
        "frame-over-32KB",
        "message-over-128KB",
        "binary-frame",
        "invalid-utf-8",
        "reserved-opcode",
        "continuation-without-start",
    ],
)
def test_limits_close_the_connection(serve_gateway, send, code):
    """A frame over 32 KB or a message over 128 KB closes with 1009, a binary frame with 1003,
    a text frame that is not UTF-8 with 1007, a frame that breaks the protocol with 1002; then
    $disconnect reports that code."""
    handler = Recorder()
    served = serve_gateway(handler)

    async def scenario():
        ws = await RawWebSocket.connect(served.port)
        await send(ws)
        try:
            return await ws.read_close_code()
        finally:
            ws.close()

    assert run(scenario()) == code
    (disconnect,) = handler.wait_for("$disconnect")
    assert disconnect["requestContext"]["disconnectStatusCode"] == code
    assert handler.of("$default") == []


def test_frames_within_the_limits_pass(serve_gateway):
    """A 32 KB frame, and a 120 KB message in four frames, reach the handler whole."""
    handler = Recorder()
    served = serve_gateway(handler)
    single, fragmented = "a" * (32 * KB), "b" * (120 * KB)

    async def scenario():
        ws = await RawWebSocket.connect(served.port)
        await ws.send_frame(single.encode())
        await ws.send_fragmented(fragmented.encode(), 4)
        handler.wait_for("$default", 2)
        ws.close()

    run(scenario())
    assert sorted(e["body"] for e in handler.wait_for("$default", 2)) == [single, fragmented]


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({"idle_timeout": 0.3}, "Idle timeout"),
        ({"max_duration": 0.3}, "Connection duration exceeded"),
    ],
    ids=["idle-timeout", "max-duration"],
)
def test_connections_are_closed_at_their_time_limits(serve_gateway, settings, reason):
    """The idle timeout and the maximum duration close with 1001 (Going away)."""
    handler = Recorder()
    served = serve_gateway(handler, **settings)

    async def scenario():
        async with websocket(served.ws_url) as ws:
            return await ws.receive()

    closing = run(scenario())
    assert closing.type is aiohttp.WSMsgType.CLOSE and closing.data == 1001
    (disconnect,) = handler.wait_for("$disconnect")
    assert disconnect["requestContext"]["disconnectStatusCode"] == 1001
    assert reason in disconnect["requestContext"]["disconnectReason"]


@pytest.mark.parametrize(
    ("how", "code"),
    [("close-4000", 4000), ("close-no-status", 1005), ("drop-tcp", 1006)],
)
def test_disconnect_follows_every_kind_of_close(serve_gateway, how, code):
    handler = Recorder()
    served = serve_gateway(handler)

    async def scenario():
        ws = await RawWebSocket.connect(served.port)
        handler.wait_for("$connect")
        if how == "close-4000":
            await ws.send_frame((4000).to_bytes(2, "big") + b"bye", opcode=0x8)
            await ws.read_close_code()
        elif how == "close-no-status":
            await ws.send_frame(b"", opcode=0x8)
            await ws.read_close_code()
        ws.close()

    run(scenario())
    (disconnect,) = handler.wait_for("$disconnect")
    assert disconnect["requestContext"]["disconnectStatusCode"] == code
    assert served.connection_ids() == []


def test_plain_get_on_the_websocket_path_is_426(serve_gateway):
    served = serve_gateway(Recorder())
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{served.url}/ws")
    assert refused.value.code == 426


def test_config_json_names_the_websocket_of_the_host_asked(serve_gateway):
    """config.json has the shape CDK writes, built from the Host the browser used."""
    served = serve_gateway(Recorder())
    for host in (f"127.0.0.1:{served.port}", f"localhost:{served.port}"):
        request = urllib.request.Request(f"{served.url}/config.json", headers={"Host": host})
        with urllib.request.urlopen(request) as response:
            assert json.loads(response.read()) == {
                "signalingUrl": f"ws://{host}/ws",
                "iceTransportPolicy": "all",
            }
            assert response.headers["Content-Security-Policy"]


def test_static_files_carry_the_security_headers(serve_gateway, tmp_path):
    """Every file (and a 404) gets infra/headers.py's headers; no 'unsafe-inline'; no escape
    from the site folder."""
    (tmp_path / "index.html").write_text("<!doctype html><title>P2PChat</title>")
    (tmp_path / "js").mkdir()
    (tmp_path / "js" / "app.js").write_text("export {};")
    served = serve_gateway(Recorder(), static_dir=tmp_path)
    expected = security_headers(f"ws://127.0.0.1:{served.port}/ws", https=False)

    for path, body in (
        ("/", "<!doctype html>"),
        ("/index.html", "<!doctype"),
        ("/js/app.js", "ex"),
    ):
        with urllib.request.urlopen(served.url + path) as response:
            assert response.read().decode().startswith(body)
            for name, value in expected.items():
                assert response.headers[name] == value
            assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
            assert "Strict-Transport-Security" not in response.headers
    assert "javascript" in urllib.request.urlopen(served.url + "/js/app.js").headers["Content-Type"]
    for path in ("/missing.js", "/../conftest.py", "/%2e%2e/conftest.py"):
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(served.url + path)
        assert missing.value.code == 404
        assert (
            missing.value.headers["Content-Security-Policy"] == expected["Content-Security-Policy"]
        )


def test_an_edited_file_is_served_new_on_the_next_request(serve_gateway, tmp_path):
    """Files are served from memory, but a developer's edit shows on reload (the size or the
    modification time changed); a folder without index.html is not a file."""
    page = tmp_path / "room.html"
    page.write_text("<p>before</p>")
    (tmp_path / "css").mkdir()
    served = serve_gateway(Recorder(), static_dir=tmp_path)

    def fetch(path: str) -> str:
        with urllib.request.urlopen(served.url + path) as response:
            return response.read().decode()

    assert fetch("/room.html") == "<p>before</p>"
    page.write_text("<p>after, longer</p>")
    assert fetch("/room.html") == "<p>after, longer</p>"
    same_size = "<p>AFTER, LONGER</p>"
    page.write_text(same_size)
    os.utime(page, ns=(page.stat().st_atime_ns, page.stat().st_mtime_ns + 1_000_000))
    assert fetch("/room.html") == same_size
    for path in ("/css", "/css/"):
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(served.url + path)
        assert missing.value.code == 404
