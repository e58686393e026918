"""An aiohttp imitation of API Gateway's WebSocket API and Management API, with the site.

One app, one port: ``/ws`` (local.websocket), ``[/{stage}]/@connections/{id}``
(local.management), ``/config.json`` and ``frontend/`` (local.site). How faithful it is, and
where it differs from AWS: docs/local-stack.md.

    app = create_app(handler, Settings(routes=protocol.CLIENT_ACTIONS))
    runner = await serve(app, "127.0.0.1", 0)     # runner.addresses says where
"""

from __future__ import annotations

import logging

from aiohttp import web

from local.management import add_management_api
from local.settings import LOG, SETTINGS, WS_PATH, Settings
from local.site import add_site, site_headers
from local.websocket import Handler, add_websocket_api

# bench/floor/server.py serves its own relay on the gateway's path, with the site's headers.
__all__ = ["SETTINGS", "WS_PATH", "Settings", "create_app", "serve", "site_headers"]


def create_app(
    handler: Handler, settings: Settings | None = None, log: logging.Logger | None = None
) -> web.Application:
    """The gateway around ``handler(event, context)``; ``log`` gets a line per connection
    event (default: the ``local.gateway`` logger)."""
    app = web.Application()
    app[SETTINGS] = settings or Settings()
    app[LOG] = log or logging.getLogger("local.gateway")
    add_management_api(app)
    add_websocket_api(app, handler)
    add_site(app)  # last: its file route matches every path
    return app


async def serve(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Start ``app`` on ``host:port`` (0: a free port); ``runner.addresses`` says where."""
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=5)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner
