"""Configuration from the environment, and the $connect origin rule (pure)."""

from __future__ import annotations

import json

import pytest

from p2pchat import settings, table_spec
from p2pchat.settings import DEFAULT_ICE_SERVERS, Settings, origin_allowed, parse_origins


def test_defaults() -> None:
    s = Settings.from_env({})
    assert s.max_peers == 2
    assert s.allowed_origins is None
    assert s.ice_servers == DEFAULT_ICE_SERVERS
    assert s.ttl_seconds == table_spec.DEFAULT_TTL_SECONDS == 3 * 3600
    assert s.table_name == table_spec.LOCAL_TABLE_NAME
    assert s.apigw_endpoint is None and s.dynamodb_endpoint is None


def test_max_peers_is_bounded() -> None:
    assert Settings.from_env({"MAX_PEERS": "8"}).max_peers == 8
    assert Settings.from_env({"MAX_PEERS": "9"}).max_peers == 8
    assert Settings.from_env({"MAX_PEERS": "1"}).max_peers == 2
    assert Settings.from_env({"MAX_PEERS": "two"}).max_peers == 2


def test_region_endpoints_and_table() -> None:
    s = Settings.from_env(
        {
            "AWS_DEFAULT_REGION": "eu-west-3",
            "TABLE_NAME": "t",
            "DYNAMODB_ENDPOINT": "http://127.0.0.1:8000",
            "APIGW_ENDPOINT": "http://127.0.0.1:8080/_mgmt",
            "ROOM_TTL_SECONDS": "7300",
        }
    )
    assert (s.region, s.table_name, s.ttl_seconds) == ("eu-west-3", "t", 7300)
    assert s.dynamodb_endpoint == "http://127.0.0.1:8000"
    assert s.apigw_endpoint == "http://127.0.0.1:8080/_mgmt"
    assert Settings.from_env({"AWS_REGION": "a", "AWS_DEFAULT_REGION": "b"}).region == "a"


def test_ice_servers() -> None:
    turn = [{"urls": ["turn:t.example:3478"], "username": "1700000000:x", "credential": "c"}]
    assert Settings.from_env({"ICE_SERVERS": json.dumps(turn)}).ice_servers == turn
    assert Settings.from_env({"ICE_SERVERS": "[]"}).ice_servers == []  # loopback: none needed
    for broken in ("not json", '{"urls": "stun:x"}', '[{"url": "stun:x"}]', "[1]"):
        assert Settings.from_env({"ICE_SERVERS": broken}).ice_servers == DEFAULT_ICE_SERVERS


def test_origins() -> None:
    allowed = parse_origins(" https://Site.example/ ,http://localhost:8080,,")
    assert allowed == frozenset({"https://site.example", "http://localhost:8080"})
    assert origin_allowed("https://site.example", allowed)
    assert not origin_allowed("https://site.example.evil.com", allowed)
    assert not origin_allowed("null", allowed)
    assert origin_allowed(None, allowed)  # not a browser
    assert parse_origins("") is None and parse_origins(" , ") is None
    assert origin_allowed("https://anything.example", None)


def test_every_variable_has_one_provider_and_every_setting_one_variable() -> None:
    groups = [settings.SET_BY_STACK, settings.SET_BY_STACK_FOR_TURN, settings.SET_BY_LAMBDA,
              settings.OPTIONAL, settings.LOCAL_ONLY]  # fmt: skip
    for var in settings.Var:
        assert sum(var in group for group in groups) == 1, var
    assert set(settings.FIELD_VARIABLES.values()) <= set(settings.Var)


def test_settings_round_trip_through_the_environment() -> None:
    original = Settings(
        table_name="t",
        max_peers=4,
        allowed_origins=frozenset({"https://a.example", "http://localhost:8080"}),
        ice_servers=[{"urls": "turn:t.example:3478", "username": "u", "credential": "c"}],
        ttl_seconds=7200,
        apigw_endpoint="http://127.0.0.1:9/local",
        dynamodb_endpoint="http://127.0.0.1:8",
        region="eu-west-3",
    )
    assert Settings.from_env(original.to_env()) == original
    assert Settings.from_env(Settings().to_env()) == Settings()


def test_ice_server_rules_say_what_is_wrong() -> None:
    ok = [{"urls": ["stun:s.example:3478", "turns:t.example:443?transport=tcp"]}]
    assert settings.parse_ice_servers(json.dumps(ok)) == ok
    assert settings.parse_ice_servers([{"urls": "turn:x", "username": None}]) == [
        {"urls": "turn:x"}
    ]
    for broken, words in [
        ("not json", "JSON list"),
        ([{"urls": "http://x"}], "0.urls"),
        ([{"urls": []}], "0.urls"),
        ([{"urls": "stun:x", "url": "stun:y"}], "0.url"),
        ([{"urls": "turn:x", "credential": 5}], "0.credential"),
    ]:
        with pytest.raises(settings.IceServersError, match=words):
            settings.parse_ice_servers(broken)
    assert settings.has_turn([{"urls": ["stun:a", "turn:b"]}])
    assert not settings.has_turn([{"urls": "stun:a"}])


def test_config_json_shape() -> None:
    assert settings.site_config("wss://x/ws", "relay") == {
        "signalingUrl": "wss://x/ws",
        "iceTransportPolicy": "relay",
    }
    with pytest.raises(ValueError, match="iceTransportPolicy"):
        settings.site_config("wss://x/ws", "none")
