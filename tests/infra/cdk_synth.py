"""Synthesis helpers for the CDK tests (the session fixtures in conftest.py use them).

Each variant carries the feature flags from cdk.json, like the CLI. ``stage_assets=False``
skips copying assets (~20 MB of CDK's own) into cdk.out: the template is the same, synthesis
is faster, but the asset files are then not there to read.

``render(value)`` turns a template value with intrinsics into plain text, with stand-ins:
region ``eu-west-1``, account ``123456789012``, ``Ref X`` -> ``x`` (lower case logical id),
``GetAtt X.DomainName`` -> ``x.cloudfront.net``, ``GetAtt X.Arn`` -> ``arn:X``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from aws_cdk import App
from aws_cdk.assertions import Template

from infra.config import REPO_ROOT, StackSettings
from infra.stack import P2PChatStack

REGION = "eu-west-1"
ACCOUNT = "123456789012"
PSEUDO = {
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}
CERTIFICATE_ARN = (
    "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"
)
CUSTOM_CONTEXT = {
    "stage": "prod",
    "domainName": "chat.example.com",
    "certificateArn": CERTIFICATE_ARN,
    "throttleRateLimit": "40",
    "throttleBurstLimit": "80",
    "maxPeers": "4",
    "iceTransportPolicy": "relay",
    "iceServers": '[{"urls":"turn:turn.example.com:3478","username":"u","credential":"c"}]',
}
# turn=kvs in prod, relay-only (accepted: KVS provides the TURN servers).
KVS_CONTEXT = {"stage": "prod", "turn": "kvs", "iceTransportPolicy": "relay"}
TURN_SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:p2pchat/turn-AbCdEf"
TURN_URLS = ["turn:turn.example.com:3478", "turns:turn.example.com:5349?transport=tcp"]
# turn=secret in dev: your coturn, its secret in Secrets Manager, 2-hour credentials.
SECRET_CONTEXT = {
    "turn": "secret",
    "turnUrls": json.dumps(TURN_URLS),
    "turnSecretArn": TURN_SECRET_ARN,
    "turnCredentialSeconds": "7200",
}


@dataclass
class Synthesized:
    app: App
    stack: P2PChatStack
    settings: StackSettings
    template: Template
    json: dict[str, Any]
    outdir: Path

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.json["Resources"].items() if v["Type"] == resource_type}

    def one(self, resource_type: str) -> tuple[str, dict[str, Any]]:
        found = self.resources(resource_type)
        assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
        return next(iter(found.items()))

    def logical_id(self, construct: Any) -> str:
        return self.stack.get_logical_id(construct.node.default_child)


def cdk_json_context() -> dict[str, Any]:
    return json.loads((REPO_ROOT / "cdk.json").read_text())["context"]


def synthesize(tmp_path: Path, overrides: dict[str, Any], *, stage_assets: bool) -> Synthesized:
    context = {**cdk_json_context(), **overrides}
    if not stage_assets:
        context["aws:cdk:disable-asset-staging"] = True
    app = App(context=context, outdir=str(tmp_path))
    settings = StackSettings.from_context(app.node.try_get_context)
    stack = P2PChatStack(app, f"P2PChat-{settings.stage}", settings=settings)
    template = Template.from_stack(stack)
    return Synthesized(app, stack, settings, template, template.to_json(), tmp_path)


def render(value: Any) -> Any:
    """Resolve Fn::Join / Ref / GetAtt / Fn::Sub with the stand-ins above."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list):
        return [render(v) for v in value]
    if isinstance(value, dict) and len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Fn::Join":
            separator, parts = arg
            return separator.join(str(render(p)) for p in parts)
        if key == "Ref":
            return PSEUDO.get(arg, arg.lower())
        if key == "Fn::GetAtt":
            logical, attribute = arg
            if attribute == "DomainName":
                return f"{logical.lower()}.cloudfront.net"
            return f"{attribute.lower()}:{logical}"
        if key == "Fn::Sub":
            text = arg
            for name, stand_in in PSEUDO.items():
                text = text.replace("${" + name + "}", stand_in)
            return text
    if isinstance(value, dict):
        return {k: render(v) for k, v in value.items()}
    raise TypeError(f"cannot render {value!r}")


def signaling_url(synth: Synthesized) -> str:
    """The wss:// URL the stack builds, rendered with the stand-ins."""
    api = synth.logical_id(synth.stack.signaling.api)
    return f"wss://{api.lower()}.execute-api.{REGION}.amazonaws.com/{synth.settings.stage}"
