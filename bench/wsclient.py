"""A raw WebSocket client speaking the product's protocol (join, signal, ping), for the
benchmarks that need no browser: aiohttp's client, no Origin header (not a browser, so
`$connect` admits it). Every wait has a timeout."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

import aiohttp

# A realistic ICE candidate, as the product's pages send them.
CANDIDATE = {
    "kind": "ice",
    "candidate": {
        "candidate": "candidate:842163049 1 udp 1677729535 192.0.2.10 52310 typ srflx raddr "
        "10.0.0.5 rport 52310 generation 0 ufrag EsAw",
        "sdpMid": "0",
        "sdpMLineIndex": 0,
    },
}


class ProtocolClient:
    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session, self.url, self.me = session, url, ""
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        # Called with each `signal` frame in the reader, instead of queueing it.
        self.on_signal: Callable[[dict[str, Any]], Any] | None = None

    async def connect(self) -> None:
        self.ws = await self.session.ws_connect(self.url, timeout=aiohttp.ClientWSTimeout(5))
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            frame = json.loads(msg.data)
            if frame.get("type") == "signal" and self.on_signal is not None:
                self.on_signal(frame)
            else:
                await self.inbox.put(frame)

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(message, separators=(",", ":")))

    async def expect(self, type_: str, timeout: float = 10) -> dict[str, Any]:
        """The next frame of this type (others received meanwhile are dropped)."""
        async with asyncio.timeout(timeout):
            while (frame := await self.inbox.get()).get("type") != type_:
                if frame.get("type") == "error":
                    raise RuntimeError(f"error frame while waiting for {type_}: {frame}")
        return frame

    async def join(self, room: str) -> dict[str, Any]:
        await self.send({"action": "join", "room": room, "name": "bench"})
        joined = await self.expect("joined")
        self.me = joined["you"]
        return joined

    async def signal(self, to: str, data: dict[str, Any]) -> None:
        await self.send({"action": "signal", "to": to, "data": data})

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader


async def pair(
    session: aiohttp.ClientSession, url: str, room: str
) -> tuple[ProtocolClient, ProtocolClient]:
    """Two clients joined to one room, in that order."""
    a, b = ProtocolClient(session, url), ProtocolClient(session, url)
    for client in (a, b):
        await client.connect()
        await client.join(room)
    return a, b
