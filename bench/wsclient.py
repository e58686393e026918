"""A raw WebSocket client speaking protocol v1 (join, signal, leave, ping), for the benches.

No browser: aiohttp's client, no Origin header (not a browser, so `$connect` admits it).
Every wait has a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from typing import Any

import aiohttp


class ProtocolClient:
    def __init__(self, session: aiohttp.ClientSession, url: str, name: str = "bench") -> None:
        self.session = session
        self.url = url
        self.name = name
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.me: str | None = None
        self.peers: list[str] = []
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.session_token = secrets.token_urlsafe(24)
        self._reader: asyncio.Task | None = None
        self.on_signal = None  # optional callback(frame) called in the reader, no queueing

    async def connect(self) -> None:
        timeout = aiohttp.ClientWSTimeout(ws_close=5)
        self.ws = await self.session.ws_connect(self.url, timeout=timeout)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            if frame.get("type") == "peer-joined":
                self.peers.append(frame["peer"]["id"])
            if frame.get("type") == "signal" and self.on_signal is not None:
                self.on_signal(frame)
                continue
            await self.inbox.put(frame)

    async def send(self, message: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send_str(json.dumps(message, separators=(",", ":")))

    async def expect(self, type_: str, timeout: float = 10) -> dict[str, Any]:
        """The next frame of this type (others received meanwhile are dropped)."""
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.inbox.get()
                if frame.get("type") == type_:
                    return frame
                if frame.get("type") == "error":
                    raise RuntimeError(f"error frame while waiting for {type_}: {frame}")

    async def join(self, room: str, timeout: float = 10) -> dict[str, Any]:
        await self.send(
            {"action": "join", "room": room, "name": self.name, "session": self.session_token}
        )
        joined = await self.expect("joined", timeout)
        self.me = joined["you"]
        self.peers = [p["id"] for p in joined["peers"]] + self.peers
        return joined

    async def signal(self, to: str, data: dict[str, Any]) -> None:
        await self.send({"action": "signal", "to": to, "data": data})

    async def close(self) -> None:
        if self.ws is not None and not self.ws.closed:
            await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader


async def pair(
    session: aiohttp.ClientSession, url: str, room: str
) -> tuple[ProtocolClient, ProtocolClient]:
    """Two clients in one room, each knowing the other's peer id."""
    a, b = ProtocolClient(session, url, "alice"), ProtocolClient(session, url, "bob")
    await a.connect()
    await b.connect()
    await a.join(room)
    await b.join(room)
    async with asyncio.timeout(10):
        while not a.peers:
            await asyncio.sleep(0.005)
    return a, b


# A realistic ICE candidate and a realistic SDP-sized payload (an offer is 3-6 KB).
CANDIDATE = {
    "kind": "ice",
    "candidate": {
        "candidate": "candidate:842163049 1 udp 1677729535 192.0.2.10 52310 typ srflx raddr "
        "10.0.0.5 rport 52310 generation 0 ufrag EsAw network-cost 999",
        "sdpMid": "0",
        "sdpMLineIndex": 0,
        "usernameFragment": "EsAw",
    },
}
