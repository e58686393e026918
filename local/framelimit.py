"""API Gateway's per-frame limit (32 KB, then close code 1009) on an aiohttp WebSocket.

aiohttp limits whole messages (``max_msg_size``) but has no frame-size option, and nothing
public lets a server see frame headers. So this module, and only this one, uses aiohttp's
private parts: ``WebSocketResponse._post_start`` (where the parser is made) and
``request.protocol._payload_parser`` (where the wire bytes go), to put a header watcher in
front of the parser. aiohttp is pinned in requirements.txt; tests/local/test_framelimit.py
fails loudly if an upgrade moves either part or the limit stops closing with 1009.
"""

from __future__ import annotations

from typing import Any

from aiohttp import WSCloseCode, web
from aiohttp.http_websocket import WebSocketError

_DATA_OPCODES = frozenset({0x0, 0x1, 0x2})  # continuation, text, binary


class LimitedWebSocket(web.WebSocketResponse):
    """aiohttp's WebSocketResponse that fails a data frame over ``frame_limit`` bytes with
    1009, as API Gateway closes it (the message then ends with an ERROR of that code)."""

    def __init__(self, frame_limit: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._frame_limit = frame_limit

    def _post_start(self, request: web.BaseRequest, protocol: str | None, writer: Any) -> None:
        super()._post_start(request, protocol, writer)
        request.protocol._payload_parser = FrameLimit(
            request.protocol._payload_parser, self._reader, self._frame_limit
        )


class FrameLimit:
    """Watches frame headers on the wire before aiohttp's WebSocket parser sees the bytes."""

    def __init__(self, parser: Any, queue: Any, limit: int) -> None:
        self._parser, self._queue, self._limit = parser, queue, limit
        self._header = b""  # bytes of a frame header read so far
        self._skip = 0  # payload bytes left in the current frame
        self._failed = False

    def feed_eof(self) -> None:
        self._parser.feed_eof()

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if self._failed:
            return True, b""
        if self._too_big(bytes(data)):
            self._failed = True
            self._queue.set_exception(
                WebSocketError(WSCloseCode.MESSAGE_TOO_BIG, "Frame size exceeds the limit")
            )
            return True, b""
        return self._parser.feed_data(data)

    def _too_big(self, data: bytes) -> bool:
        pos, end = 0, len(data)
        while pos < end:
            if self._skip:  # inside a payload: jump over it
                step = min(self._skip, end - pos)
                self._skip -= step
                pos += step
                continue
            self._header += data[pos : pos + 1]  # headers are 2 to 14 bytes: byte by byte
            pos += 1
            need = self._header_length()
            if need is None or len(self._header) < need:
                continue
            opcode, length = self._header[0] & 0x0F, self._payload_length()
            self._header = b""
            if opcode in _DATA_OPCODES and length > self._limit:
                return True
            self._skip = length
        return False

    def _header_length(self) -> int | None:
        if len(self._header) < 2:
            return None
        size = self._header[1] & 0x7F
        masked = 4 if self._header[1] & 0x80 else 0
        return 2 + {126: 2, 127: 8}.get(size, 0) + masked

    def _payload_length(self) -> int:
        size = self._header[1] & 0x7F
        if size == 126:
            return int.from_bytes(self._header[2:4], "big")
        if size == 127:
            return int.from_bytes(self._header[2:10], "big")
        return size
