"""coturn beside the local stack (``TURN=1 make run``, ``StackSettings(coturn=True)``): it
starts on loopback with a fresh secret nobody sees, the function hands out credentials that
coturn itself accepts, and it stops with the stack however the stack ends (Ctrl-C, SIGKILL).
Credentials are judged by coturn (a TURN Allocate from tests/local/turn_client.py), not by
recomputing our own HMAC."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from local import ROOT
from local.coturn import start_coturn
from local.stack import StackSettings, start_local_stack
from p2pchat.settings import DEFAULT_TURN_CREDENTIAL_SECONDS
from p2pchat.turn import turn_rest_credential
from tests.local.kit import alive, local_process, run_async, until, websocket
from tests.local.turn_client import TurnClient

COTURN_PID = re.compile(r"turn\s+coturn pid (\d+) at 127\.0\.0\.1:(\d+)")
TURN_USERNAME = re.compile(r"^(\d+):[\w-]+$")


def allocate(port: int, server: dict) -> int:
    """coturn's answer to an Allocate with this RTCIceServer's credentials (200: accepted)."""
    with TurnClient(("127.0.0.1", port)) as client:
        return client.allocate(server["username"], server["credential"])


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def test_coturn_accepts_only_its_credentials_and_stops_leaving_nothing():
    """Fresh credentials are accepted; a wrong credential and an expired one are refused
    (401). The secret is not on coturn's command line (``ps`` shows that to everyone); its
    folder (config file, pidfile) is gone after stop, and so is the process."""
    with start_coturn() as relay:
        assert relay.secret not in cmdline(relay.pid)
        assert relay.secret not in repr(relay)
        folder = Path(cmdline(relay.pid).split("--pidfile=")[1].split()[0]).parent
        assert folder.is_dir()
        assert allocate(relay.port, relay.ice_server()) == 200
        assert allocate(relay.port, {**relay.ice_server(), "credential": "d3Jvbmc="}) == 401
        assert allocate(relay.port, relay.ice_server(ttl=-1)) == 401
    assert not alive(relay.pid)
    assert not folder.exists()


def test_coturn_checks_expiry_when_allocating_not_when_refreshing():
    """What coturn 4.6 does with TURN REST credentials (coturn#774): it checks their expiry
    when an allocation is made, not when it is refreshed. So a relayed call outlives its
    credentials, but any new allocation (an ICE restart, a new connection) needs fresh ones:
    the page asks for them before (docs/frontend.md). If this ever fails, coturn has started
    checking on refresh, and only the page's restarts before expiry keep calls relayed."""
    with start_coturn() as relay, TurnClient(("127.0.0.1", relay.port)) as client:
        expiry = int(time.time()) + 2
        username, credential = turn_rest_credential(relay.secret, expiry, "short")
        assert client.allocate(username, credential) == 200
        # Well past: coturn's clock, as its check reads it, may lag by about a second.
        until(lambda: time.time() > expiry + 3, "the credentials expired")
        assert client.refresh(lifetime=600) == 200
        assert allocate(relay.port, {"username": username, "credential": credential}) == 401


async def _join(ws_url: str, origin: str) -> tuple[dict, dict]:
    """A member's `joined`, then the answer to its `ice-servers` request."""
    async with websocket(ws_url, headers={"Origin": origin}) as ws:
        await ws.send_str(json.dumps({"action": "join", "room": "turn-room", "name": "Ana"}))
        joined = json.loads(await ws.receive_str())
        await ws.send_str(json.dumps({"action": "ice-servers"}))
        fresh = json.loads(await ws.receive_str())
    return joined, fresh


def check_turn_offer(frame: dict, port: int, ttl: int) -> dict:
    """The frame offers exactly our coturn, UDP and TCP on loopback, with credentials that
    expire ``ttl`` seconds from now; the server."""
    (server,) = frame["iceServers"]  # locally no STUN: the relay only
    assert server["urls"] == [f"turn:127.0.0.1:{port}?transport=udp",
                              f"turn:127.0.0.1:{port}?transport=tcp"]  # fmt: skip
    expiry = int(TURN_USERNAME.match(server["username"]).group(1))
    assert abs(expiry - (time.time() + ttl)) < 60
    assert frame["iceServersTtl"] == ttl
    return server


def test_stack_with_coturn_offers_it_to_members(dynamodb_endpoint):
    """``coturn=True``: `joined` and `ice-servers` carry our coturn with credentials coturn
    accepts, new ones each time; the secret is in no log line; coturn stops with the stack."""
    with start_local_stack(dynamodb_endpoint=dynamodb_endpoint, coturn=True) as stack:
        relay = stack.coturn
        assert alive(relay.pid)
        assert stack.function.turn == "secret" and stack.function.turn_urls == relay.urls
        joined, fresh = run_async(_join(stack.ws_url, stack.http_url))
        assert joined["type"] == "joined" and fresh["type"] == "ice-servers"
        first = check_turn_offer(joined, relay.port, DEFAULT_TURN_CREDENTIAL_SECONDS)
        second = check_turn_offer(fresh, relay.port, DEFAULT_TURN_CREDENTIAL_SECONDS)
        assert first["username"] != second["username"]
        assert allocate(relay.port, first) == allocate(relay.port, second) == 200
        stack.wait_for(r"message\s+\S+ ice-servers \d+ B -> 200")
    output = stack.output()
    assert COTURN_PID.search(output).group(1) == str(relay.pid)
    assert "turn       coturn stopped" in output
    assert relay.secret not in output + relay.output()
    assert not alive(relay.pid)


def test_turn_switch_is_read_from_the_environment():
    """``TURN=1`` is the stack's switch; the function's own TURN values still reach it."""
    assert StackSettings.from_env({"TURN": "1"}).coturn is True
    assert StackSettings.from_env({"TURN": "1"}).function.turn == "none"  # the stack sets it
    assert StackSettings.from_env({"TURN": "1", "TURN_CREDENTIAL_SECONDS": "600"}).function \
        .turn_credential_seconds == 600  # fmt: skip
    for off in ({}, {"TURN": ""}, {"TURN": "0"}, {"TURN": "none"}):
        assert StackSettings.from_env(off) == StackSettings.from_env({}), off
    own = StackSettings.from_env({"TURN": "secret", "TURN_URLS": '["turn:example.org"]',
                                  "TURN_SECRET": "s"})  # fmt: skip
    assert (own.coturn, own.function.turn) == (False, "secret")
    assert own.function.turn_urls == ("turn:example.org",)


def test_turn_switch_starts_coturn_and_ctrl_c_stops_it():
    """``TURN=1 python -m local`` (what ``TURN=1 make run`` runs): coturn runs beside the stack
    and members are offered it; Ctrl-C (SIGINT) ends the stack and coturn, exit status 0."""
    with local_process(TURN="1", LOCAL_DYNAMODB="moto") as stack:
        pid, port = map(int, COTURN_PID.search(stack.output()).groups())
        assert alive(pid)
        assert "turnserver" in cmdline(pid) and "static-auth-secret" not in cmdline(pid)
        joined, _ = run_async(_join(stack.ws_url, stack.http_url))
        assert allocate(port, check_turn_offer(joined, port, DEFAULT_TURN_CREDENTIAL_SECONDS)) \
            == 200  # fmt: skip
        status = stack.stop()
    output = stack.output()
    assert status == 0, output
    assert not alive(pid)
    assert "turn       coturn stopped" in output
    assert "Traceback" not in output


def test_coturn_dies_with_a_killed_stack():
    """SIGKILL leaves Python no chance to stop coturn: its parent-death signal does."""
    with local_process(TURN="1", LOCAL_DYNAMODB="moto") as stack:
        pid = int(COTURN_PID.search(stack.output()).group(1))
        assert alive(pid)
        stack.process.kill()
        stack.process.wait()
        until(lambda: not alive(pid), "coturn gone after its stack was killed")


def test_missing_turnserver_is_one_clear_line():
    env = {**os.environ, "PORT": "0", "TURN": "1", "LOCAL_DYNAMODB": "moto", "PATH": "/nonexistent"}
    result = subprocess.run(
        [sys.executable, "-m", "local"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode == 1
    assert len(lines) == 1 and lines[0].startswith("p2pchat: turnserver is missing"), lines
