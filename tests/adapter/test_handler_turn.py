"""TURN credentials handed to members (docs/network.md): minted per request from a secret
read once per container, never logged; fresh ones on request, for members only."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import time

from p2pchat.observability import logger
from tests.adapter.handler_harness import World

URLS = ["turn:turn.example:3478?transport=udp", "turn:turn.example:3478?transport=tcp"]


def secret_world(world: World, **env: str) -> None:
    world.setenv("TURN", "secret")
    world.setenv("TURN_URLS", json.dumps(URLS))
    for name, value in env.items():
        world.setenv(name, value)


def assert_valid_turn(server: dict, secret: str, lifetime: int) -> None:
    assert server["urls"] == URLS
    expiry = int(server["username"].split(":")[0])
    assert abs(expiry - (time.time() + lifetime)) < 60
    digest = hmac.new(secret.encode(), server["username"].encode(), hashlib.sha1).digest()
    assert server["credential"] == base64.b64encode(digest).decode()


def test_joined_carries_stun_and_minted_turn_credentials(world: World) -> None:
    secret_world(world, TURN_SECRET="local-secret", TURN_CREDENTIAL_SECONDS="600")
    joined = world.browser("A").join("r", "Ada")
    stun, turn = joined["iceServers"]
    assert stun == {"urls": ["stun:stun.l.google.com:19302"]}
    assert_valid_turn(turn, "local-secret", 600)
    assert joined["iceServersTtl"] == 600


def test_the_cloud_secret_is_read_once_from_secrets_manager_and_never_logged(
    world: World, capsys
) -> None:
    secrets = world.session.client("secretsmanager")
    arn = secrets.create_secret(Name="p2pchat/turn", SecretString="cloud-secret")["ARN"]
    reads: list[str] = []
    world.session.events.register(
        "before-call.secrets-manager.GetSecretValue", lambda **_: reads.append("read")
    )
    secret_world(world, TURN_SECRET_ARN=arn)
    stream = io.StringIO()
    previous = logger.registered_handler.setStream(stream)
    try:
        a, b = world.browser("A"), world.browser("B")
        assert_valid_turn(a.join("r", "Ada")["iceServers"][1], "cloud-secret", 3 * 3600)
        assert_valid_turn(b.join("r", "Bob")["iceServers"][1], "cloud-secret", 3 * 3600)
    finally:
        logger.registered_handler.setStream(previous)
    assert reads == ["read"]
    assert "cloud-secret" not in stream.getvalue() + capsys.readouterr().out


def test_members_get_fresh_ice_servers_on_request_strangers_do_not(world: World) -> None:
    secret_world(world, TURN_SECRET="local-secret")
    a = world.browser("A")
    first = a.join("r", "Ada")["iceServers"][1]
    a.send({"action": "ice-servers"})
    (fresh,) = a.take()
    assert fresh["type"] == "ice-servers" and fresh["iceServersTtl"] == 3 * 3600
    assert fresh["iceServers"][1]["username"] != first["username"]
    assert_valid_turn(fresh["iceServers"][1], "local-secret", 3 * 3600)
    stranger = world.browser("S")
    stranger.send({"action": "ice-servers"})
    assert [f["code"] for f in stranger.take()] == ["not-in-room"]


def test_without_turn_nothing_expires(world: World) -> None:
    joined = world.browser("A").join("r", "Ada")
    assert joined["iceServersTtl"] is None
    assert all("credential" not in s for s in joined["iceServers"])


def test_a_misconfigured_turn_falls_back_to_stun(world: World) -> None:
    world.setenv("TURN", "secret")  # no URLs, no secret
    assert world.settings.turn == "none"
    assert world.browser("A").join("r", "Ada")["iceServers"] == [
        {"urls": ["stun:stun.l.google.com:19302"]}
    ]
