"""Networks that block what a direct call needs, for real: Linux network namespaces.

A ``Lab`` is two namespaces, ``a`` and ``b``, each a second host on this machine joined to it
by a veth pair (``10.231.K.1`` on the machine's end, ``10.231.K.2`` inside), and a chromium
running inside each (``ip netns exec NS chromium``: a wrapper script is Playwright's
``executable_path``). The machine's end of ``a``'s pair is the *server* address: the local
stack (signaling and pages) and a coturn listen there, and both namespaces route to it.

Each namespace's nftables ruleset drops every packet it sends except what ``firewall`` lets
out, and only ever towards the server address: the two namespaces never reach each other (no
direct path between the browsers) and nothing outside this machine is ever addressed. So:

    lab.a.firewall(lab.server)                     # relay reachable, the other side not
    lab.a.firewall(lab.server, udp=NONE)           # a network that drops UDP
    lab.a.firewall(lab.server, tcp={lab.port}, udp=NONE)   # only the signaling server
    lab.a.firewall(lab.server, lose_sent={lab.port})       # messages to signaling vanish
    lab.a.firewall(lab.server, hears={lab.port})           # nothing comes back but signaling

Needs root, iproute2, nftables (``scripts/ensure-tools.sh nftables``), chromium and coturn;
without them ``Lab`` fails the test with a message naming what is missing (never a skip).
Everything it creates (namespaces, the machine's ends of the pairs, coturn, the wrapper
scripts) is deleted on the way out, whatever happened.

Pages inside a namespace come from ``http://SERVER:PORT``, not a secure origin: the browsers
get ``--unsafely-treat-insecure-origin-as-secure`` for exactly that origin (camera, WebRTC).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, BrowserType, Page

from local.browser import CHROMIUM, CHROMIUM_ARGS
from local.processes import die_with_parent, stop_group
from local.stack import LocalStack, StackFailed, start_local_stack

from .conftest import VIEWPORT, Watch, watched_page

IP = "/usr/sbin/ip"
NFT = "/usr/sbin/nft"
TURNSERVER = "/usr/bin/turnserver"
REALM = "p2pchat.test"
SUBNETS = "10.231"  # 10.231.K.0/24, K picked free on this machine
READY_SECONDS = 10.0
ANY = "any"  # every port
NONE: frozenset[int] = frozenset()  # no port


def missing_requirements() -> list[str]:
    """What this machine lacks for namespace tests, each as a person would fix it."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root (network namespaces and nftables need it; CI runs as root)")
    for path, package in ((IP, "iproute2"), (NFT, "nftables"), (CHROMIUM, "chromium"),
                          (TURNSERVER, "coturn")):  # fmt: skip
        if not os.path.exists(path):
            missing.append(f"{path} (apt-get install {package}; scripts/ensure-tools.sh does)")
    return missing


def require_namespaces() -> None:
    missing = missing_requirements()
    if missing:
        pytest.fail("network namespace tests cannot run here; missing: " + "; ".join(missing),
                    pytrace=False)  # fmt: skip


def run(*command: str, input: str | None = None) -> str:
    result = subprocess.run(command, input=input, capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}): {result.stderr}")
    return result.stdout


def _ports(ports) -> str | None:
    """nft's set syntax for ports, or None for ANY."""
    if ports == ANY:
        return None
    return "{ " + ", ".join(str(p) for p in sorted(ports)) + " }"


@dataclass
class Namespace:
    """One namespace: ``name``, its veth ``host_if`` (the machine's end) and addresses."""

    name: str
    host_if: str
    host_ip: str
    ip: str

    def exec(self, *command: str, input: str | None = None) -> str:
        return run(IP, "netns", "exec", self.name, *command, input=input)

    def firewall(self, server: str, *, tcp=ANY, udp=ANY, lose_sent=NONE, hears=ANY) -> None:
        """Let out only TCP to ``server`` on ``tcp`` ports (ANY, a set, NONE) and UDP to
        ``server`` on ``udp`` ports; drop everything else that leaves this namespace (IPv6
        too), loopback excepted. ``lose_sent``: TCP ports of ``server`` to which every segment
        that ends a write (PSH) is dropped while bare acknowledgements pass: this namespace
        keeps receiving on that connection, but no message it sends arrives whole (dropping
        the acknowledgements too would stall what it receives). ``hears``: if not ANY, the only
        TCP ports of ``server`` whose packets come in; every other packet from it is dropped on
        the way in: sending still works and nothing answers, as when a network loses them (an
        output drop fails the send at once, which Chromium treats differently). Replaces the
        previous rules."""
        rules = ['oif "lo" accept']
        for port in sorted(lose_sent):
            rules.append(f"ip daddr {server} tcp dport {port} tcp flags & psh == psh drop")
        for proto, ports in (("tcp", tcp), ("udp", udp)):
            if ports == ANY:
                rules.append(f"ip daddr {server} meta l4proto {proto} accept")
            elif ports:
                rules.append(f"ip daddr {server} {proto} dport {_ports(ports)} accept")
        deaf = []
        if hears != ANY:
            if hears:
                deaf.append(f"ip saddr {server} tcp sport {_ports(hears)} accept")
            deaf.append(f"ip saddr {server} drop")
        body = "\n    ".join(rules)
        inbound = "\n    ".join(deaf)
        self.exec(
            NFT,
            "-f",
            "-",
            input=(
                "flush ruleset\n"
                "table inet p2pchat_test {\n"
                "  chain out {\n"
                "    type filter hook output priority 0; policy drop;\n"
                f"    {body}\n"
                "  }\n"
                "  chain in {\n"
                "    type filter hook input priority 0; policy accept;\n"
                f"    {inbound}\n"
                "  }\n"
                "}\n"
            ),
        )

    def ruleset(self) -> str:
        return self.exec(NFT, "list", "ruleset")


def _free_subnets(count: int) -> list[int]:
    """K values whose 10.231.K.0/24 no interface or route of this machine uses yet."""
    used = {int(k) for k in re.findall(rf"{re.escape(SUBNETS)}\.(\d+)\.",
                                       run(IP, "-4", "addr") + run(IP, "-4", "route"))}  # fmt: skip
    start = 1 + os.getpid() % 200  # two test runs at once rarely pick the same
    free = [k for k in [*range(start, 254), *range(1, start)] if k not in used]
    return free[:count]


def _make_namespace(tag: str, k: int) -> Namespace:
    ns = Namespace(name=f"p2pchat-{tag}", host_if=f"p2p{tag}", host_ip=f"{SUBNETS}.{k}.1",
                   ip=f"{SUBNETS}.{k}.2")  # fmt: skip
    inner = f"{ns.host_if}n"
    run(IP, "netns", "add", ns.name)
    run(IP, "link", "add", ns.host_if, "type", "veth", "peer", "name", inner)
    run(IP, "link", "set", inner, "netns", ns.name)
    run(IP, "addr", "add", f"{ns.host_ip}/24", "dev", ns.host_if)
    run(IP, "link", "set", ns.host_if, "up")
    ns.exec(IP, "addr", "add", f"{ns.ip}/24", "dev", inner)
    ns.exec(IP, "link", "set", inner, "up")
    ns.exec(IP, "link", "set", "lo", "up")
    ns.exec(IP, "route", "add", "default", "via", ns.host_ip)
    return ns


def _delete_namespace(name: str, host_if: str) -> None:
    # Deleting the namespace deletes its end of the pair, and with it the machine's end.
    subprocess.run([IP, "netns", "del", name], capture_output=True, timeout=30)
    subprocess.run([IP, "link", "del", host_if], capture_output=True, timeout=30)


def _free_port(host: str, kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _answers_stun(host: str, port: int) -> bool:
    """A STUN Binding request to host:port gets a Binding success response."""
    transaction = secrets.token_bytes(12)
    request = struct.pack("!HHI", 0x0001, 0, 0x2112A442) + transaction
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.2)
        sock.sendto(request, (host, port))
        try:
            reply = sock.recv(2048)
        except (TimeoutError, ConnectionRefusedError):
            return False
    return reply[:2] == b"\x01\x01" and reply[8:20] == transaction


@dataclass
class Coturn:
    """coturn on ``host``:``port`` (UDP and TCP), TURN REST credentials from ``secret``."""

    host: str
    port: int
    secret: str
    process: subprocess.Popen
    lines: list[str] = field(default_factory=list)

    @property
    def urls(self) -> tuple[str, ...]:
        return (f"turn:{self.host}:{self.port}?transport=udp",
                f"turn:{self.host}:{self.port}?transport=tcp")  # fmt: skip


@contextlib.contextmanager
def coturn(host: str, folder: Path) -> Iterator[Coturn]:
    port = _free_port(host, socket.SOCK_DGRAM)
    secret = secrets.token_urlsafe(24)
    # -n: not Debian's config (it logs to syslog). No --allow-loopback-peers: the peers are
    # the namespaces' addresses and the relay's own, none of them loopback.
    command = [TURNSERVER, "-n", f"--listening-ip={host}", f"--listening-port={port}",
               "--use-auth-secret", f"--static-auth-secret={secret}", f"--realm={REALM}",
               "--no-cli", "--no-tls", "--no-dtls", "--log-file=stdout",
               f"--pidfile={folder / 'turnserver.pid'}"]  # fmt: skip
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True,
                               preexec_fn=die_with_parent)  # fmt: skip
    server = Coturn(host, port, secret, process)
    drain = threading.Thread(target=lambda: server.lines.extend(process.stdout), daemon=True)
    drain.start()
    try:
        deadline = time.monotonic() + READY_SECONDS
        while not _answers_stun(host, port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"turnserver did not start on {host}:{port}:\n"
                                   + "".join(server.lines))  # fmt: skip
        yield server
    finally:
        stop_group(process)
        drain.join(timeout=5)


@dataclass
class Lab:
    """Two namespaces, the server address, a coturn there, a chromium in each namespace."""

    a: Namespace
    b: Namespace
    port: int  # the local stack's, on 127.0.0.1 and the server address
    turn: Coturn
    browsers: dict[str, Browser]

    @property
    def server(self) -> str:
        return self.a.host_ip

    @property
    def url(self) -> str:
        return f"http://{self.server}:{self.port}"

    def namespace(self, key: str) -> Namespace:
        return {"a": self.a, "b": self.b}[key]

    def open_all(self) -> None:
        """Both namespaces back to: the server address reachable on every port, nothing else."""
        for ns in (self.a, self.b):
            ns.firewall(self.server)

    @contextlib.contextmanager
    def stack(
        self, dynamodb_endpoint: str, *, relay: str = "coturn", policy: str = "all"
    ) -> Iterator[LocalStack]:
        """The product on the server address. ``relay``: "coturn" (credentials from its
        secret), "wrong-secret" (credentials it refuses: 401), "none" (no ICE server at all)."""
        turn = {}
        if relay != "none":
            secret = self.turn.secret if relay == "coturn" else secrets.token_urlsafe(24)
            turn = {"turn": "secret", "turn_urls": self.turn.urls, "turn_secret": secret}
        try:
            with start_local_stack(
                dynamodb_endpoint=dynamodb_endpoint,
                hosts=("127.0.0.1", self.server),
                port=self.port,
                allowed_origins=frozenset({self.url}),
                ice_servers=[],
                ice_transport_policy=policy,
                **turn,
            ) as stack:
                yield stack
        except StackFailed as error:
            pytest.fail(str(error), pytrace=False)

    @contextlib.contextmanager
    def pages(self) -> Iterator[Callable[[str, str], Page]]:
        """``open(key, name)``: a page in a fresh context of namespace ``key``'s chromium,
        watched like conftest's ``open_page`` (page errors, dialogs, CSP: the test fails)."""
        contexts: list[BrowserContext] = []
        watches: list[Watch] = []

        def _open(key: str, name: str) -> Page:
            context = self.browsers[key].new_context(viewport=VIEWPORT)
            contexts.append(context)
            page = watched_page(context, name)
            watches.append(page.watch)
            return page

        try:
            yield _open
        finally:
            for context in contexts:
                context.close()
        problems = [problem for watch in watches for problem in watch.problems()]
        assert not problems, "\n".join(problems)


@contextlib.contextmanager
def lab(folder: Path, browser_type: BrowserType) -> Iterator[Lab]:
    """A Lab, torn down whatever happens (pytest.fail if the machine cannot run it)."""
    require_namespaces()
    tag = f"{os.getpid() % 100000}{secrets.token_hex(1)}"
    created: list[tuple[str, str]] = []
    browsers: dict[str, Browser] = {}
    try:
        namespaces = []
        for key, k in zip("ab", _free_subnets(2), strict=True):
            created.append((f"p2pchat-{tag}{key}", f"p2p{tag}{key}"))  # as _make_namespace names
            namespaces.append(_make_namespace(f"{tag}{key}", k))
        a, b = namespaces
        server = a.host_ip
        port = _free_port(server)
        for ns in namespaces:
            ns.firewall(server)
        with coturn(server, folder) as turn:
            try:
                for ns, key in ((a, "a"), (b, "b")):
                    wrapper = folder / f"chromium-{ns.name}"
                    script = f'#!/bin/sh\nexec {IP} netns exec {ns.name} {CHROMIUM} "$@"\n'
                    wrapper.write_text(script)
                    wrapper.chmod(0o755)
                    browsers[key] = browser_type.launch(
                        executable_path=str(wrapper),
                        args=[*CHROMIUM_ARGS,
                              f"--unsafely-treat-insecure-origin-as-secure=http://{server}:{port}"],
                    )  # fmt: skip
                yield Lab(a, b, port, turn, browsers)
            finally:
                for browser in browsers.values():
                    with contextlib.suppress(Exception):
                        browser.close()
    finally:
        for name, host_if in created:
            _delete_namespace(name, host_if)
        leftovers = [name for name, _ in created if name in run(IP, "netns", "list")]
        assert not leftovers, f"namespaces not deleted: {leftovers}"
