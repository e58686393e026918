"""Frames to a client that reads slowly or never: the Management API answers each post at once
(as API Gateway does), the gateway holds a bounded number of bytes for that client (past it:
429 LimitExceededException, nothing kept), and no post is ever delivered twice. Also what
GET @connections reports as lastActiveAt."""

import asyncio
import json
import time

import aiohttp
import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError

from local.websocket import CONNECTIONS
from tests.local.kit import WAIT_SECONDS, RawWebSocket, Recorder, run_async, until, websocket

KB = 1024
BOUND = 256 * KB  # send_buffer_bytes in these tests (the default is 1 MiB)
BODY = 100 * KB
POSTS = 150  # 15 MB: more than the kernel's socket buffers and the gateway's together
ONCE = botocore.config.Config(retries={"total_max_attempts": 1}, read_timeout=WAIT_SECONDS)


def _client(served):
    """boto3's Management API client, with no retries: a post that hung would fail."""
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=f"{served.url}/local",
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=ONCE,
    )


def _held(served, conn_id: str) -> int:
    return served.on_loop(lambda: served.app[CONNECTIONS][conn_id].held_bytes())


def test_a_client_that_never_reads(serve_gateway):
    """150 posts of 100 KB to a client that reads nothing: each is answered (200 or, once the
    gateway holds 256 KB for it, 429 LimitExceededException) without waiting for the client,
    and the bytes held never pass the bound. When the client reads at last it gets exactly
    the posts answered 200, in order, each once."""
    served = serve_gateway(Recorder(), send_buffer_bytes=BOUND)
    api = _client(served)

    async def scenario():
        client = await RawWebSocket.connect(served.port, receive_buffer=4 * KB)
        (conn_id,) = await asyncio.to_thread(until, served.connection_ids, "connected")

        def post_all():
            answers, most = [], 0
            for n in range(POSTS):
                body = json.dumps({"n": n, "pad": "x" * BODY}).encode()
                try:
                    api.post_to_connection(ConnectionId=conn_id, Data=body)
                    answers.append(200)
                except ClientError as error:
                    answers.append(error.response["Error"]["Code"])
                most = max(most, _held(served, conn_id))
            return answers, most

        answers, most = await asyncio.to_thread(post_all)
        await asyncio.to_thread(api.post_to_connection, ConnectionId=conn_id, Data=b"end")
        received = []
        while (frame := await client.read_frame()) != (0x1, b"end"):
            received.append(json.loads(frame[1])["n"])
        client.close()
        return answers, most, received

    answers, most, received = run_async(scenario())
    assert set(answers) <= {200, "LimitExceededException"}, answers
    assert "LimitExceededException" in answers  # the bound was reached
    assert most <= BOUND
    accepted = [n for n, answer in enumerate(answers) if answer == 200]
    assert received == accepted  # in order, none lost, none twice


def test_delete_of_a_client_that_never_reads(serve_gateway):
    """DELETE answers 204 at once even with the client's buffer full; the connection is cut
    (the client cannot be sent the close frame it does not read) and $disconnect reports
    1000, the code the Management API closed it with."""
    handler = Recorder()
    served = serve_gateway(handler, send_buffer_bytes=BOUND)
    api = _client(served)

    async def scenario():
        client = await RawWebSocket.connect(served.port, receive_buffer=4 * KB)
        (conn_id,) = await asyncio.to_thread(until, served.connection_ids, "connected")

        def fill_then_delete():
            while True:
                try:
                    api.post_to_connection(ConnectionId=conn_id, Data=b"x" * BODY)
                except api.exceptions.LimitExceededException:
                    break
            api.delete_connection(ConnectionId=conn_id)
            with pytest.raises(api.exceptions.GoneException):
                api.post_to_connection(ConnectionId=conn_id, Data=b"late")

        await asyncio.to_thread(fill_then_delete)
        await asyncio.to_thread(handler.wait_for, "$disconnect")
        client.close()

    run_async(scenario())
    (disconnect,) = handler.wait_for("$disconnect")
    assert disconnect["requestContext"]["disconnectStatusCode"] == 1000


def test_frames_posted_before_a_delete_arrive_before_the_close(serve_gateway):
    """DELETE answers at once; the close frame follows the frames already posted."""
    served = serve_gateway(Recorder())
    api = served.management()

    async def scenario():
        async with websocket(served.ws_url) as ws:
            (conn_id,) = served.connection_ids()
            for n in range(20):
                await asyncio.to_thread(api.post_to_connection, ConnectionId=conn_id,
                                        Data=str(n).encode())  # fmt: skip
            await asyncio.to_thread(api.delete_connection, ConnectionId=conn_id)
            got = []
            while (msg := await ws.receive(timeout=WAIT_SECONDS)).type is aiohttp.WSMsgType.TEXT:
                got.append(msg.data)
            return got, (msg.type, msg.data)

    got, code = run_async(scenario())
    assert (got, code) == ([str(n) for n in range(20)], (aiohttp.WSMsgType.CLOSE, 1000))


def test_last_active_at_is_the_clients_last_message(serve_gateway):
    """GET @connections' lastActiveAt: connectedAt until the client sends, then the time of
    its last message; frames posted to it do not count (what the function's stale-member
    eviction relies on)."""
    served = serve_gateway(Recorder())
    api = served.management()

    async def scenario():
        async with websocket(served.ws_url) as ws:
            (conn_id,) = served.connection_ids()
            first = await asyncio.to_thread(api.get_connection, ConnectionId=conn_id)
            await asyncio.sleep(0.05)
            before = time.time()
            await ws.send_str("hello")
            after_message = await asyncio.to_thread(
                until,
                lambda: (info := api.get_connection(ConnectionId=conn_id))["LastActiveAt"]
                > first["LastActiveAt"] and info,
                "lastActiveAt moved",
            )
            await asyncio.to_thread(api.post_to_connection, ConnectionId=conn_id, Data=b"x")
            await ws.receive_str()
            after_post = await asyncio.to_thread(api.get_connection, ConnectionId=conn_id)
            return first, before, after_message, after_post

    first, before, after_message, after_post = run_async(scenario())
    assert first["LastActiveAt"] == first["ConnectedAt"]
    assert after_message["LastActiveAt"].timestamp() >= before - 0.001  # ms precision
    assert after_post["LastActiveAt"] == after_message["LastActiveAt"]
