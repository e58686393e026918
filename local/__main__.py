"""``python -m local`` (what ``make run`` runs): the whole product on this machine.

Starts the database (DynamoDB Local unless DYNAMODB_ENDPOINT or LOCAL_DYNAMODB=moto say
otherwise), creates the table, loads ``p2pchat.handler`` with its environment pointing at them,
and serves the gateway and the site on PORT (default 8080) of the loopback interfaces.
Ctrl-C or SIGTERM stops everything, the JVM included. Settings: docs/local-stack.md.
"""

from __future__ import annotations

import asyncio
import errno
import importlib
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from aiohttp import web
from p2pchat import table_spec

from local import dynamodb, gateway
from local.console import CompactStream

DEFAULT_PORT = 8080
DEFAULT_HOSTS = ("127.0.0.1", "::1")  # what http://localhost:PORT may resolve to
HANDLER_MODULE = "p2pchat.handler"
log = logging.getLogger("local")


class StartupError(Exception):
    """One line for the person who ran ``make run``; no traceback."""


class LazyHandler:
    """``p2pchat.handler.lambda_handler``, imported once the environment points at the
    database (the handler reads its settings at import)."""

    def __init__(self, module: str = HANDLER_MODULE) -> None:
        self.module = module
        self._function: Any = None
        self._lock = threading.Lock()

    def load(self) -> None:
        with self._lock:
            if self._function is None:
                self._function = importlib.import_module(self.module).lambda_handler

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        if self._function is None:
            self.load()
        return self._function(event, context)


def handler_environment(
    env: Mapping[str, str], *, endpoint: str, port: int, stage: str
) -> dict[str, str]:
    """What the handler reads, as the CDK stack would set it, pointed at this machine.
    Values already in ``env`` win, except the endpoints and the dummy credentials."""
    origins = f"http://localhost:{port},http://127.0.0.1:{port}"
    defaults = {
        "TABLE_NAME": table_spec.LOCAL_TABLE_NAME,
        "ALLOWED_ORIGINS": origins,
        "ICE_SERVERS": "[]",  # loopback calls need no STUN; nothing leaves the machine
        "AWS_REGION": dynamodb.LOCAL_REGION,
        "POWERTOOLS_SERVICE_NAME": "p2pchat",
        "POWERTOOLS_LOG_LEVEL": "WARNING",  # the gateway logs a line per event already
        "POWERTOOLS_METRICS_DISABLED": "true",  # the console drops EMF blobs (console.py)
        "POWERTOOLS_METRICS_NAMESPACE": "P2PChat",
    }
    forced = {
        "DYNAMODB_ENDPOINT": endpoint,
        "APIGW_ENDPOINT": f"http://127.0.0.1:{port}/{stage}",
        "AWS_ACCESS_KEY_ID": dynamodb.LOCAL_CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": dynamodb.LOCAL_CREDENTIALS["aws_secret_access_key"],
    }
    merged = {**defaults, **{k: v for k, v in env.items() if k in defaults}, **forced}
    merged["AWS_DEFAULT_REGION"] = merged["AWS_REGION"]
    return merged


def database_context(port: int, stage: str, handler: LazyHandler):
    """cleanup_ctx: the database and the table up before the gateway, down after it."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        started = time.monotonic()
        # Blocking on purpose: from the main thread, so the JVM's parent-death signal is tied
        # to the thread that lives as long as the process.
        database = dynamodb.start_database()
        try:
            env = handler_environment(os.environ, endpoint=database.endpoint, port=port,
                                      stage=stage)  # fmt: skip
            os.environ.update(env)
            os.environ.pop("AWS_PROFILE", None)
            dynamodb.create_table(database.endpoint, env["TABLE_NAME"], env["AWS_REGION"])
            handler.load()
            pid = f" pid {database.pid}" if database.pid else ""
            log.info("database   %s%s at %s, table %s (%.1f s)", database.kind, pid,
                     database.endpoint, env["TABLE_NAME"], time.monotonic() - started)  # fmt: skip
            yield
        finally:
            database.stop()
            log.info("database   %s stopped", database.kind)

    return context


def listen(hosts: tuple[str, ...], port: int) -> list[socket.socket]:
    """Listening sockets on every host that exists here, all on one port (0: the OS picks
    one for the first host). Bound before anything starts, so a busy port fails at once."""
    sockets: list[socket.socket] = []
    try:
        for host in hosts:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # no TIME_WAIT wait
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind((host, port))
            except OSError as error:
                sock.close()
                if error.errno == errno.EADDRINUSE:
                    raise StartupError(
                        f"port {port} is already in use: stop what uses it, "
                        "or run with PORT=<another port>"
                    ) from None
                if error.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
                    continue  # no IPv6 loopback here: fine
                raise StartupError(f"cannot listen on {host} port {port}: {error}") from None
            sock.listen(128)
            sock.setblocking(False)
            sockets.append(sock)
            port = sock.getsockname()[1]
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    if not sockets:
        raise StartupError(f"cannot listen on {', '.join(hosts)}")
    return sockets


async def run(
    sockets: list[socket.socket], settings: gateway.Settings, stop: asyncio.Event
) -> None:
    port = sockets[0].getsockname()[1]
    handler = LazyHandler()
    app = gateway.create_app(
        handler, settings, cleanup_contexts=(database_context(port, settings.stage, handler),)
    )
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=5)
    try:
        await runner.setup()
        for sock in sockets:
            await web.SockSite(runner, sock).start()
        print(f"P2PChat is running at http://localhost:{port}/  (Ctrl-C stops it)", flush=True)
        await stop.wait()
        log.info("stopping")
    finally:
        await runner.cleanup()


def _routes() -> frozenset[str]:
    from p2pchat import protocol  # the route keys the CDK stack declares too

    return frozenset(protocol.CLIENT_ACTIONS)


def _settings() -> gateway.Settings:
    """The gateway's settings from the environment, checked before anything starts."""
    try:
        return gateway.Settings.from_env(routes=_routes())
    except gateway.SettingError as error:
        raise StartupError(str(error)) from None


def main() -> int:
    # The handler's JSON lines made readable; metric blobs only when metrics are enabled.
    show_metrics = os.environ.get("POWERTOOLS_METRICS_DISABLED", "true").lower() == "false"
    sys.stdout = CompactStream(sys.stdout, metrics=show_metrics)
    logging.basicConfig(
        level=logging.WARNING,  # libraries (botocore, aiohttp): warnings and errors only
        format="%(asctime)s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stdout,
    )
    logging.getLogger("local").setLevel(logging.INFO)  # a line per connection event
    try:
        port = int(os.environ.get("PORT") or DEFAULT_PORT)
    except ValueError:
        print(f"PORT must be a number, not {os.environ['PORT']!r}", file=sys.stderr)
        return 2
    hosts = tuple(h for h in os.environ.get("HOST", "").split(",") if h) or DEFAULT_HOSTS

    async def main_async() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, _on_signal, stop)
        await run(sockets, settings, stop)

    try:
        settings = _settings()
        sockets = listen(hosts, port)
        asyncio.run(main_async())
    except (StartupError, dynamodb.DatabaseUnavailable) as error:
        print(f"p2pchat: {error}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:  # Ctrl-C during start-up, before the handlers are installed
        return 130
    return 0


def _on_signal(stop: asyncio.Event) -> None:
    if stop.is_set():  # a second Ctrl-C: leave now (the JVM dies with us: parent-death signal)
        os._exit(130)
    stop.set()


if __name__ == "__main__":
    sys.exit(main())
