"""CDK context settings of the P2PChat stack: one pydantic model, read and checked once.

Every setting can be given on the command line (``npx cdk deploy -c stage=prod -c maxPeers=4``)
or in ``cdk.json``'s ``context``; docs/deploy.md has the table (a test keeps it true). A wrong
value fails synthesis with a message naming the key, before anything reaches AWS.

The settings the function also has (room size, ICE servers, transport policy, TURN) are
checked with the function's own rules from ``p2pchat.settings``, the deployment contract; CDK
context only adds that the ICE server list may not be empty, that ``turn=secret`` comes with
its URLs and a Secrets Manager secret ARN, and that the TURN keys are not given for another
choice (a typo there would otherwise be ignored silently).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from p2pchat import settings as contract
from p2pchat.protocol import DEFAULT_MAX_PEERS, MAX_PEERS_LIMIT

REPO_ROOT = Path(__file__).resolve().parent.parent
LAMBDA_SOURCE_DIR = REPO_ROOT / "lambdas"  # the function's code asset (handler p2pchat.handler)
FRONTEND_DIR = REPO_ROOT / "frontend"

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
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_CERT_ARN = re.compile(r"^arn:aws[a-z-]*:acm:us-east-1:\d{12}:certificate/[0-9a-f-]{36}$")
_WHOLE_NUMBER = re.compile(r"^\s*[+-]?\d+\s*$")
# A complete Secrets Manager secret ARN: the name (letters, digits and /_+=.@-) and the six
# characters Secrets Manager appends, as `aws secretsmanager create-secret` prints it.
_SECRET_ARN = re.compile(
    r"^arn:aws[a-z-]*:secretsmanager:[a-z]{2}(-[a-z]+)+-\d:\d{12}:secret:[A-Za-z0-9_/+=.@-]+-[A-Za-z0-9]{6}$"
)
# The lifetime of minted TURN credentials the function accepts (settings._turn_from_env clamps
# TURN_CREDENTIAL_SECONDS to this range; a test checks the two agree).
# The TURN context keys that only turn=secret uses.
SECRET_TURN_KEYS = ("turnUrls", "turnSecretArn", "turnCredentialSeconds")
SECRET_TURN_NEEDS = {
    "turnUrls": "a JSON list of your TURN server's turn: and turns: URLs",
    "turnSecretArn": "the ARN of the Secrets Manager secret your TURN server shares",
}


class SettingsError(ValueError):
    """A CDK context value is missing, malformed or out of range; says which key and why."""


# ---- field types: each says what is wrong in a few words -------------------------------------
def _whole_number(value: Any) -> Any:
    """Whole numbers as numbers or text (``-c maxPeers=4`` arrives as "4"); not 4.5, not true."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("must be a whole number")
    if isinstance(value, str):
        if not _WHOLE_NUMBER.match(value):
            raise ValueError("must be a whole number")
        return int(value)
    return value


def _between(low: int, high: int) -> AfterValidator:
    def check(value: int) -> int:
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return AfterValidator(check)


def Bounded(low: int, high: int) -> Any:
    """A whole number from ``low`` to ``high``."""
    return Annotated[int, BeforeValidator(_whole_number), _between(low, high)]


def _retention(value: int) -> int:
    if value not in RETENTION_DAYS:
        raise ValueError(
            f"must be one of {sorted(RETENTION_DAYS)} (CloudWatch Logs allows only these)"
        )
    return value


def _ice_servers(value: Any) -> list[dict[str, Any]]:
    """The function's rule (``p2pchat.settings.parse_ice_servers``), plus: not empty."""
    servers = contract.parse_ice_servers(value)  # IceServersError is a ValueError
    if not servers:
        raise ValueError("must list at least one RTCIceServer (STUN at least)")
    return servers


def _domain(value: Any) -> str:
    name = str(value).strip().lower().rstrip(".")
    if not _DOMAIN.match(name):
        raise ValueError("must be a DNS name such as chat.example.com")
    return name


def _certificate(value: Any) -> str:
    arn = str(value).strip()
    if not _CERT_ARN.match(arn):
        raise ValueError(
            "must be an ACM certificate ARN in us-east-1 (CloudFront only uses certificates "
            "from that region)"
        )
    return arn


def _turn_urls(value: Any) -> tuple[str, ...]:
    """The function's rule (``p2pchat.settings.parse_turn_urls``): a JSON list of turn:/turns:."""
    return contract.parse_turn_urls(value)  # a ValueError naming what is wrong


def _secret_arn(value: Any) -> str:
    arn = str(value).strip()
    if not _SECRET_ARN.match(arn):
        raise ValueError(
            "must be the complete ARN of a Secrets Manager secret, "
            "arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 characters> "
            "(as `aws secretsmanager create-secret` prints it)"
        )
    return arn


def _text(value: Any) -> Any:
    """Choices may come as JSON numbers from cdk.json (priceClass 100)."""
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


Stage = Literal[STAGES]
TransportPolicy = Literal[contract.ICE_TRANSPORT_POLICIES]
LogLevel = Annotated[Literal[LOG_LEVELS], BeforeValidator(_upper)]
PriceClass = Annotated[Literal[PRICE_CLASSES], BeforeValidator(_text)]
RoomSize = Bounded(contract.MIN_PEERS, MAX_PEERS_LIMIT)  # the function's own bounds
IceServers = Annotated[list[dict[str, Any]], BeforeValidator(_ice_servers)]
RetentionDays = Annotated[Bounded(1, max(RETENTION_DAYS)), AfterValidator(_retention)]
DomainName = Annotated[str, BeforeValidator(_domain)]
CertificateArn = Annotated[str, BeforeValidator(_certificate)]
TurnChoice = Literal[contract.TURN_MODES]
TurnUrls = Annotated[tuple[str, ...], BeforeValidator(_turn_urls)]
SecretArn = Annotated[str, BeforeValidator(_secret_arn)]
CredentialSeconds = Bounded(*contract.TURN_CREDENTIAL_SECONDS_RANGE)


class StackSettings(BaseModel):
    """What the stack is built from. Defaults make a working dev stack with no context at all.

    Field aliases are the CDK context keys (camelCase). Build it with ``from_context``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    stage: Stage = Field("dev", alias="stage")
    max_peers: RoomSize = Field(DEFAULT_MAX_PEERS, alias="maxPeers")
    ice_servers: IceServers = Field(
        default_factory=lambda: list(contract.DEFAULT_ICE_SERVERS), alias="iceServers"
    )
    ice_transport_policy: TransportPolicy = Field(
        contract.DEFAULT_ICE_TRANSPORT_POLICY, alias="iceTransportPolicy"
    )
    # Messages per second (and burst) of the whole stage, shared by the message routes in
    # fixed shares (infra/constructs/signaling.py), so every route gets some: at least 10 per
    # second (the smallest share, 5 %, is then 0.5 per second) and a burst of at least 20 (5 %
    # of it is 1; API Gateway counts bursts in whole requests).
    throttle_rate_limit: Bounded(10, 10_000) = Field(100, alias="throttleRateLimit")
    throttle_burst_limit: Bounded(20, 5_000) = Field(200, alias="throttleBurstLimit")
    # New WebSocket connections per second ($connect); the account's quota is 500 per region.
    connect_rate_limit: Bounded(1, 500) = Field(5, alias="connectRateLimit")
    connect_burst_limit: Bounded(1, 1_000) = Field(10, alias="connectBurstLimit")
    log_retention_days: RetentionDays = Field(30, alias="logRetentionDays")
    access_log_retention_days: Bounded(1, 3650) = Field(90, alias="accessLogRetentionDays")
    log_level: LogLevel = Field("INFO", alias="logLevel")
    domain_name: DomainName | None = Field(None, alias="domainName")
    certificate_arn: CertificateArn | None = Field(None, alias="certificateArn")
    price_class: PriceClass = Field("100", alias="priceClass")
    api_gateway_cloudwatch_role: bool = Field(True, alias="apiGatewayCloudWatchRole")
    # Where TURN credentials come from (docs/network.md): none (STUN only), kvs (a Kinesis
    # Video Streams signaling channel of this stack, used for its managed TURN only) or secret
    # (your TURN server: its URLs, and the secret it shares with the function in Secrets
    # Manager; credentials minted per request, valid turnCredentialSeconds).
    turn: TurnChoice = Field("none", alias="turn")
    turn_urls: TurnUrls | None = Field(None, alias="turnUrls")
    turn_secret_arn: SecretArn | None = Field(None, alias="turnSecretArn")
    turn_credential_seconds: CredentialSeconds = Field(
        contract.DEFAULT_TURN_CREDENTIAL_SECONDS, alias="turnCredentialSeconds"
    )

    @model_validator(mode="after")
    def _consistent(self) -> StackSettings:
        if self.turn == "secret":
            given_parts = {"turnUrls": self.turn_urls, "turnSecretArn": self.turn_secret_arn}
            missing = [key for key, value in given_parts.items() if value is None]
            if missing:
                raise ValueError(
                    "turn=secret needs "
                    + " and ".join(f"{key} ({SECRET_TURN_NEEDS[key]})" for key in missing)
                    + " (docs/deploy.md, TURN)"
                )
        else:
            given = [
                field.alias
                for name, field in type(self).model_fields.items()
                if field.alias in SECRET_TURN_KEYS and name in self.model_fields_set
            ]
            if given:
                raise ValueError(
                    f"{', '.join(given)}: only used with turn=secret, and turn is {self.turn}"
                )
        if (
            self.ice_transport_policy == "relay"
            and self.turn == "none"
            and not contract.has_turn(self.ice_servers)
        ):
            raise ValueError(
                "iceTransportPolicy relay needs TURN: turn=kvs, turn=secret, or a turn: or "
                "turns: server in iceServers (with relay only, STUN alone connects no call)"
            )
        if (self.domain_name is None) != (self.certificate_arn is None):
            raise ValueError(
                "domainName and certificateArn go together: give both (custom domain) or "
                "neither (the distribution's own *.cloudfront.net name)"
            )
        return self

    @classmethod
    def from_context(cls, try_get_context: Any) -> StackSettings:
        """Read every key through ``node.try_get_context``; absent or empty means default."""
        given = {}
        for field in cls.model_fields.values():
            value = try_get_context(field.alias)
            if value is not None and value != "":
                given[field.alias] = value
        try:
            return cls.model_validate(given)
        except ValidationError as error:
            raise SettingsError(_explain(error)) from None

    @property
    def is_prod(self) -> bool:
        """Prod keeps its data when the stack or a resource is deleted; dev is destroyable."""
        return self.stage == "prod"

    @property
    def ice_servers_json(self) -> str:
        """The STUN/TURN list as the function's ICE_SERVERS variable: compact JSON."""
        return contract.ice_servers_json(self.ice_servers)

    @property
    def turn_urls_json(self) -> str:
        """turnUrls as the function's TURN_URLS variable: compact JSON."""
        return json.dumps(list(self.turn_urls or ()), separators=(",", ":"))

    @classmethod
    def context_defaults(cls) -> dict[str, Any]:
        """Context key -> default value (docs/deploy.md's table; a test compares them)."""
        fields = cls.model_fields.values()
        return {f.alias: f.get_default(call_default_factory=True) for f in fields}


def _explain(error: ValidationError) -> str:
    """One line per problem: ``<key>: <what is wrong>; got <value>``."""
    lines = []
    for problem in error.errors(include_url=False):
        key = ".".join(str(part) for part in problem["loc"])
        cause = problem.get("ctx", {}).get("error")
        message = str(cause) if cause is not None else problem["msg"]
        if message[1:2].islower():  # "Input should be..." -> "input should be..."; not "ICE"
            message = message[:1].lower() + message[1:]
        if not key:  # a rule across keys names them itself
            lines.append(message)
            continue
        got = f"; got {problem['input']!r}" if "input" in problem else ""
        lines.append(f"{key}: {message}{got}")
    return "\n".join(lines)
