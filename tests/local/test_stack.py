"""The local stack: the real function behind the gateway with DynamoDB Local (or moto), over
real HTTP, in this process (``local.stack``); and ``python -m local`` as a person runs it, a
child process: it serves the site, stops on Ctrl-C or SIGTERM leaving nothing, and explains a
bad setting, a busy port or a missing java in one line."""

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request

import aiohttp
import pytest

from local import ROOT
from local.stack import SettingError, StackSettings, start_local_stack
from tests.local.kit import alive, local_process, run_async, websocket

JVM_PID = re.compile(r"database\s+dynamodb-local pid (\d+)")
# Whatever the developer's shell says: DynamoDB Local started by the stack itself.
OWN_JVM = {"DYNAMODB_ENDPOINT": "", "LOCAL_DYNAMODB": ""}


async def _call_and_hang_up(ws_url: str, origin: str) -> dict:
    """Two raw clients join a room, one signals the other, then hangs up: the frames each
    side received, by kind."""

    async def frames_until(ws, kind: str) -> dict:
        while True:
            frame = json.loads(await ws.receive_str())
            assert frame["type"] != "error", frame
            if frame["type"] == kind:
                return frame

    headers = {"Origin": origin}
    async with websocket(ws_url, headers=headers) as alice:
        await alice.send_str(json.dumps({"action": "join", "room": "e2e-room", "name": "Alice"}))
        alice_joined = await frames_until(alice, "joined")
        async with websocket(ws_url, headers=headers) as bob:
            await bob.send_str(json.dumps({"action": "join", "room": "e2e-room", "name": "Bob"}))
            bob_joined = await frames_until(bob, "joined")
            peer_joined = await frames_until(alice, "peer-joined")
            offer = {"description": {"type": "offer", "sdp": "v=0"}}
            await bob.send_str(
                json.dumps({"action": "signal", "to": alice_joined["you"], "data": offer})
            )
            relayed = await frames_until(alice, "signal")
        peer_left = await frames_until(alice, "peer-left")
    return {
        "alice": alice_joined,
        "bob": bob_joined,
        "peer-joined": peer_joined,
        "signal": relayed,
        "peer-left": peer_left,
    }


def _check_call(frames: dict) -> None:
    alice, bob = frames["alice"]["you"], frames["bob"]["you"]
    assert frames["alice"]["peers"] == []
    assert [p["id"] for p in frames["bob"]["peers"]] == [alice]
    assert frames["peer-joined"]["peer"] == {"id": bob, "name": "Bob"}
    assert frames["signal"]["from"] == bob
    assert frames["signal"]["data"] == {"description": {"type": "offer", "sdp": "v=0"}}
    assert frames["peer-left"]["peer"] == bob


@pytest.mark.parametrize("database", ["dynamodb-local", "moto"])
def test_end_to_end(request, database):
    """Join, signal and peer-left through gateway + real handler + database over real HTTP;
    with DynamoDB Local (the session's stack, on the session's DynamoDB Local through its
    endpoint) and with moto (its own stack, stopped; SIGTERM: test_sigterm_stops_cleanly)."""
    if database == "dynamodb-local":
        stack = request.getfixturevalue("local_stack")
        _check_call(run_async(_call_and_hang_up(stack.ws_url, stack.http_url)))
        endpoint = request.getfixturevalue("dynamodb_endpoint")
        assert f"database   external at {endpoint}" in stack.output()
    else:
        with start_local_stack(database="moto") as stack:
            _check_call(run_async(_call_and_hang_up(stack.ws_url, stack.http_url)))
        assert "database   moto at" in stack.output()
        assert "database   moto stopped" in stack.output()
    stack.wait_for(r"disconnect\s+\S+ 1000 .*-> 200")


def test_stacks_of_other_settings_run_side_by_side(local_stack):
    """Another configuration is another stack in this process, beside the session's: each
    function has its own settings. A third person gets into a room of max_peers=4, not into
    one of the session stack's (2); each stack allows the origins of its own port."""
    with start_local_stack(StackSettings(database="moto"), max_peers=4) as other:
        assert other.port != local_stack.port
        assert f"http://[::1]:{other.port}" in other.function.allowed_origins
        assert other.function.apigw_endpoint == f"http://127.0.0.1:{other.port}/local"
        third_in_other = run_async(_third_in_a_room(other, f"side-{other.port}"))
    third_in_session = run_async(_third_in_a_room(local_stack, f"side-{other.port}"))
    assert third_in_other["type"] == "joined"
    assert (third_in_session["type"], third_in_session["code"]) == ("error", "room-full")
    assert re.search(r"message\s+\S+ join \d+ B -> 200", other.output())
    assert other.database.endpoint not in local_stack.output()


async def _third_in_a_room(stack, room: str) -> dict:
    """Three people join one room, one after the other: the first frame the third gets."""
    async with contextlib.AsyncExitStack() as sockets:
        people = [await sockets.enter_async_context(
            websocket(stack.ws_url, headers={"Origin": stack.http_url})) for _ in range(3)]
        for ws in people:
            await ws.send_str(json.dumps({"action": "join", "room": room, "name": "P"}))
            first = json.loads(await ws.receive_str())
        return first


def test_foreign_origin_is_refused(local_stack):
    """The real handler refuses a page of another origin at $connect: 403, no socket."""

    async def scenario():
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            async with websocket(local_stack.ws_url, headers={"Origin": "https://evil.example"}):
                pass
        return refused.value.status

    assert run_async(scenario()) == 403
    # the handler's Powertools warning, as one readable line, then the gateway's
    local_stack.wait_for(r"handler    WARNING .*origin=https://evil\.example")
    local_stack.wait_for(r"connect    \S+ from 127\.0\.0\.1 origin=https://evil\.example -> 403")


def test_serves_and_stops_on_ctrl_c_leaving_nothing():
    """``python -m local``: the site and config.json are served with the CSP; SIGINT closes
    open sockets with 1001 (their $disconnect runs) and ends the process, the JVM and the
    listening port. The developer's AWS profile is never looked up (dummy credentials for
    local endpoints): one that does not exist here does not matter."""
    with local_process(**OWN_JVM, AWS_PROFILE="p2pchat-no-such-profile") as stack:
        with urllib.request.urlopen(f"{stack.http_url}/config.json") as response:
            assert json.loads(response.read()) == {
                "signalingUrl": f"{stack.ws_url}",
                "iceTransportPolicy": "all",
            }
            csp = response.headers["Content-Security-Policy"]
        assert csp and "unsafe-inline" not in csp
        (jvm,) = map(int, JVM_PID.findall(stack.output()))
        assert alive(jvm)
        closing, status = run_async(_stop_while_connected(stack))
    output = stack.output()
    assert status == 0, output
    assert closing.type is aiohttp.WSMsgType.CLOSE and closing.data == 1001
    assert not alive(jvm)
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", stack.port)) != 0
    assert re.search(r"connect\s+\S+ from 127\.0\.0\.1 .*-> 200", output)
    assert re.search(r"message\s+\S+ ping \d+ B -> 200", output)
    assert re.search(r"disconnect\s+\S+ 1001 .*-> 200", output)
    assert "Traceback" not in output


def test_sigterm_stops_cleanly():
    """``python -m local`` with LOCAL_DYNAMODB=moto: SIGTERM ends it with status 0."""
    with local_process(LOCAL_DYNAMODB="moto") as stack:
        _check_call(run_async(_call_and_hang_up(stack.ws_url, stack.http_url)))
        assert stack.stop(signal.SIGTERM) == 0
    output = stack.output()
    assert "database   moto at" in output and "database   moto stopped" in output
    assert "Traceback" not in output


async def _stop_while_connected(stack):
    async with websocket(stack.ws_url, headers={"Origin": stack.http_url}) as ws:
        await ws.send_str('{"action":"ping"}')
        assert json.loads(await ws.receive_str()) == {"type": "pong"}
        stopping = asyncio.create_task(asyncio.to_thread(stack.stop))
        closing = await ws.receive()
        return closing, await stopping


def _run_local(**env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "local"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_port_in_use_is_one_clear_line():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _run_local(PORT=str(port))
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode == 1
    assert lines == [f"p2pchat: port {port} is already in use: stop what uses it, "
                     "or run with PORT=<another port>"]  # fmt: skip


def test_bad_ice_transport_policy_is_one_clear_line():
    result = _run_local(PORT="0", ICE_TRANSPORT_POLICY="relay-only")
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode == 1
    assert lines == ["p2pchat: ICE_TRANSPORT_POLICY must be one of all, relay, not 'relay-only'"]


def test_missing_java_is_one_clear_line():
    result = _run_local(PORT="0", PATH="/nonexistent", **OWN_JVM)
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert result.returncode == 1
    assert len(lines) == 1 and lines[0].startswith("p2pchat: java is missing"), lines


def test_settings_from_env():
    """The variables of ``python -m local``, read from the mapping given (only its main gives
    os.environ): the gateway's, the function's, the stack's; a bad one is one clear error."""
    settings = StackSettings.from_env(
        {"IDLE_TIMEOUT_SECONDS": "5", "MAX_CONNECTION_SECONDS": "9", "STAGE": "dev",
         "MAX_PEERS": "4", "LOCAL_DYNAMODB": "moto", "PORT": "0"}
    )  # fmt: skip
    gateway = settings.gateway
    assert (gateway.idle_timeout, gateway.max_duration, gateway.stage) == (5.0, 9.0, "dev")
    assert (settings.function.max_peers, settings.database, settings.port) == (4, "moto", 0)
    assert StackSettings.from_env({"PORT": "0"}) == StackSettings()
    assert StackSettings.from_env({}).port == 8080
    assert StackSettings.from_env({}).function.ice_servers == []  # loopback: no STUN
    relay = StackSettings.from_env({"ICE_TRANSPORT_POLICY": "relay"})
    assert relay.gateway.ice_transport_policy == "relay"
    for bad in ({"ICE_TRANSPORT_POLICY": "none"}, {"IDLE_TIMEOUT_SECONDS": "soon"},
                {"PORT": "http"}):  # fmt: skip
        with pytest.raises(SettingError, match=next(iter(bad))):
            StackSettings.from_env(bad)
