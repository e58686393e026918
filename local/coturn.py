"""Debian's coturn beside the local stack: a TURN relay on loopback for which the function
mints credentials (``TURN=1 make run``, ``StackSettings(coturn=True)``; docs/local-stack.md).

Usage::

    with start_coturn() as relay:            # a free port, a fresh secret
        relay.urls                           # turn:127.0.0.1:P?transport=udp, ...=tcp
        relay.secret                         # for Settings(turn="secret", turn_secret=...)
        relay.ice_server(ttl=600)            # an RTCIceServer with TURN REST credentials

- The flags the shared FACTS.md measured: loopback only, TURN REST authentication
  (``use-auth-secret``), a realm (without one no relay candidate is gathered), loopback peers
  allowed (both browsers are on this machine), no CLI, no TLS or DTLS, the log on stdout (kept
  here, the last lines), the pidfile in a private temporary folder. UDP and TCP on one port.
- The secret is 32 random bytes made at each start. coturn reads it from a config file in that
  folder (mode 0700, removed at stop), not from its command line, which ``ps`` shows to anyone
  on the machine; it is never logged or written anywhere else.
- Like DynamoDB Local, coturn runs in a process group of its own (a Ctrl-C aimed at ours cannot
  half-stop it) with a parent-death signal (it dies with the thread that started it, even when
  Python is killed with SIGKILL): start it from a long-lived thread.
"""

from __future__ import annotations

import collections
import contextlib
import os
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.processes import die_with_parent, stop_group
from p2pchat.turn import turn_rest_credential

HOST = "127.0.0.1"
REALM = "p2pchat.local"
READY_SECONDS = 10.0
STOP_GRACE_SECONDS = 3.0
KEPT_LINES = 2000


class CoturnUnavailable(RuntimeError):
    """coturn cannot be started; the message is one line a person can act on."""


@dataclass
class Coturn:
    """A running coturn on ``HOST:port`` (UDP and TCP). ``stop()`` is idempotent; also a
    context manager."""

    port: int
    secret: str = field(repr=False)
    realm: str
    pid: int
    _process: subprocess.Popen = field(repr=False)
    _folder: Path = field(repr=False)
    _lines: collections.deque[str] = field(repr=False)
    _drain: threading.Thread = field(repr=False)
    _stopped: bool = field(default=False, repr=False)

    @property
    def urls(self) -> tuple[str, ...]:
        return (f"turn:{HOST}:{self.port}?transport=udp", f"turn:{HOST}:{self.port}?transport=tcp")

    def ice_server(self, ttl: int = 3600, user: str = "local") -> dict[str, Any]:
        """An RTCIceServer with TURN REST credentials that expire in ``ttl`` seconds."""
        username, credential = turn_rest_credential(self.secret, int(time.time()) + ttl, user)
        return {"urls": list(self.urls), "username": username, "credential": credential}

    def output(self) -> str:
        """coturn's last log lines."""
        return "".join(self._lines)

    def freeze(self) -> None:
        """SIGSTOP: every packet through the relay stops, as in a network drop (tests)."""
        os.kill(self.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._process.poll() is None:  # not reaped yet: its pid is still its own
            with contextlib.suppress(ProcessLookupError):
                self.thaw()  # a stopped process cannot act on SIGTERM
            stop_group(self._process, (signal.SIGTERM, signal.SIGKILL), STOP_GRACE_SECONDS)
        self._drain.join(timeout=5)
        if self._process.stdout:
            self._process.stdout.close()
        shutil.rmtree(self._folder, ignore_errors=True)

    def __enter__(self) -> Coturn:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def turnserver() -> str:
    found = shutil.which("turnserver")
    if found is None:
        raise CoturnUnavailable(
            "turnserver is missing: install coturn (Debian: apt-get install coturn; "
            "`TURN=1 make run` does it when run as root)"
        )
    return found


def free_udp_tcp_port() -> int:
    """A port free right now on HOST for both UDP and TCP (coturn listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((HOST, 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((HOST, port))
                except OSError:
                    continue
                return port
    raise CoturnUnavailable("found no port free for both UDP and TCP on 127.0.0.1")


def start_coturn(*, realm: str = REALM, timeout: float = READY_SECONDS) -> Coturn:
    """coturn on a free loopback port with a fresh secret, ready: it answers STUN on UDP and
    accepts TCP. Raises CoturnUnavailable."""
    program = turnserver()
    folder = Path(tempfile.mkdtemp(prefix="p2pchat-coturn-"))  # mode 0700
    try:
        secret = secrets.token_urlsafe(32)
        config = folder / "turnserver.conf"
        config.touch(mode=0o600)
        config.write_text(f"static-auth-secret={secret}\n")
        port = free_udp_tcp_port()
        command = [
            program,
            "-c",  # instead of -n: our file, not Debian's (which logs to syslog)
            str(config),
            f"--listening-ip={HOST}",
            f"--listening-port={port}",
            "--use-auth-secret",
            f"--realm={realm}",
            "--allow-loopback-peers",
            "--no-cli",
            "--no-tls",
            "--no-dtls",
            "--log-file=stdout",
            f"--pidfile={folder / 'turnserver.pid'}",
        ]
        process = subprocess.Popen(
            command,
            cwd=folder,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    lines: collections.deque[str] = collections.deque(maxlen=KEPT_LINES)
    drain = threading.Thread(
        target=lambda: lines.extend(process.stdout), daemon=True, name="coturn-out"
    )
    drain.start()
    relay = Coturn(port, secret, realm, process.pid, process, folder, lines, drain)
    try:
        _wait_ready(relay, process, timeout)
    except BaseException:
        relay.stop()
        raise
    return relay


def _wait_ready(relay: Coturn, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not (answers_stun(relay.port) and _accepts_tcp(relay.port)):
        if process.poll() is not None:
            last = relay.output().strip().splitlines()[-1:] or ["no output"]
            raise CoturnUnavailable(
                f"turnserver exited with code {process.returncode} while starting: {last[0]}"
            )
        if time.monotonic() > deadline:
            raise CoturnUnavailable(
                f"turnserver did not answer on {HOST}:{relay.port} within {timeout:.0f} s"
            )
        time.sleep(0.05)


def answers_stun(port: int, host: str = HOST) -> bool:
    """A STUN Binding request to host:port over UDP gets a Binding success response."""
    transaction = secrets.token_bytes(12)
    request = struct.pack("!HHI", 0x0001, 0, 0x2112A442) + transaction
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.2)
        try:
            sock.sendto(request, (host, port))
            reply = sock.recv(2048)
        except OSError:  # timeout, or refused (an ICMP port unreachable)
            return False
    return reply[:2] == b"\x01\x01" and reply[8:20] == transaction


def _accepts_tcp(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((HOST, port)) == 0
