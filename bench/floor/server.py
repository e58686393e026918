"""The floor relay: protocol v1's message shapes, held in memory, relayed as they come.

It speaks the product's wire shapes (join/joined/peer-joined/signal/peer-left) so the
same outside instrumentation reads both, and does nothing else: no validation, no limits,
no storage. Static files are the floor page (`/room?room=R`) and its script, served with the
site's security headers by the local gateway's own middleware, as the product's pages are
(they belong to any page on the web, not to a signaling design), unless `--bare`.

With `--site` it serves the product's own site instead (`frontend/` and `config.json`, by the
local gateway's handlers): the product's page over this relay, which tells the page's cost
from the signaling service's.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

from aiohttp import WSMsgType, web

from local import gateway

HERE = Path(__file__).resolve().parent
ROOMS = web.AppKey("rooms", dict)
PEERS = web.AppKey("peers", dict)
_ids = itertools.count(1)


async def page(_request: web.Request) -> web.FileResponse:
    return web.FileResponse(HERE / "floor.html")


async def script(_request: web.Request) -> web.FileResponse:
    return web.FileResponse(HERE / "floor.js")


async def relay(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(max_msg_size=1 << 20)
    await ws.prepare(request)
    rooms: dict[str, dict[str, tuple[web.WebSocketResponse, str]]] = request.app[ROOMS]
    peers: dict[str, web.WebSocketResponse] = request.app[PEERS]
    me = f"p{next(_ids)}"
    room = None
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            m = json.loads(msg.data)
            action = m.get("action")
            if action == "join":
                room = m.get("room")
                members = rooms.setdefault(room, {})
                others = [{"id": pid, "name": name} for pid, (_, name) in members.items()]
                members[me] = (ws, m.get("name", ""))
                peers[me] = ws
                await ws.send_str(json.dumps(
                    {"type": "joined", "room": room, "you": me, "peers": others, "iceServers": []}
                ))
                note = json.dumps(
                    {"type": "peer-joined", "peer": {"id": me, "name": m.get("name", "")},
                     "resumed": False}
                )
                for pid, (other, _) in list(members.items()):
                    if pid != me:
                        await other.send_str(note)
            elif action == "signal":
                other = peers.get(m.get("to"))
                if other is not None:
                    await other.send_str(
                        json.dumps({"type": "signal", "from": me, "data": m.get("data")})
                    )
            elif action == "ping":
                await ws.send_str('{"type":"pong"}')
    finally:
        peers.pop(me, None)
        if room is not None:
            members = rooms.get(room, {})
            members.pop(me, None)
            note = json.dumps({"type": "peer-left", "peer": me})
            for other, _ in list(members.values()):
                if not other.closed:
                    await other.send_str(note)
            if not members:
                rooms.pop(room, None)
    return ws


def make_app(*, bare: bool = False, site: bool = False) -> web.Application:
    app = web.Application(middlewares=[] if bare else [gateway.site_headers])
    app[ROOMS] = {}
    app[PEERS] = {}
    app.router.add_get(gateway.WS_PATH, relay)  # the pages connect to /ws; the headers skip it
    if site:  # the product's pages, exactly as `make run` serves them
        app[gateway.SETTINGS] = gateway.Settings()
        app.router.add_get("/config.json", gateway.config_json)
        app.router.add_get("/{path:.*}", gateway.static_file)
    else:
        app.router.add_get("/room", page)
        app.router.add_get("/floor.js", script)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--bare", action="store_true", help="no security headers")
    parser.add_argument("--site", action="store_true", help="the product's pages over this relay")
    args = parser.parse_args()
    path = "room.html" if args.site else "room"
    print(f"floor: http://127.0.0.1:{args.port}/{path}?room=test", flush=True)
    app = make_app(bare=args.bare, site=args.site)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
