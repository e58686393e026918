"""Helpers of the local-stack tests: a handler that records every event, the gateway as a test
sees it, a bare WebSocket client that can send any frame, ``python -m local`` as a child
process, and a process probe."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import boto3

from local import ROOT
from local.dynamodb import die_with_parent
from local.websocket import CONNECTIONS

WAIT_SECONDS = 30.0  # a bound on waiting (loaded machines are slow), never an expectation


@dataclass
class Recorder:
    """A handler(event, context) that records events; ``routes`` maps a route key to a
    function of (event, context) whose result is returned ($connect answers 200 by default)."""

    routes: dict[str, Callable[[dict, Any], Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    contexts: list[Any] = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        with self._changed:
            self.events.append(event)
            self.contexts.append(context)
            self._changed.notify_all()
        route = self.routes.get(event["requestContext"]["routeKey"])
        return route(event, context) if route else {"statusCode": 200}

    def wait_for(self, route: str, count: int = 1) -> list[dict[str, Any]]:
        """The first ``count`` events of ``route``, once they have arrived."""
        with self._changed:
            found = self._changed.wait_for(
                lambda: len(self.of(route)) >= count, timeout=WAIT_SECONDS
            )
            assert found, f"{route} x{count} never arrived; got {self.route_keys()}"
            return self.of(route)[:count]

    def of(self, route: str) -> list[dict[str, Any]]:
        return [e for e in list(self.events) if e["requestContext"]["routeKey"] == route]

    def route_keys(self) -> list[str]:
        return [e["requestContext"]["routeKey"] for e in list(self.events)]


@dataclass
class Served:
    app: Any
    port: int
    loop: asyncio.AbstractEventLoop

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def management(self, prefix: str = "/local"):
        """boto3's unchanged Management API client, pointed here as APIGW_ENDPOINT would."""
        return boto3.client(
            "apigatewaymanagementapi",
            endpoint_url=f"{self.url}{prefix}",
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    def connection_ids(self) -> list[str]:
        return list(self.app[CONNECTIONS])

    def on_loop(self, function: Callable[[], Any]) -> Any:
        """``function()`` run on the gateway's event loop (to read its state between two of
        its steps), its result."""
        done: concurrent.futures.Future = concurrent.futures.Future()
        self.loop.call_soon_threadsafe(lambda: done.set_result(function()))
        return done.result(WAIT_SECONDS)


def until(condition: Callable[[], Any], what: str) -> Any:
    """Poll ``condition`` until it is true (WAIT_SECONDS at most, a bound, not an
    expectation); its value."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not (value := condition()):
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.02)
    return value


class RawWebSocket:
    """A bare client: sends frames exactly as asked (any size, fragmented, binary)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(
        cls, port: int, path: str = "/ws", receive_buffer: int | None = None
    ) -> RawWebSocket:
        """``receive_buffer``: the socket's SO_RCVBUF (a small one fills fast when the
        client does not read)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1\r\n\r\n"
            ).encode()
        )
        status = await reader.readline()
        assert b" 101 " in status, status
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        return cls(reader, writer)

    async def send_frame(self, payload: bytes, opcode: int = 0x1, fin: bool = True) -> None:
        header = bytes([(0x80 if fin else 0) | opcode])
        size = len(payload)
        if size < 126:
            header += bytes([0x80 | size])
        elif size < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack("!H", size)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", size)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(header + mask + masked)
        await self.writer.drain()

    async def send_fragmented(self, payload: bytes, pieces: int) -> None:
        step = -(-len(payload) // pieces)
        chunks = [payload[i : i + step] for i in range(0, len(payload), step)]
        for i, chunk in enumerate(chunks):
            await self.send_frame(chunk, 0x1 if i == 0 else 0x0, fin=i == len(chunks) - 1)

    async def read_frame(self) -> tuple[int, bytes]:
        """The next frame from the server: (opcode, payload)."""
        first, second = await self.reader.readexactly(2)
        size = second & 0x7F
        if size == 126:
            size = struct.unpack("!H", await self.reader.readexactly(2))[0]
        elif size == 127:
            size = struct.unpack("!Q", await self.reader.readexactly(8))[0]
        return first & 0x0F, await self.reader.readexactly(size)

    async def read_close_code(self) -> int:
        """Read frames until the server's close frame; its status code."""
        while True:
            opcode, payload = await self.read_frame()
            if opcode == 0x8:
                return struct.unpack("!H", payload[:2])[0]

    def close(self) -> None:
        self.writer.close()


@contextlib.asynccontextmanager
async def websocket(url: str, **kwargs: Any) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    """An aiohttp client WebSocket, closed (and its session) on exit."""
    async with aiohttp.ClientSession() as session, session.ws_connect(url, **kwargs) as ws:
        yield ws


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (works for processes not our children)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def run_async(coro: Any) -> Any:
    """Run a coroutine to completion on a fresh event loop in its own thread.

    Playwright's sync API (the browser tests, in the same pytest session) keeps an event loop
    running on the main thread, where asyncio.run() refuses to start another.
    """
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised in the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="run-async")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


# ---- python -m local as a person runs it ----------------------------------------------------
READY = re.compile(r"running at http://localhost:(\d+)/")
STOP_SECONDS = 30.0  # a bound; it takes about a second


@dataclass
class LocalProcess:
    """``python -m local`` running as a child process; its output kept as it comes."""

    port: int
    process: subprocess.Popen
    lines: list[str] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def output(self) -> str:
        with self.changed:
            return "".join(self.lines)

    def stop(self, sig: int = signal.SIGINT) -> int:
        """SIGINT (what Ctrl-C sends) by default; SIGKILL only if it hangs. Its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@contextlib.contextmanager
def local_process(**env: str) -> Iterator[LocalProcess]:
    """``python -m local`` on a free port with these environment variables added; ready
    (it printed "running at") when entered, stopped on exit."""
    process = subprocess.Popen(
        [sys.executable, "-m", "local"],
        cwd=ROOT,
        env={**os.environ, **env, "PORT": "0", "PYTHONUNBUFFERED": "1"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own group: a Ctrl-C at the terminal reaches pytest only
        preexec_fn=die_with_parent,  # and it dies if the test process is killed
    )
    lines: list[str] = []
    for line in process.stdout:
        lines.append(line)
        if match := READY.search(line):
            break
    else:
        process.wait()
        raise AssertionError(f"python -m local exited with {process.returncode}:\n"
                             + "".join(lines))  # fmt: skip
    child = LocalProcess(int(match.group(1)), process, lines)
    drain = threading.Thread(target=_keep, args=(child,), daemon=True)
    drain.start()
    try:
        yield child
    finally:
        child.stop()
        drain.join()


def _keep(child: LocalProcess) -> None:
    for line in child.process.stdout:
        with child.changed:
            child.lines.append(line)
            child.changed.notify_all()
    child.process.stdout.close()
