"""CDK context settings of the P2PChat stack, with their defaults, read and checked once.

Every setting can be given on the command line (``npx cdk deploy -c stage=prod -c maxPeers=4``)
or in ``cdk.json``'s ``context``; docs/deploy.md has the table. A wrong value fails synthesis
with a message naming the key, before anything reaches AWS.

Also the one place that makes the Lambda code (``lambdas/``) importable for the CDK app, so
the stack reads the table schema and the protocol's limits from their single definitions.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
LAMBDA_SOURCE_DIR = REPO_ROOT / "lambdas"
FRONTEND_DIR = REPO_ROOT / "frontend"
if str(LAMBDA_SOURCE_DIR) not in sys.path:
    sys.path.append(str(LAMBDA_SOURCE_DIR))

from p2pchat import protocol  # noqa: E402  (needs the path above)

# The Powertools release the Lambda gets from AWS's public layer. Must equal the
# aws-lambda-powertools pin in requirements.txt (tests/infra checks it), so the cloud runs the
# version the tests ran.
POWERTOOLS_VERSION = "3.37.0"

STAGES = ("dev", "prod")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# The retention periods (days) CloudWatch Logs accepts, with their aws_logs.RetentionDays names.
RETENTION_DAYS = {
    1: "ONE_DAY",
    3: "THREE_DAYS",
    5: "FIVE_DAYS",
    7: "ONE_WEEK",
    14: "TWO_WEEKS",
    30: "ONE_MONTH",
    60: "TWO_MONTHS",
    90: "THREE_MONTHS",
    120: "FOUR_MONTHS",
    150: "FIVE_MONTHS",
    180: "SIX_MONTHS",
    365: "ONE_YEAR",
    400: "THIRTEEN_MONTHS",
    545: "EIGHTEEN_MONTHS",
    731: "TWO_YEARS",
    1096: "THREE_YEARS",
    1827: "FIVE_YEARS",
}
PRICE_CLASSES = ("100", "200", "All")
# RTCConfiguration.iceTransportPolicy for every browser (config.json): "relay" sends media
# through TURN only, hiding the users' IP addresses from each other (needs a TURN server).
ICE_TRANSPORT_POLICIES = ("all", "relay")
DEFAULT_ICE_SERVERS: tuple[dict[str, Any], ...] = ({"urls": ["stun:stun.l.google.com:19302"]},)
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_CERT_ARN = re.compile(r"^arn:aws[a-z-]*:acm:us-east-1:\d{12}:certificate/[0-9a-f-]{36}$")
_ICE_URL = re.compile(r"^(stun|stuns|turn|turns):[^\s]+$")


class SettingsError(ValueError):
    """A CDK context value is missing, malformed or out of range."""


@dataclass(frozen=True)
class Settings:
    """What the stack is built from. Defaults make a working dev stack with no context at all."""

    stage: str = "dev"
    max_peers: int = protocol.DEFAULT_MAX_PEERS
    ice_servers: tuple[dict[str, Any], ...] = DEFAULT_ICE_SERVERS
    ice_transport_policy: str = "all"
    throttle_rate_limit: float = 100.0
    throttle_burst_limit: int = 200
    log_retention_days: int = 30
    access_log_retention_days: int = 90
    log_level: str = "INFO"
    domain_name: str | None = None
    certificate_arn: str | None = None
    price_class: str = "100"
    api_gateway_cloudwatch_role: bool = True

    @property
    def is_prod(self) -> bool:
        """Prod keeps its data when the stack or a resource is deleted; dev is destroyable."""
        return self.stage == "prod"

    @property
    def ice_servers_json(self) -> str:
        """The STUN/TURN list as the Lambda's ICE_SERVERS variable: compact JSON."""
        return json.dumps(list(self.ice_servers), separators=(",", ":"))

    @classmethod
    def from_context(cls, try_get_context: Any) -> Settings:
        """Read every key through ``node.try_get_context`` (CLI ``-c`` values arrive as text)."""
        defaults = cls()

        def get(key: str, default: Any) -> Any:
            value = try_get_context(key)
            return default if value is None or value == "" else value

        settings = cls(
            stage=_choice("stage", get("stage", defaults.stage), STAGES),
            max_peers=_int_in(
                "maxPeers", get("maxPeers", defaults.max_peers), 2, protocol.MAX_PEERS_LIMIT
            ),
            ice_servers=_ice_servers(get("iceServers", list(defaults.ice_servers))),
            ice_transport_policy=_choice(
                "iceTransportPolicy",
                str(get("iceTransportPolicy", defaults.ice_transport_policy)),
                ICE_TRANSPORT_POLICIES,
            ),
            throttle_rate_limit=float(
                _int_in("throttleRateLimit", get("throttleRateLimit", 100), 1, 10_000)
            ),
            throttle_burst_limit=_int_in(
                "throttleBurstLimit",
                get("throttleBurstLimit", defaults.throttle_burst_limit),
                1,
                5_000,
            ),
            log_retention_days=_retention(
                "logRetentionDays", get("logRetentionDays", defaults.log_retention_days)
            ),
            access_log_retention_days=_int_in(
                "accessLogRetentionDays",
                get("accessLogRetentionDays", defaults.access_log_retention_days),
                1,
                3650,
            ),
            log_level=_choice("logLevel", str(get("logLevel", "INFO")).upper(), LOG_LEVELS),
            domain_name=_domain(get("domainName", None)),
            certificate_arn=_certificate(get("certificateArn", None)),
            price_class=_choice("priceClass", str(get("priceClass", "100")), PRICE_CLASSES),
            api_gateway_cloudwatch_role=_bool(
                "apiGatewayCloudWatchRole", get("apiGatewayCloudWatchRole", True)
            ),
        )
        if settings.ice_transport_policy == "relay" and not _has_turn(settings.ice_servers):
            raise SettingsError(
                "iceTransportPolicy relay needs a turn: or turns: server in iceServers "
                "(with relay only, STUN alone connects no call)"
            )
        if (settings.domain_name is None) != (settings.certificate_arn is None):
            raise SettingsError(
                "domainName and certificateArn go together: give both (custom domain) or neither "
                "(the distribution's own *.cloudfront.net name)"
            )
        return settings


def _choice(key: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise SettingsError(f"{key} must be one of {', '.join(choices)}; got {value!r}")
    return value


def _int_in(key: str, value: Any, low: int, high: int) -> int:
    try:
        number = int(str(value), 10)
    except ValueError:
        raise SettingsError(f"{key} must be a whole number; got {value!r}") from None
    if not low <= number <= high:
        raise SettingsError(f"{key} must be between {low} and {high}; got {number}")
    return number


def _retention(key: str, value: Any) -> int:
    number = _int_in(key, value, 1, max(RETENTION_DAYS))
    if number not in RETENTION_DAYS:
        raise SettingsError(
            f"{key} must be one of {sorted(RETENTION_DAYS)} (CloudWatch Logs allows only these)"
        )
    return number


def _bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise SettingsError(f"{key} must be true or false; got {value!r}")


def _domain(value: Any) -> str | None:
    if value is None:
        return None
    name = str(value).strip().lower().rstrip(".")
    if not _DOMAIN.match(name):
        raise SettingsError(
            f"domainName must be a DNS name such as chat.example.com; got {value!r}"
        )
    return name


def _certificate(value: Any) -> str | None:
    if value is None:
        return None
    arn = str(value).strip()
    if not _CERT_ARN.match(arn):
        raise SettingsError(
            "certificateArn must be an ACM certificate ARN in us-east-1 (CloudFront only uses "
            f"certificates from that region); got {value!r}"
        )
    return arn


def _ice_servers(value: Any) -> tuple[dict[str, Any], ...]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise SettingsError(f"iceServers must be a JSON list: {error}") from None
    if not isinstance(value, list) or not value:
        raise SettingsError("iceServers must be a non-empty JSON list of RTCIceServer objects")
    servers = []
    for server in value:
        urls = server.get("urls") if isinstance(server, dict) else None
        url_list = [urls] if isinstance(urls, str) else urls
        if not isinstance(url_list, list) or not url_list:
            raise SettingsError(f"each iceServers entry needs urls (text or list); got {server!r}")
        for url in url_list:
            if not isinstance(url, str) or not _ICE_URL.match(url):
                raise SettingsError(
                    f"iceServers url must be stun:, stuns:, turn: or turns:; got {url!r}"
                )
        unknown = set(server) - {"urls", "username", "credential"}
        if unknown:
            raise SettingsError(f"iceServers entry has unknown keys {sorted(unknown)}")
        servers.append(dict(server))
    return tuple(servers)


def _has_turn(servers: tuple[dict[str, Any], ...]) -> bool:
    for server in servers:
        urls = server["urls"]
        if any(
            url.startswith(("turn:", "turns:"))
            for url in ([urls] if isinstance(urls, str) else urls)
        ):
            return True
    return False
