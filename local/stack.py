"""The whole product on this machine, from explicit settings: the one composition that
``python -m local``, the tests and the benchmarks use.

    async with run_stack(StackSettings(port=8080)) as stack:      # python -m local
        print(stack.http_url)

    with start_local_stack(max_peers=4) as stack:                  # tests, benchmarks
        stack.http_url, stack.ws_url, stack.port, stack.output(), stack.wait_for(r"...")

Up, in this order: the listening sockets (a busy port fails at once), coturn when asked for
(``coturn=True``, ``local.coturn``: the function then mints TURN credentials for it), the
database (DynamoDB Local, moto, or the endpoint given), the table, the function
(``p2pchat.function.build_handler`` with the settings given, its endpoints pointed here and
dummy credentials), the gateway. Down in the reverse order: open sockets close with 1001 (each
gets its ``$disconnect``), invocations queued or in flight finish, then the database stops,
then coturn.
Several stacks with different settings can run in one process: nothing is read from, or
written to, ``os.environ``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import logging
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field, fields, replace
from typing import Any

from aiohttp import web

from local import dynamodb, gateway
from local.console import compact
from local.coturn import Coturn, start_coturn
from local.settings import WS_PATH
from local.settings import Settings as GatewaySettings
from local.websocket import Handler
from p2pchat import observability, protocol
from p2pchat.function import build_handler
from p2pchat.settings import (
    DEFAULT_ICE_TRANSPORT_POLICY,
    ICE_TRANSPORT_POLICIES,
    Settings,
    Var,
)

DEFAULT_HOSTS = ("127.0.0.1", "::1")  # what http://localhost:PORT may resolve to
STOP_SECONDS = 30.0  # a bound; stopping takes about a second
LOG = logging.getLogger("local")


class StartupError(Exception):
    """One line for the person who started the stack; no traceback."""


class SettingError(StartupError, ValueError):
    """An environment variable with a value the stack cannot use."""


@dataclass(frozen=True)
class StackSettings:
    """What the local stack is started with.

    ``function``: the function's settings (``p2pchat.settings.Settings``) as the CDK stack
    would set them, except that the stack fills in its endpoints (``dynamodb_endpoint``: the
    database; ``apigw_endpoint``: its own Management API), and that ``allowed_origins=None``
    means this machine's pages (``http://localhost:PORT``, ``http://127.0.0.1:PORT`` and
    ``http://[::1]:PORT``). A ``dynamodb_endpoint`` given here is used as it is: then
    ``database`` is not started.
    """

    function: Settings = field(default_factory=lambda: Settings(ice_servers=[]))
    gateway: GatewaySettings = field(default_factory=GatewaySettings)  # routes: CLIENT_ACTIONS
    database: str = "dynamodb-local"  # or "moto"
    port: int = 0  # 0: a free one
    hosts: tuple[str, ...] = DEFAULT_HOSTS
    metrics: bool = False  # the function's EMF metric lines (stdout)
    # Start Debian's coturn on loopback beside the stack (TURN=1), with a fresh secret: the
    # function then offers it (turn="secret", its URLs, that secret).
    coturn: bool = False

    def with_changes(self, **changes: Any) -> StackSettings:
        """These settings with some fields changed, each named as a field of this class, of
        the function's ``Settings`` (``max_peers``, ``ice_servers``, ``dynamodb_endpoint``…)
        or of the gateway's (``idle_timeout``, ``ice_transport_policy``…)."""
        own = {f.name for f in fields(self)}
        of_function = {f.name for f in fields(Settings)}
        # The gateway's region (its Lambda context's) is the function's.
        of_gateway = {f.name for f in fields(GatewaySettings)} - of_function
        unknown = set(changes) - own - of_function - of_gateway
        if unknown:
            raise TypeError(f"not a setting of the local stack: {', '.join(sorted(unknown))}")
        pick = lambda names: {k: v for k, v in changes.items() if k in names}  # noqa: E731
        return replace(
            self,
            **pick(own),
            function=replace(changes.get("function", self.function), **pick(of_function)),
            gateway=replace(changes.get("gateway", self.gateway), **pick(of_gateway)),
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> StackSettings:
        """The variables of ``python -m local`` (docs/local-stack.md) in ``env``: the
        function's own (``p2pchat.settings.Var``) read by ``Settings.from_env``, and the
        stack's. Raises SettingError. Only ``python -m local``'s main passes ``os.environ``.

        ``TURN=1`` is the stack's own switch (start coturn); any other ``TURN`` value is the
        function's (none, secret with TURN_URLS and TURN_SECRET, kvs)."""
        coturn = env.get("TURN") == "1"
        if coturn or env.get("TURN") == "0":
            env = {k: v for k, v in env.items() if k != "TURN"}
        function = Settings.from_env(env)
        if not env.get(Var.ICE_SERVERS):
            function = replace(function, ice_servers=[])  # loopback calls need no STUN
        gateway_values: dict[str, Any] = {}
        for name, variable, cast in (
            ("stage", "STAGE", str),
            ("idle_timeout", "IDLE_TIMEOUT_SECONDS", float),
            ("max_duration", "MAX_CONNECTION_SECONDS", float),
            ("max_workers", "HANDLER_CONCURRENCY", int),
        ):
            if env.get(variable):
                gateway_values[name] = _number(env, variable, cast)
        policy = env.get("ICE_TRANSPORT_POLICY") or DEFAULT_ICE_TRANSPORT_POLICY
        if policy not in ICE_TRANSPORT_POLICIES:
            raise SettingError(
                f"ICE_TRANSPORT_POLICY must be one of {', '.join(ICE_TRANSPORT_POLICIES)}, "
                f"not {policy!r}"
            )
        database = env.get("LOCAL_DYNAMODB") or "dynamodb-local"
        if database not in dynamodb.DATABASES:
            raise SettingError(
                f"LOCAL_DYNAMODB={database!r} is not known: use dynamodb-local (default) or moto"
            )
        return cls(
            function=function,
            gateway=GatewaySettings(**gateway_values, ice_transport_policy=policy),
            database=database,
            port=_number(env, "PORT", int) if env.get("PORT") else 8080,
            hosts=tuple(h for h in env.get("HOST", "").split(",") if h) or DEFAULT_HOSTS,
            metrics=env.get("POWERTOOLS_METRICS_DISABLED", "true").lower() == "false",
            coturn=coturn,
        )


def _number(env: Mapping[str, str], variable: str, cast: type) -> Any:
    try:
        return cast(env[variable])
    except ValueError:
        raise SettingError(f"{variable} must be a number, not {env[variable]!r}") from None


@dataclass(frozen=True)
class Stack:
    """A running local stack."""

    port: int
    database: dynamodb.Database
    function: Settings  # as the function was built: its endpoints point here
    coturn: Coturn | None = None  # with StackSettings.coturn

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{WS_PATH}"


def local_origins(port: int) -> frozenset[str]:
    return frozenset(f"http://{host}:{port}" for host in ("localhost", "127.0.0.1", "[::1]"))


def local_function(settings: Settings, *, session: Any = None, metrics: bool = False) -> Handler:
    """The function as the stack builds it: its clients made from ``session`` (default: one
    with the dummy credentials), EMF metric lines only if ``metrics``."""
    return build_handler(
        settings,
        session=session or dynamodb.local_session(settings.region),
        metrics=observability.Metrics(enabled=metrics),
    )


@contextlib.asynccontextmanager
async def run_stack(
    settings: StackSettings,
    *,
    log: logging.Logger = LOG,
    make_handler: Callable[[Settings], Handler] | None = None,
) -> AsyncIterator[Stack]:
    """The stack up while inside; ``log`` gets its lines (a line per connection event).

    ``make_handler(settings)`` builds the function (default: ``local_function``); the
    benchmarks pass one that instruments it. Starting blocks the event loop (a few seconds
    for DynamoDB Local) on purpose: the JVM's parent-death signal is tied to the thread that
    starts it, the one that runs this stack."""
    sockets = listen(settings.hosts, settings.port)
    port = sockets[0].getsockname()[1]
    relay = None
    try:
        relay = _start_relay(settings, log)
        started = time.monotonic()
        database = dynamodb.start_database(
            settings.database, endpoint=settings.function.dynamodb_endpoint
        )
        try:
            function = replace(
                settings.function,
                allowed_origins=settings.function.allowed_origins or local_origins(port),
                dynamodb_endpoint=database.endpoint,
                apigw_endpoint=f"http://127.0.0.1:{port}/{settings.gateway.stage}",
            )
            if relay is not None:
                function = replace(function, turn="secret", turn_urls=relay.urls,
                                   turn_secret=relay.secret, turn_secret_arn=None)  # fmt: skip
            dynamodb.create_table(database.endpoint, function.table_name, function.region)
            pid = f" pid {database.pid}" if database.pid else ""
            log.info("database   %s%s at %s, table %s (%.1f s)", database.kind, pid,
                     database.endpoint, function.table_name,
                     time.monotonic() - started)  # fmt: skip
            if make_handler is None:
                handler = local_function(function, metrics=settings.metrics)
            else:
                handler = make_handler(function)
            gateway_settings = replace(
                settings.gateway, routes=protocol.CLIENT_ACTIONS, region=function.region
            )
            app = gateway.create_app(handler, gateway_settings, log)
            runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=5)
            await runner.setup()
            try:
                for sock in sockets:
                    await web.SockSite(runner, sock).start()
                yield Stack(port, database, function, relay)
            finally:
                await runner.cleanup()
        finally:
            database.stop()
            log.info("database   %s stopped", database.kind)
    finally:
        if relay is not None:
            relay.stop()
            log.info("turn       coturn stopped")
        for sock in sockets:
            sock.close()


def _start_relay(settings: StackSettings, log: logging.Logger) -> Coturn | None:
    """coturn, if the settings ask for it; first, so that a missing turnserver fails before
    the JVM starts. Its secret is never logged."""
    if not settings.coturn:
        return None
    relay = start_coturn()
    log.info("turn       coturn pid %d at 127.0.0.1:%d (UDP and TCP), credentials for %d s",
             relay.pid, relay.port, settings.function.turn_credential_seconds)  # fmt: skip
    return relay


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


# ---- the same stack on a thread of its own, for tests and scripts ---------------------------
class StackFailed(RuntimeError):
    """The stack did not start; the message ends with its log."""


@dataclass(frozen=True)
class LocalStack(Stack):
    """A stack run by ``start_local_stack``, with its log lines as ``python -m local`` prints
    them: the gateway's, and the function's own from this stack's invocations."""

    lines: Lines = field(default=None, repr=False)  # type: ignore[assignment]

    def output(self) -> str:
        return self.lines.text()

    def wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match:
        """The first match of ``pattern`` in the output, once it has been logged."""
        return self.lines.wait_for(re.compile(pattern), timeout)


class Lines(logging.Handler):
    """Collects a stack's log lines: its own logger's records, and the function's records
    (Powertools JSON, compacted by local.console) from the threads of its invocations."""

    def __init__(self, threads: str) -> None:
        super().__init__()
        self._threads = f"{threads}_"  # ThreadPoolExecutor's names: <prefix>_<n>
        self._lines: list[str] = []
        self._changed = threading.Condition()
        self._plain = logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S")

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] == observability.SERVICE:
            if not (record.threadName or "").startswith(self._threads):
                return  # another stack's invocation
            line = compact(observability.logger.registered_formatter.format(record))
        else:
            line = self._plain.format(record)
        with self._changed:
            self._lines.append(line + "\n")
            self._changed.notify_all()

    def text(self) -> str:
        with self._changed:
            return "".join(self._lines)

    def wait_for(self, regex: re.Pattern, timeout: float) -> re.Match:
        with self._changed:
            self._changed.wait_for(lambda: regex.search("".join(self._lines)), timeout)
            match = regex.search("".join(self._lines))
        if match is None:
            raise AssertionError(f"{regex.pattern!r} not in the output:\n{self.text()}")
        return match


_numbers = itertools.count(1)


@contextlib.contextmanager
def start_local_stack(
    settings: StackSettings | None = None,
    /,
    *,
    make_handler: Callable[[Settings], Handler] | None = None,
    **changes: Any,
) -> Iterator[LocalStack]:
    """``run_stack`` on an event loop in a thread of its own, so the caller may block (a
    browser test, boto3 calls). ``changes`` as ``StackSettings.with_changes`` takes them
    (``max_peers=4``, ``database="moto"``, ``ice_transport_policy="relay"``…). A free port."""
    settings = (settings or StackSettings()).with_changes(**changes)
    name = f"local-stack-{next(_numbers)}"
    threads = f"{name}-lambda"  # its invocations' threads: local-stack-1-lambda_0, _1…
    settings = replace(settings, gateway=replace(settings.gateway, thread_name=threads))
    stack_log = logging.getLogger(f"local.{name}")
    stack_log.setLevel(logging.INFO)
    lines = Lines(threads)
    watched = (stack_log, logging.getLogger(observability.SERVICE))
    for logger in watched:
        logger.addHandler(lines)

    ready: Future[tuple[Stack, asyncio.AbstractEventLoop, asyncio.Event]] = Future()

    async def run() -> None:
        stop = asyncio.Event()
        try:
            async with run_stack(settings, log=stack_log, make_handler=make_handler) as stack:
                ready.set_result((stack, asyncio.get_running_loop(), stop))
                await stop.wait()
        except BaseException as error:
            if ready.done():
                stack_log.exception("the local stack failed while stopping")
            else:
                ready.set_exception(error)

    thread = threading.Thread(target=asyncio.run, args=(run(),), name=name, daemon=True)
    thread.start()
    try:
        try:
            stack, loop, stop = ready.result()
        except Exception as error:
            raise StackFailed(f"the local stack did not start: {error}\n{lines.text()}") from error
        try:
            yield LocalStack(stack.port, stack.database, stack.function, stack.coturn, lines)
        finally:
            loop.call_soon_threadsafe(stop.set)
    finally:
        thread.join(STOP_SECONDS)
        for logger in watched:
            logger.removeHandler(lines)
