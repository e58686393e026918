"""The floor relay: protocol v1's message shapes, held in memory, relayed as they come.

It speaks the product's wire shapes (join/joined/peer-joined/signal/peer-left) so the same
outside instrumentation reads both, and does nothing else: no validation, no limits, no
storage. Its page (`/room?room=R`) and script are served with the site's security headers by
the local gateway's own middleware, as the product's pages are (they belong to any page on
the web, not to a signaling design).
"""

from __future__ import annotations

import argparse
import itertools
import json
import socket
from pathlib import Path

from aiohttp import WSMsgType, web

from local import gateway

HERE = Path(__file__).resolve().parent
FILES = {"/room": "floor.html", "/floor.js": "floor.js"}
SOCKETS = web.AppKey("sockets", dict)  # peer id -> (socket, room)
_ids = itertools.count(1)


async def relay(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(max_msg_size=1 << 20)
    await ws.prepare(request)
    sockets, me, room = request.app[SOCKETS], f"p{next(_ids)}", None

    async def send(to: list[str], message: dict) -> None:
        for peer in to:
            await sockets[peer][0].send_str(json.dumps(message))

    try:
        async for msg in ws:
            m = json.loads(msg.data) if msg.type == WSMsgType.TEXT else {}
            if m.get("action") == "join":
                room, name = m["room"], m.get("name", "")
                others = [p for p, (_, r) in sockets.items() if r == room]
                sockets[me] = (ws, room)
                peers = [{"id": p, "name": ""} for p in others]
                await send(
                    [me],
                    {"type": "joined", "room": room, "you": me, "peers": peers, "iceServers": []},
                )
                await send(
                    others,
                    {"type": "peer-joined", "peer": {"id": me, "name": name}, "resumed": False},
                )
            elif m.get("action") == "signal" and m.get("to") in sockets:
                await send([m["to"]], {"type": "signal", "from": me, "data": m.get("data")})
    finally:
        sockets.pop(me, None)
        others = [p for p, (s, r) in sockets.items() if r == room and not s.closed]
        await send(others, {"type": "peer-left", "peer": me})
    return ws


async def page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(HERE / FILES[request.path])


def make_app() -> web.Application:
    app = web.Application(middlewares=[gateway.site_headers])
    app[SOCKETS] = {}
    app.router.add_get(gateway.WS_PATH, relay)  # the pages connect to /ws; the headers skip it
    for path in FILES:
        app.router.add_get(path, page)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8090, help="0: a free one")
    sock = socket.create_server(("127.0.0.1", parser.parse_args().port))
    print(f"floor running at http://127.0.0.1:{sock.getsockname()[1]}/room?room=test", flush=True)
    web.run_app(make_app(), sock=sock, print=None)


if __name__ == "__main__":
    main()
