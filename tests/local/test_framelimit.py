"""local/framelimit.py, the one use of aiohttp's private parts (API Gateway's 32 KB frame
limit): these fail loudly when an aiohttp upgrade moves them, instead of letting big frames
through unnoticed."""

import inspect
import re

import aiohttp
from aiohttp import web, web_protocol

from local import ROOT
from local.framelimit import FrameLimit, LimitedWebSocket
from tests.local.kit import RawWebSocket, Recorder, run_async

KB = 1024


def test_aiohttp_is_the_pinned_version():
    pin = re.search(r"^aiohttp==(\S+)$", (ROOT / "requirements.txt").read_text(), re.MULTILINE)
    assert pin, "requirements.txt must pin aiohttp exactly: local/framelimit.py depends on it"
    assert aiohttp.__version__ == pin.group(1), (
        "aiohttp is not the pinned version: check local/framelimit.py's private hooks "
        "against it (these tests), then update the pin"
    )


def test_the_private_parts_are_where_framelimit_expects_them():
    """The parser slot of aiohttp's request handler and the hook where the WebSocket parser
    is made, with the signature LimitedWebSocket overrides."""
    assert "_payload_parser" in web_protocol.RequestHandler.__slots__
    hook = inspect.signature(web.WebSocketResponse._post_start)
    assert list(hook.parameters) == list(inspect.signature(LimitedWebSocket._post_start).parameters)
    for name in ("feed_data", "feed_eof"):  # what aiohttp calls on the parser it holds
        assert callable(getattr(FrameLimit, name))


def test_a_frame_one_byte_over_32_kb_closes_with_1009(serve_gateway):
    """32 KB passes; 32 KB + 1 closes the connection with 1009, as API Gateway does."""
    handler = Recorder()
    served = serve_gateway(handler)

    async def scenario():
        ws = await RawWebSocket.connect(served.port)
        await ws.send_frame(b"a" * (32 * KB))
        handler.wait_for("$default")
        await ws.send_frame(b"b" * (32 * KB + 1))
        try:
            return await ws.read_close_code()
        finally:
            ws.close()

    assert run_async(scenario()) == 1009
    (disconnect,) = handler.wait_for("$disconnect")
    assert disconnect["requestContext"]["disconnectStatusCode"] == 1009
    assert [len(e["body"]) for e in handler.of("$default")] == [32 * KB]
