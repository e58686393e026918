"""Checks around the template: cdk-nag, cfn-lint, the CLI's quiet offline synth, settings."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from aws_cdk import Validations
from cdk_nag import AwsSolutionsChecks
from cdk_synth import Synthesized
from cfnlint.api import lint

from infra.config import REPO_ROOT, SettingsError, StackSettings
from p2pchat import settings as contract
from p2pchat.protocol import DEFAULT_MAX_PEERS

SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:p2pchat-turn-AbCdEf"
URLS = '["turn:turn.example.com:3478"]'
# cfn-lint warnings that stay, each explained in docs/deploy.md ("cfn-lint warnings").
EXPLAINED_CFN_LINT_WARNINGS = {"W3005"}


def _acknowledged_ids(synth: Synthesized) -> set[str]:
    key = Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    ids = set()
    for construct in synth.stack.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == key and entry.data:
                ids |= {k.split("::", 1)[-1] for k in entry.data}
    return ids


VARIANTS = ["dev", "custom", "kvs", "secret"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_cdk_nag_finds_nothing_unacknowledged(variant: str, request: pytest.FixtureRequest) -> None:
    """AwsSolutions: every error and warning is fixed in code or acknowledged by its exact id."""
    synth: Synthesized = request.getfixturevalue(variant)
    report = AwsSolutionsChecks().validate_scope(synth.stack)
    findings = [
        f"{v.severity} {v.rule_name} at {[r.construct_path for r in v.violating_resources]}"
        for v in report.violations
    ]
    assert findings == []


def test_cdk_nag_acknowledgments_are_documented(request: pytest.FixtureRequest) -> None:
    """Each acknowledged rule is listed with its reason in docs/deploy.md; the TURN choices
    need none of their own (their grants name one resource each)."""
    docs = (REPO_ROOT / "docs" / "deploy.md").read_text()
    by_variant = {v: _acknowledged_ids(request.getfixturevalue(v)) for v in VARIANTS}
    assert by_variant["kvs"] <= by_variant["dev"] | by_variant["custom"]
    assert by_variant["secret"] <= by_variant["dev"] | by_variant["custom"]
    acknowledged = set().union(*by_variant.values())
    assert acknowledged
    for rule_id in acknowledged:
        rule = rule_id.split("[", 1)[0]
        assert f"`{rule}" in docs, f"{rule_id} is acknowledged but not explained in docs/deploy.md"


@pytest.mark.parametrize("variant", VARIANTS)
def test_cfn_lint_has_no_errors(variant: str, request: pytest.FixtureRequest) -> None:
    """cfn-lint: no errors; the only warnings are the ones docs/deploy.md explains."""
    synth: Synthesized = request.getfixturevalue(variant)
    template = (synth.outdir / synth.stack.template_file).read_text()
    matches = lint(template)
    errors = [f"{m.rule.id} {m.message}" for m in matches if m.rule.id.startswith("E")]
    assert errors == []
    warnings = {m.rule.id for m in matches if m.rule.id.startswith("W")}
    assert warnings <= EXPLAINED_CFN_LINT_WARNINGS, f"explain or fix: {warnings}"


def test_cdk_synth_is_quiet_and_offline(tmp_path: Path) -> None:
    """`npx --no-install cdk synth -q` with the Makefile's environment prints nothing at all:
    no notices, no telemetry notice, no version check, no Node end-of-life banner, no warnings;
    and app.py's cdk-nag plugin passes (a finding would fail it)."""
    npx = shutil.which("npx")
    assert npx, "npx (Node.js) is needed for the CDK CLI"
    assert (REPO_ROOT / "node_modules" / ".bin" / "cdk").exists(), "run `make deps` first"
    env = {
        **os.environ,
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "CDK_DISABLE_VERSION_CHECK": "1",
    }
    out = tmp_path / "cdk.out"
    result = subprocess.run(
        # --no-staging: the same template, without copying ~20 MB of CDK's assets.
        [npx, "--no-install", "cdk", "synth", "-q", "--no-staging", "--output", str(out)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout == ""
    assert (out / "P2PChat-dev.template.json").exists()


def test_cli_pins_an_exact_2x_aws_cdk() -> None:
    """package.json pins aws-cdk exactly (2.x), so no range can reach the deprecated 3.0.0."""
    import json

    version = json.loads((REPO_ROOT / "package.json").read_text())["devDependencies"]["aws-cdk"]
    major, *_ = version.split(".")
    assert version.replace(".", "").isdigit() and major == "2", version


def test_cdk_json_turns_off_notices_and_telemetry() -> None:
    """cdk.json: notices off, CLI telemetry off; the app runs from the project's venv."""
    import json

    config = json.loads((REPO_ROOT / "cdk.json").read_text())
    assert config["notices"] is False
    assert config["context"]["cli-telemetry"] is False
    assert config["app"].startswith(".venv/bin/python ")


def _context(**values: object):
    return lambda key: values.get(key)


def test_settings_defaults_make_a_dev_stack() -> None:
    """No context at all: stage dev, protocol's default room size, STUN only, no domain."""
    settings = StackSettings.from_context(_context())
    assert settings.stage == "dev" and not settings.is_prod
    assert settings.max_peers == DEFAULT_MAX_PEERS
    assert settings.ice_servers == contract.DEFAULT_ICE_SERVERS
    assert settings.domain_name is None and settings.certificate_arn is None
    assert settings.throttle_rate_limit == 100 and settings.throttle_burst_limit == 200
    assert settings.connect_rate_limit == 5 and settings.connect_burst_limit == 10
    assert settings.ice_transport_policy == "all"


@pytest.mark.parametrize(
    ("context", "key"),
    [
        ({"stage": "staging"}, "stage"),
        ({"maxPeers": "1"}, "maxPeers"),
        ({"maxPeers": "99"}, "maxPeers"),
        ({"maxPeers": "4.5"}, "maxPeers"),
        ({"maxPeers": True}, "maxPeers"),
        ({"throttleRateLimit": "fast"}, "throttleRateLimit"),
        ({"throttleBurstLimit": "19"}, "throttleBurstLimit"),  # under 20: a 5 % route gets 0
        ({"connectRateLimit": "0"}, "connectRateLimit"),
        ({"logRetentionDays": "10"}, "logRetentionDays"),
        ({"iceServers": "not json"}, "iceServers"),
        ({"iceServers": '[{"urls": "http://example.com"}]'}, "iceServers"),
        ({"iceServers": '[{"urls": "stun:a.example", "password": "x"}]'}, "iceServers"),
        ({"iceServers": "[]"}, "iceServers"),  # CDK context's own rule: not empty
        ({"iceTransportPolicy": "none"}, "iceTransportPolicy"),
        ({"iceTransportPolicy": "relay"}, "iceTransportPolicy"),  # default iceServers: no TURN
        ({"domainName": "chat.example.com"}, "domainName"),
        (
            {
                "domainName": "chat.example.com",
                "certificateArn": "arn:aws:acm:eu-west-1:1:certificate/x",
            },
            "certificateArn",
        ),
        ({"apiGatewayCloudWatchRole": "maybe"}, "apiGatewayCloudWatchRole"),
        ({"priceClass": "300"}, "priceClass"),
        ({"turn": "coturn"}, "turn"),
        ({"turn": "secret"}, "turnUrls"),  # needs both: the message names each missing key
        ({"turn": "secret"}, "turnSecretArn"),
        ({"turn": "secret", "turnSecretArn": SECRET_ARN}, "turnUrls"),
        ({"turn": "secret", "turnUrls": URLS}, "turnSecretArn"),
        ({"turn": "secret", "turnUrls": "turn:a.example", "turnSecretArn": SECRET_ARN}, "turnUrls"),
        (
            {"turn": "secret", "turnUrls": '["stun:a.example"]', "turnSecretArn": SECRET_ARN},
            "turnUrls",
        ),
        ({"turn": "secret", "turnUrls": "[]", "turnSecretArn": SECRET_ARN}, "turnUrls"),
        ({"turn": "secret", "turnUrls": URLS, "turnSecretArn": "p2pchat-turn"}, "turnSecretArn"),
        (
            {"turn": "secret", "turnUrls": URLS, "turnSecretArn": SECRET_ARN[:-7]},  # partial ARN
            "turnSecretArn",
        ),
        (
            {
                "turn": "secret",
                "turnUrls": URLS,
                "turnSecretArn": SECRET_ARN.replace("secretsmanager", "kms"),
            },
            "turnSecretArn",
        ),
        (
            {
                "turn": "secret",
                "turnUrls": URLS,
                "turnSecretArn": SECRET_ARN,
                "turnCredentialSeconds": "59",
            },
            "turnCredentialSeconds",
        ),
        ({"turnUrls": URLS}, "turnUrls"),  # only with turn=secret: a typo would go unnoticed
        ({"turn": "kvs", "turnSecretArn": SECRET_ARN}, "turnSecretArn"),
        ({"turn": "kvs", "turnCredentialSeconds": "3600"}, "turnCredentialSeconds"),
        ({"turn": "none", "iceTransportPolicy": "relay"}, "iceTransportPolicy"),
    ],
)
def test_settings_refuse_bad_context(context: dict[str, object], key: str) -> None:
    """A wrong context value stops synthesis with a message naming the key."""
    with pytest.raises(SettingsError) as refused:
        StackSettings.from_context(_context(**context))
    assert key in str(refused.value)


def test_ice_server_rules_are_the_functions() -> None:
    """iceServers is checked by the function's own parse_ice_servers: what one refuses, the
    other refuses; what one accepts, the other stores the same way."""
    for text in (
        '[{"urls": "http://example.com"}]',
        '[{"urls": []}]',
        '[{"urls": "stun:a.example", "extra": 1}]',
        "{}",
    ):
        with pytest.raises(contract.IceServersError):
            contract.parse_ice_servers(text)
        with pytest.raises(SettingsError):
            StackSettings.from_context(_context(iceServers=text))
    text = '[{"urls": "turns:t.example:443", "username": "u", "credential": "c"}]'
    settings = StackSettings.from_context(_context(iceServers=text))
    assert settings.ice_servers == contract.parse_ice_servers(text)


def test_settings_accept_cli_text_values() -> None:
    """`-c key=value` arrives as text: numbers, booleans and the ICE list are parsed."""
    settings = StackSettings.from_context(
        _context(
            maxPeers="4",
            throttleRateLimit="50",
            apiGatewayCloudWatchRole="false",
            iceServers='[{"urls":"turn:turn.example.com:3478","username":"u","credential":"c"}]',
            iceTransportPolicy="relay",
        )
    )
    assert settings.max_peers == 4
    assert settings.throttle_rate_limit == 50
    assert settings.api_gateway_cloudwatch_role is False
    assert settings.ice_servers[0]["username"] == "u"
    assert settings.ice_transport_policy == "relay"


def test_turn_settings_per_choice() -> None:
    """turn=kvs needs nothing else; turn=secret takes its URLs (the function's own
    parse_turn_urls), a complete secret ARN in any partition and an optional credential
    lifetime (3 hours by default); relay-only is accepted with either."""
    kvs = StackSettings.from_context(_context(turn="kvs", iceTransportPolicy="relay"))
    assert kvs.turn == "kvs" and kvs.turn_urls is None and kvs.turn_secret_arn is None
    assert kvs.ice_transport_policy == "relay"
    secret = StackSettings.from_context(
        _context(turn="secret", turnUrls=URLS, turnSecretArn=SECRET_ARN, iceTransportPolicy="relay")
    )
    assert secret.turn_urls == contract.parse_turn_urls(URLS) == ("turn:turn.example.com:3478",)
    assert secret.turn_urls_json == '["turn:turn.example.com:3478"]'
    assert secret.turn_secret_arn == SECRET_ARN
    assert secret.turn_credential_seconds == contract.DEFAULT_TURN_CREDENTIAL_SECONDS == 3 * 3600
    listed = StackSettings.from_context(  # cdk.json may hold a real JSON list
        _context(
            turn="secret",
            turnUrls=["turns:t.example:443?transport=tcp"],
            turnSecretArn="arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:a/b-x1Y2z3",
            turnCredentialSeconds="7200",
        )
    )
    assert listed.turn_urls == ("turns:t.example:443?transport=tcp",)
    assert listed.turn_credential_seconds == 7200
    assert StackSettings.from_context(_context()).turn == "none"


def test_credential_lifetime_bounds_are_the_functions() -> None:
    """turnCredentialSeconds accepts exactly what the function keeps: it clamps
    TURN_CREDENTIAL_SECONDS to the same range (one definition, in the contract)."""
    low, high = contract.TURN_CREDENTIAL_SECONDS_RANGE
    for given, kept in ((low - 1, low), (low, low), (high, high), (high + 1, high)):
        env = {"TURN": "secret", "TURN_URLS": URLS, "TURN_SECRET_ARN": SECRET_ARN}
        env["TURN_CREDENTIAL_SECONDS"] = str(given)
        assert contract.Settings.from_env(env).turn_credential_seconds == kept
        context = _context(
            turn="secret", turnUrls=URLS, turnSecretArn=SECRET_ARN, turnCredentialSeconds=given
        )
        if given == kept:
            assert StackSettings.from_context(context).turn_credential_seconds == given
        else:
            with pytest.raises(SettingsError):
                StackSettings.from_context(context)


def test_account_role_can_be_left_out() -> None:
    """apiGatewayCloudWatchRole=false: no AWS::ApiGateway::Account (the account already has one)."""
    from aws_cdk import App
    from aws_cdk import aws_apigateway as apigw
    from cdk_synth import cdk_json_context

    from infra.stack import P2PChatStack

    app = App(context={**cdk_json_context(), "apiGatewayCloudWatchRole": "false"})
    settings = StackSettings.from_context(app.node.try_get_context)
    stack = P2PChatStack(app, "NoAccountRole", settings=settings)
    assert not [c for c in stack.node.find_all() if isinstance(c, apigw.CfnAccount)]


def test_docs_settings_table_is_the_model() -> None:
    """docs/deploy.md's Settings table lists every context key and no other, each with the
    model's default as its first word."""
    docs = (REPO_ROOT / "docs" / "deploy.md").read_text()
    section = docs.split("## Settings (CDK context)", 1)[1].split("\n#", 1)[0]
    rows = {}
    for line in section.splitlines():
        if match := re.match(r"^\| `(\w+)` \| ([^|]+) \|", line):
            rows[match.group(1)] = match.group(2).strip()
    defaults = StackSettings.context_defaults()
    assert set(rows) == set(defaults)
    for key, default in defaults.items():
        if default is None:
            expected = "none"
        elif isinstance(default, bool):
            expected = f"`{str(default).lower()}`"
        elif isinstance(default, list):
            expected = f"`{contract.ice_servers_json(default)}`"
        else:
            expected = f"`{default}`"
        assert rows[key].startswith(expected), f"{key}: the table says {rows[key]!r}"
