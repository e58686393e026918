"""The ICE servers a member is handed: STUN only, TURN credentials minted from a shared secret,
or Kinesis Video Streams' managed TURN. One provider per function, chosen by ``Settings.turn``.

Credentials are short-lived and per request: the secret itself never leaves the function and
is never logged; it is read once per container (Secrets Manager in the cloud, the settings
locally). docs/network.md has the design and threat notes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .observability import logger
from .settings import Settings

# A cached KVS answer is handed out until this share of its lifetime is left, so a browser
# always gets credentials with most of their life ahead.
KVS_REUSE_FRACTION = 0.5


@dataclass(frozen=True)
class IceOffer:
    """RTCIceServer dictionaries, and how long their credentials last (None: no expiry)."""

    servers: list[dict[str, Any]]
    ttl_seconds: int | None


class IceProvider(Protocol):
    def offer(self) -> IceOffer: ...


class StaticIce:
    """The configured servers (STUN) as they are."""

    def __init__(self, servers: list[dict[str, Any]]) -> None:
        self._servers = servers

    def offer(self) -> IceOffer:
        return IceOffer(servers=list(self._servers), ttl_seconds=None)


def turn_rest_credential(secret: str, expiry: int, user: str) -> tuple[str, str]:
    """The TURN REST scheme coturn's `use-auth-secret` checks: username ``expiry:user``,
    credential base64(HMAC-SHA1(secret, username))."""
    username = f"{expiry}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


class SecretTurn:
    """Credentials minted here for a TURN server that shares our secret."""

    def __init__(
        self,
        stun: list[dict[str, Any]],
        urls: tuple[str, ...],
        secret: Callable[[], str],
        lifetime_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._stun, self._urls, self._secret = stun, list(urls), secret
        self._lifetime, self._clock = lifetime_seconds, clock

    def offer(self) -> IceOffer:
        expiry = int(self._clock()) + self._lifetime
        user = secrets.token_urlsafe(9)  # a random id: nothing about the person or connection
        username, credential = turn_rest_credential(self._secret(), expiry, user)
        turn = {"urls": self._urls, "username": username, "credential": credential}
        return IceOffer(servers=[*self._stun, turn], ttl_seconds=self._lifetime)


class KvsTurn:
    """Kinesis Video Streams' managed TURN: one signaling channel used only for its TURN
    service; GetSignalingChannelEndpoint (HTTPS), then GetIceServerConfig, cached per container
    while most of the credentials' lifetime is left."""

    def __init__(
        self,
        channel_arn: str,
        kinesisvideo: Any,
        signaling_client: Callable[[str], Any],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._channel = channel_arn
        self._kvs = kinesisvideo
        self._signaling_client = signaling_client  # endpoint URL -> kinesis-video-signaling
        self._clock = clock
        self._lock = threading.Lock()
        self._signaling: Any = None
        self._cached: tuple[float, IceOffer] | None = None  # (when fetched, offer)

    def offer(self) -> IceOffer:
        with self._lock:
            now = self._clock()
            if self._cached is not None:
                fetched, cached = self._cached
                ttl = cached.ttl_seconds or 0
                if now < fetched + ttl * KVS_REUSE_FRACTION:
                    return IceOffer(cached.servers, ttl_seconds=int(fetched + ttl - now))
            answer = self._client().get_ice_server_config(ChannelARN=self._channel, Service="TURN")
            servers = [
                {"urls": s["Uris"], "username": s["Username"], "credential": s["Password"]}
                for s in answer.get("IceServerList", [])
            ]
            ttl = min((int(s.get("Ttl", 300)) for s in answer.get("IceServerList", [])), default=0)
            offer = IceOffer(servers=servers, ttl_seconds=ttl)
            self._cached = (now, offer)
            return offer

    def _client(self) -> Any:
        if self._signaling is None:
            endpoints = self._kvs.get_signaling_channel_endpoint(
                ChannelARN=self._channel,
                SingleMasterChannelEndpointConfiguration={"Protocols": ["HTTPS"], "Role": "VIEWER"},
            )["ResourceEndpointList"]
            https = next(e["ResourceEndpoint"] for e in endpoints if e["Protocol"] == "HTTPS")
            self._signaling = self._signaling_client(https)
        return self._signaling


class WithStun:
    """A TURN provider's servers after the configured STUN servers; STUN alone (logged) when
    the TURN provider fails, so a call still connects wherever a direct path exists."""

    def __init__(self, stun: list[dict[str, Any]], turn: IceProvider) -> None:
        self._stun, self._turn = stun, turn

    def offer(self) -> IceOffer:
        try:
            turn = self._turn.offer()
        except Exception:
            logger.exception("could not get TURN credentials; offering STUN only")
            return IceOffer(servers=list(self._stun), ttl_seconds=None)
        return IceOffer(servers=[*self._stun, *turn.servers], ttl_seconds=turn.ttl_seconds)


class SecretOnce:
    """A secret read on first use and kept for the life of the container."""

    def __init__(self, read: Callable[[], str]) -> None:
        self._read, self._value, self._lock = read, None, threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            if self._value is None:
                self._value = self._read()
            return self._value


def ice_provider(settings: Settings, clients: Any, clock: Callable[[], float]) -> IceProvider:
    """The provider for these settings (``clients``: aws_clients.Clients)."""
    stun = settings.ice_servers
    if settings.turn == "secret":
        if settings.turn_secret is not None:
            local_secret = settings.turn_secret
            secret = SecretOnce(lambda: local_secret)
        else:
            arn = settings.turn_secret_arn
            secret = SecretOnce(lambda: clients.secrets(settings.region).get_secret_value(
                SecretId=arn)["SecretString"])  # fmt: skip
        minted = SecretTurn([], settings.turn_urls, secret, settings.turn_credential_seconds,
                            clock)  # fmt: skip
        return WithStun(stun, minted)
    if settings.turn == "kvs":
        kvs = KvsTurn(
            settings.kvs_channel_arn or "",
            clients.kinesisvideo(settings.region),
            lambda endpoint: clients.kvs_signaling(endpoint, settings.region),
            clock,
        )
        return WithStun(stun, kvs)
    return StaticIce(stun)
