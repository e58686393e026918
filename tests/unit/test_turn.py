"""ICE servers for members: TURN REST credentials minted from a secret, Kinesis Video Streams'
managed TURN (its signaling data plane through botocore's Stubber: moto lacks it), caching."""

from __future__ import annotations

import base64
import hashlib
import hmac

import boto3
import pytest
from botocore.stub import Stubber

from p2pchat.turn import KvsTurn, SecretOnce, SecretTurn, WithStun, turn_rest_credential

STUN = [{"urls": ["stun:stun.example:3478"]}]
CHANNEL = "arn:aws:kinesisvideo:eu-west-1:123456789012:channel/p2pchat-turn/1700000000000"
ENDPOINT = "https://r-1234abcd.kinesisvideo.eu-west-1.amazonaws.com"


def test_credentials_follow_the_turn_rest_scheme() -> None:
    username, credential = turn_rest_credential("s3cret", 1_800_000_000, "abc")
    assert username == "1800000000:abc"
    expected = hmac.new(b"s3cret", b"1800000000:abc", hashlib.sha1).digest()
    assert base64.b64decode(credential) == expected


def test_minted_credentials_are_per_request_short_lived_and_never_the_secret() -> None:
    minted = SecretTurn([], ("turn:t.example:3478?transport=udp", "turns:t.example:443"),
                        lambda: "s3cret", 600, clock=lambda: 1_000_000.0)  # fmt: skip
    first, second = minted.offer(), minted.offer()
    (turn,) = first.servers
    assert turn["urls"] == ["turn:t.example:3478?transport=udp", "turns:t.example:443"]
    expiry, user = turn["username"].split(":")
    assert int(expiry) == 1_000_600 and first.ttl_seconds == 600
    assert turn_rest_credential("s3cret", 1_000_600, user)[1] == turn["credential"]
    assert second.servers[0]["username"] != turn["username"]  # a fresh id each time
    assert "s3cret" not in repr(first) + repr(second)


def test_the_secret_is_read_once() -> None:
    reads: list[int] = []
    secret = SecretOnce(lambda: reads.append(1) or "s")
    assert secret() == secret() == "s" and reads == [1]


def kvs_clients() -> tuple[object, object]:
    session = boto3.session.Session(
        aws_access_key_id="x", aws_secret_access_key="x", region_name="eu-west-1"
    )
    return (
        session.client("kinesisvideo"),
        session.client("kinesis-video-signaling", endpoint_url=ENDPOINT),
    )


def ice_config(password: str, ttl: int = 300) -> dict:
    return {
        "IceServerList": [
            {
                "Uris": [
                    "turn:1-2-3-4.kinesisvideo.eu-west-1.amazonaws.com:443?transport=udp",
                    "turns:1-2-3-4.kinesisvideo.eu-west-1.amazonaws.com:443?transport=tcp",
                ],
                "Username": "1700000300:user",
                "Password": password,
                "Ttl": ttl,
            }
        ]
    }


def test_kvs_turn_is_fetched_once_per_half_lifetime() -> None:
    control, data = kvs_clients()
    now = [1_000.0]
    with Stubber(control) as control_stub, Stubber(data) as data_stub:
        control_stub.add_response(
            "get_signaling_channel_endpoint",
            {"ResourceEndpointList": [{"Protocol": "HTTPS", "ResourceEndpoint": ENDPOINT}]},
            {
                "ChannelARN": CHANNEL,
                "SingleMasterChannelEndpointConfiguration": {
                    "Protocols": ["HTTPS"],
                    "Role": "VIEWER",
                },
            },
        )
        wanted = {"ChannelARN": CHANNEL, "Service": "TURN"}
        data_stub.add_response("get_ice_server_config", ice_config("p1"), wanted)
        data_stub.add_response("get_ice_server_config", ice_config("p2"), wanted)
        endpoints: list[str] = []
        kvs = KvsTurn(CHANNEL, control, lambda url: endpoints.append(url) or data,
                      clock=lambda: now[0])  # fmt: skip
        first = kvs.offer()
        assert first.ttl_seconds == 300 and first.servers[0]["credential"] == "p1"
        assert first.servers[0]["urls"][1].startswith("turns:") and endpoints == [ENDPOINT]
        now[0] += 100
        again = kvs.offer()  # cached: no call (the Stubber would refuse an unexpected one)
        assert again.servers == first.servers and again.ttl_seconds == 200
        now[0] += 60  # past half the lifetime: fetched anew, the endpoint kept
        assert kvs.offer().servers[0]["credential"] == "p2"
        control_stub.assert_no_pending_responses()
        data_stub.assert_no_pending_responses()


def test_a_failing_turn_provider_leaves_stun(caplog: pytest.LogCaptureFixture) -> None:
    control, data = kvs_clients()
    with Stubber(control) as control_stub:
        control_stub.add_client_error("get_signaling_channel_endpoint", "AccessDeniedException")
        offer = WithStun(STUN, KvsTurn(CHANNEL, control, lambda url: data)).offer()
    assert offer.servers == STUN and offer.ttl_seconds is None
