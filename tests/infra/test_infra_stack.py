"""The synthesized CloudFormation template: one concern per test."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Match, Template
from cdk_synth import (
    ACCOUNT,
    CERTIFICATE_ARN,
    REGION,
    TURN_SECRET_ARN,
    Synthesized,
    render,
    signaling_url,
)

from infra import headers
from infra.config import POWERTOOLS_VERSION, REPO_ROOT, StackSettings
from infra.constructs import signaling as signaling_construct
from infra.constructs.turn import Turn
from p2pchat import observability, protocol, table_spec
from p2pchat.settings import site_config


def _handler(synth: Synthesized) -> tuple[str, dict]:
    """The P2PChat function (CDK's own custom-resource functions excluded)."""
    found = {
        k: v
        for k, v in synth.resources("AWS::Lambda::Function").items()
        if v["Properties"].get("Handler") == signaling_construct.HANDLER
    }
    assert len(found) == 1, sorted(found)
    return next(iter(found.items()))


def _handler_statements(synth: Synthesized) -> list[dict]:
    role = synth.logical_id(synth.stack.signaling.function.role)
    statements = []
    for policy in synth.resources("AWS::IAM::Policy").values():
        if {"Ref": role} in policy["Properties"]["Roles"]:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    assert statements, "the handler's role has no policy"
    return statements


def _actions(statement: dict) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else actions


def _resources(statement: dict) -> list:
    resources = statement["Resource"]
    return resources if isinstance(resources, list) else [resources]


# ---- signaling ---------------------------------------------------------------------------


def test_routes_are_the_system_routes_plus_every_protocol_action(dev: Synthesized) -> None:
    """$connect, $disconnect, $default and one route per client action, selected on `action`."""
    _, api = dev.one("AWS::ApiGatewayV2::Api")
    assert api["Properties"]["ProtocolType"] == "WEBSOCKET"
    assert api["Properties"]["RouteSelectionExpression"] == "$request.body.action"
    routes = {
        r["Properties"]["RouteKey"] for r in dev.resources("AWS::ApiGatewayV2::Route").values()
    }
    assert routes == {"$connect", "$disconnect", "$default"} | set(protocol.CLIENT_ACTIONS)
    assert {"join", "signal", "leave", "ping"} <= routes


def test_every_route_integrates_the_one_function(dev: Synthesized) -> None:
    """All routes target a Lambda proxy integration of the same function, allowed to invoke it."""
    function_id, _ = _handler(dev)
    integrations = dev.resources("AWS::ApiGatewayV2::Integration")
    for route in dev.resources("AWS::ApiGatewayV2::Route").values():
        target = render(route["Properties"]["Target"])
        integration_id = next(i for i in integrations if target == f"integrations/{i.lower()}")
        integration = integrations[integration_id]["Properties"]
        assert integration["IntegrationType"] == "AWS_PROXY"
        assert f"arn:{function_id}" in render(integration["IntegrationUri"])
    permissions = dev.resources("AWS::Lambda::Permission").values()
    assert all(p["Properties"]["Principal"] == "apigateway.amazonaws.com" for p in permissions)
    assert all(
        p["Properties"]["FunctionName"] == {"Fn::GetAtt": [function_id, "Arn"]} for p in permissions
    )


def test_function_runtime_architecture_and_powertools_layer(dev: Synthesized) -> None:
    """Newest Python on arm64; Powertools from AWS's public SSM parameter, resolved at deploy."""
    _, function = _handler(dev)
    props = function["Properties"]
    assert props["Runtime"] == "python3.14"
    assert props["Architectures"] == ["arm64"]
    assert props["Handler"] == "p2pchat.handler.lambda_handler"
    (layer,) = props["Layers"]
    parameter = dev.json["Parameters"][layer["Ref"]]
    assert parameter["Type"] == "AWS::SSM::Parameter::Value<String>"
    assert parameter["Default"] == (
        f"/aws/service/powertools/python/arm64/python3.14/{POWERTOOLS_VERSION}"
    )


def test_powertools_version_matches_the_requirements_pin() -> None:
    """The layer's Powertools is the version the tests and the local stack run."""
    requirements = (REPO_ROOT / "requirements.txt").read_text()
    pin = re.search(r"^aws-lambda-powertools(?:\[[^\]]*\])?==([\w.]+)", requirements, re.M)
    assert pin, "aws-lambda-powertools is not pinned in requirements.txt"
    assert pin.group(1) == POWERTOOLS_VERSION


def test_function_environment_comes_from_context(dev: Synthesized, custom: Synthesized) -> None:
    """TABLE_NAME, MAX_PEERS, ALLOWED_ORIGINS (the site), ICE_SERVERS and Powertools settings."""
    _, function = _handler(dev)
    env = render(function["Properties"]["Environment"]["Variables"])
    table_id = dev.logical_id(dev.stack.table.table)
    distribution_id = dev.logical_id(dev.stack.site.distribution)
    assert env["TABLE_NAME"] == table_id.lower()
    assert env["MAX_PEERS"] == str(protocol.DEFAULT_MAX_PEERS)
    assert env["ALLOWED_ORIGINS"] == f"https://{distribution_id.lower()}.cloudfront.net"
    assert json.loads(env["ICE_SERVERS"]) == [{"urls": ["stun:stun.l.google.com:19302"]}]
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == observability.DEFAULT_NAMESPACE == "P2PChat"
    assert env["POWERTOOLS_SERVICE_NAME"] == observability.SERVICE
    assert env["POWERTOOLS_LOG_LEVEL"] == "INFO"
    assert "APIGW_ENDPOINT" not in env

    _, function = _handler(custom)
    env = render(function["Properties"]["Environment"]["Variables"])
    distribution_id = custom.logical_id(custom.stack.site.distribution)
    assert env["MAX_PEERS"] == "4"
    assert env["ALLOWED_ORIGINS"].split(",") == [
        "https://chat.example.com",
        f"https://{distribution_id.lower()}.cloudfront.net",
    ]


def test_function_log_group_has_retention(dev: Synthesized) -> None:
    """The function logs to a log group of this stack with a fixed retention."""
    _, function = _handler(dev)
    log_group_id = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    log_group = dev.json["Resources"][log_group_id]
    assert log_group["Properties"]["RetentionInDays"] == 30


def test_code_asset_is_the_lambdas_folder_without_caches(dev: Synthesized) -> None:
    """The function's code is lambdas/ (handler p2pchat.handler), no __pycache__ or *.pyc."""
    assets = json.loads((dev.outdir / f"{dev.stack.stack_name}.assets.json").read_text())
    sources = {Path(a["source"]["path"]) for a in assets["files"].values()}
    assert REPO_ROOT / "lambdas" in sources
    assert {"**/__pycache__", "**/*.pyc"} <= set(signaling_construct.ASSET_EXCLUDE)


def test_manage_connections_only_on_this_api_stage(dev: Synthesized) -> None:
    """execute-api:ManageConnections on <this api>/<this stage>/*/@connections/* only."""
    api_id = dev.logical_id(dev.stack.signaling.api).lower()
    statements = [
        s for s in _handler_statements(dev) if "execute-api:ManageConnections" in _actions(s)
    ]
    assert len(statements) == 1
    (statement,) = statements
    assert _actions(statement) == ["execute-api:ManageConnections"]
    assert [render(r) for r in _resources(statement)] == [
        f"arn:aws:execute-api:{REGION}:123456789012:{api_id}/dev/*/@connections/*"
    ]


def test_dynamodb_access_only_on_this_table(dev: Synthesized) -> None:
    """Exactly the DynamoDB actions store.py needs, on this table only; no other resource."""
    table_id = dev.logical_id(dev.stack.table.table)
    statements = [
        s for s in _handler_statements(dev) if any(a.startswith("dynamodb:") for a in _actions(s))
    ]
    assert len(statements) == 1
    (statement,) = statements
    assert _resources(statement) == [{"Fn::GetAtt": [table_id, "Arn"]}]
    assert sorted(_actions(statement)) == sorted(signaling_construct.TABLE_ACTIONS)
    assert sorted(_actions(statement)) == [
        "dynamodb:BatchGetItem",
        "dynamodb:DeleteItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
    ]


def _store_iam_actions() -> set[str]:
    """The IAM actions p2pchat/store.py's DynamoDB calls need, read from its source: each
    client method named like a DynamoDB operation, and for a transaction the item action of
    each Put/Update/Delete/ConditionCheck/Get it builds (a transaction has no IAM action of
    its own)."""
    import ast

    import botocore.session
    from botocore import xform_name

    operations = botocore.session.get_session().get_service_model("dynamodb").operation_names
    by_method = {xform_name(op): op for op in operations}
    item_actions = {
        "Put": "PutItem",
        "Update": "UpdateItem",
        "Delete": "DeleteItem",
        "ConditionCheck": "ConditionCheckItem",
        "Get": "GetItem",
    }
    tree = ast.parse((REPO_ROOT / "lambdas" / "p2pchat" / "store.py").read_text())
    called = {
        by_method[node.func.attr]
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in by_method
    }
    item_kinds = {
        key.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Dict)
        for key in node.keys
        if isinstance(key, ast.Constant) and key.value in item_actions
    }
    needed = called - {"TransactWriteItems", "TransactGetItems"}
    if called & {"TransactWriteItems", "TransactGetItems"}:
        needed |= {item_actions[kind] for kind in item_kinds}
    return {f"dynamodb:{action}" for action in needed}


def test_dynamodb_actions_are_what_store_py_calls() -> None:
    """The grant follows the code: adding a Query or a ConditionCheck to store.py fails here
    until TABLE_ACTIONS grants it; dropping a call fails until the grant drops it too."""
    assert _store_iam_actions() == set(signaling_construct.TABLE_ACTIONS)


@pytest.mark.parametrize("variant", ["dev", "kvs", "secret"])
def test_no_wildcard_resource_in_the_handler_policy(
    variant: str, request: pytest.FixtureRequest
) -> None:
    """Nothing the handler may do is granted on `*`, whatever the TURN choice."""
    synth: Synthesized = request.getfixturevalue(variant)
    for statement in _handler_statements(synth):
        assert "*" not in _resources(statement), statement
        assert statement["Effect"] == "Allow"
        assert "Condition" not in statement


def test_table_schema_ttl_pitr_and_billing(dev: Synthesized) -> None:
    """Keys from table_spec, TTL on table_spec.TTL_ATTRIBUTE, on-demand, point-in-time recovery."""
    _, table = dev.one("AWS::DynamoDB::Table")
    props = table["Properties"]
    assert props["KeySchema"] == table_spec.KEY_SCHEMA
    assert props["AttributeDefinitions"] == table_spec.ATTRIBUTE_DEFINITIONS
    assert props["TimeToLiveSpecification"] == {
        "AttributeName": table_spec.TTL_ATTRIBUTE,
        "Enabled": True,
    }
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert "TableName" not in props  # CloudFormation names it: two stages never collide


def _route_throttles(synth: Synthesized) -> dict[str, tuple[float, int]]:
    """Route key -> (rate, burst) API Gateway applies: RouteSettings, else the stage default."""
    _, stage = synth.one("AWS::ApiGatewayV2::Stage")
    props = stage["Properties"]
    default = props["DefaultRouteSettings"]
    throttles = {}
    for route in synth.resources("AWS::ApiGatewayV2::Route").values():
        key = route["Properties"]["RouteKey"]
        own = props.get("RouteSettings", {}).get(key, default)
        throttles[key] = (own["ThrottlingRateLimit"], own["ThrottlingBurstLimit"])
    return throttles


def test_stage_auto_deploys_with_a_throttle_per_route(
    dev: Synthesized, custom: Synthesized
) -> None:
    """API Gateway throttles each route on its own. The message routes share the stage's
    message budget (throttleRateLimit/BurstLimit: 100/200 by default, 40/80 in custom), so
    together they never exceed it; $connect has the connection limits (5/10 by default)."""
    _, stage = dev.one("AWS::ApiGatewayV2::Stage")
    assert stage["Properties"]["StageName"] == "dev"
    assert stage["Properties"]["AutoDeploy"] is True
    for synth, (rate, burst), connect in (
        (dev, (100, 200), (5, 10)),
        (custom, (40, 80), (5, 10)),
    ):
        throttles = _route_throttles(synth)
        assert throttles.pop("$connect") == connect
        assert throttles.pop("$disconnect") == (rate, burst)  # no more than one per connection
        assert set(throttles) == {"$default"} | set(protocol.CLIENT_ACTIONS)
        assert sum(r for r, _ in throttles.values()) == rate
        assert sum(b for _, b in throttles.values()) <= burst
        assert all(r > 0 and b > 0 for r, b in throttles.values())
    assert _route_throttles(dev)["signal"] == (40, 80)


def test_every_message_route_has_a_share() -> None:
    """A new protocol action needs a share of the message budget (and a line in the docs)."""
    shares = signaling_construct.MESSAGE_ROUTE_SHARES
    assert set(shares) == {"$default"} | set(protocol.CLIENT_ACTIONS)
    assert sum(shares.values()) == 100
    docs = (REPO_ROOT / "docs" / "deploy.md").read_text()
    for route, share in shares.items():
        assert f"| `{route}` | {share} %" in docs, f"docs/deploy.md: {route}'s share"


def test_every_route_gets_a_share_at_the_lowest_limits() -> None:
    """At the smallest throttleRateLimit and throttleBurstLimit the context accepts, every
    message route still gets a rate above 0 and a burst of at least one request, and together
    they stay within the stage's budget."""
    lowest = {"throttleRateLimit": "10", "throttleBurstLimit": "20"}
    settings = StackSettings.from_context(lowest.get)
    throttles = signaling_construct.route_throttles(settings)
    del throttles["$connect"]
    assert set(throttles) == set(signaling_construct.MESSAGE_ROUTE_SHARES)
    assert all(rate > 0 and burst >= 1 for rate, burst in throttles.values()), throttles
    assert sum(rate for rate, _ in throttles.values()) == 10
    assert sum(burst for _, burst in throttles.values()) <= 20


def test_stage_waits_for_the_routes_it_throttles(dev: Synthesized) -> None:
    """API Gateway refuses RouteSettings for a route that does not exist yet."""
    _, stage = dev.one("AWS::ApiGatewayV2::Stage")
    for route_id in dev.resources("AWS::ApiGatewayV2::Route"):
        assert route_id in stage["DependsOn"]


def test_stage_access_log_is_json_with_useful_fields(dev: Synthesized) -> None:
    """One JSON object per event, to a log group with retention: who, which route, what result."""
    _, stage = dev.one("AWS::ApiGatewayV2::Stage")
    settings = stage["Properties"]["AccessLogSettings"]
    fields = json.loads(settings["Format"])
    for name in (
        "requestId",
        "eventType",
        "routeKey",
        "connectionId",
        "status",
        "sourceIp",
        "integrationLatency",
        "errorMessage",
    ):
        assert fields[name].startswith("$context."), name
    log_group_id = settings["DestinationArn"]["Fn::GetAtt"][0]
    assert dev.json["Resources"][log_group_id]["Properties"]["RetentionInDays"] == 30


def test_account_cloudwatch_role_comes_before_the_stage(dev: Synthesized) -> None:
    """AWS::ApiGateway::Account gets a role API Gateway can assume; the stage waits for it."""
    account_id, account = dev.one("AWS::ApiGateway::Account")
    role_id = account["Properties"]["CloudWatchRoleArn"]["Fn::GetAtt"][0]
    role = dev.json["Resources"][role_id]
    assert role["DeletionPolicy"] == "Retain"  # other APIs of the account may rely on it
    statement = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert statement["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert "AmazonAPIGatewayPushToCloudWatchLogs" in json.dumps(
        role["Properties"]["ManagedPolicyArns"]
    )
    _, stage = dev.one("AWS::ApiGatewayV2::Stage")
    assert account_id in stage["DependsOn"]


# ---- site ----------------------------------------------------------------------------------


def _headers_from_policy(synth: Synthesized) -> dict[str, str]:
    """Read the response headers policy back into header name -> value."""
    _, policy = synth.one("AWS::CloudFront::ResponseHeadersPolicy")
    config = render(policy["Properties"]["ResponseHeadersPolicyConfig"])
    security = config["SecurityHeadersConfig"]
    assert all(v["Override"] for v in security.values())
    hsts = security["StrictTransportSecurity"]
    result = {
        "Content-Security-Policy": security["ContentSecurityPolicy"]["ContentSecurityPolicy"],
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": security["FrameOptions"]["FrameOption"],
        "Referrer-Policy": security["ReferrerPolicy"]["ReferrerPolicy"],
        "Strict-Transport-Security": f"max-age={hsts['AccessControlMaxAgeSec']}"
        + ("; includeSubDomains" if hsts.get("IncludeSubdomains") else "")
        + ("; preload" if hsts.get("Preload") else ""),
    }
    for item in config["CustomHeadersConfig"]["Items"]:
        assert item["Override"]
        result[item["Header"]] = item["Value"]
    return result


def test_headers_policy_equals_what_headers_py_sends(dev: Synthesized) -> None:
    """CloudFront sends exactly headers.security_headers(<signaling URL>): same names, same text."""
    expected = headers.security_headers(signaling_url(dev), https=True)
    assert _headers_from_policy(dev) == expected


def test_csp_is_strict_and_names_the_signaling_endpoint(dev: Synthesized) -> None:
    """connect-src names the wss:// API origin; no unsafe-inline; frame-ancestors 'none'."""
    csp = _headers_from_policy(dev)["Content-Security-Policy"]
    assert csp == headers.content_security_policy(signaling_url(dev))
    directives = dict(d.split(" ", 1) for d in csp.split("; "))
    assert directives["connect-src"] == f"'self' {headers.signaling_origin(signaling_url(dev))}"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    policy = _headers_from_policy(dev)
    assert policy["Referrer-Policy"] == "no-referrer"
    assert "camera=(self)" in policy["Permissions-Policy"]
    assert "display-capture=(self)" in policy["Permissions-Policy"]


def test_buckets_are_private_encrypted_and_tls_only(dev: Synthesized) -> None:
    """Both buckets block all public access, are encrypted, and their policies deny plain HTTP."""
    buckets = dev.resources("AWS::S3::Bucket")
    assert len(buckets) == 2
    for bucket in buckets.values():
        props = bucket["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    for policy in dev.resources("AWS::S3::BucketPolicy").values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in statements
        )
        for s in statements:
            if s["Effect"] == "Allow":
                assert s["Principal"] != "*" and s["Principal"] != {"AWS": "*"}, s


def test_site_bucket_is_read_only_by_this_distribution(dev: Synthesized) -> None:
    """Origin Access Control: only CloudFront, for this distribution, may GetObject."""
    bucket_id = dev.logical_id(dev.stack.site.bucket)
    distribution_id = dev.logical_id(dev.stack.site.distribution)
    policy = next(
        p
        for p in dev.resources("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}
    )
    allows = [
        s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"
    ]
    cloudfront = [s for s in allows if s["Principal"] == {"Service": "cloudfront.amazonaws.com"}]
    others = [s for s in allows if s not in cloudfront]
    # dev only: CDK's auto-delete handler may empty the bucket when the stack is destroyed
    assert all("CustomS3AutoDeleteObjects" in json.dumps(s["Principal"]) for s in others)
    assert len(cloudfront) == 1
    (allow,) = cloudfront
    assert _actions(allow) == ["s3:GetObject"]
    assert distribution_id in json.dumps(allow["Condition"])
    _, oac = dev.one("AWS::CloudFront::OriginAccessControl")
    assert oac["Properties"]["OriginAccessControlConfig"]["SigningBehavior"] == "always"


def test_distribution_https_logging_and_headers(dev: Synthesized) -> None:
    """Redirect to HTTPS, index.html at /, the headers policy, standard logs to the log bucket."""
    policy_id = dev.logical_id(dev.stack.site.headers_policy)
    log_bucket_id = dev.logical_id(dev.stack.site.log_bucket)
    _, distribution = dev.one("AWS::CloudFront::Distribution")
    config = distribution["Properties"]["DistributionConfig"]
    behavior = config["DefaultCacheBehavior"]
    assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behavior["ResponseHeadersPolicyId"] == {"Ref": policy_id}
    assert behavior["AllowedMethods"] == ["GET", "HEAD"]
    assert config["DefaultRootObject"] == "index.html"
    assert config["Logging"]["Bucket"] == {"Fn::GetAtt": [log_bucket_id, "RegionalDomainName"]}
    assert "OriginAccessControlId" in config["Origins"][0]
    assert "ViewerCertificate" not in config  # the default *.cloudfront.net certificate
    assert "Aliases" not in config


def test_site_bucket_access_logs_go_to_the_log_bucket(dev: Synthesized) -> None:
    """S3 server access logs of the site bucket land in the log bucket, which expires them."""
    site = dev.json["Resources"][dev.logical_id(dev.stack.site.bucket)]["Properties"]
    log_bucket_id = dev.logical_id(dev.stack.site.log_bucket)
    assert site["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": log_bucket_id}
    logs = dev.json["Resources"][log_bucket_id]["Properties"]
    assert logs["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 90


def _deployments(synth: Synthesized) -> dict[str, dict]:
    """Cache-Control -> properties of the BucketDeployment that uploads with it."""
    found = {}
    for deployment in synth.resources("Custom::CDKBucketDeployment").values():
        props = deployment["Properties"]
        found[props["SystemMetadata"]["cache-control"]] = props
    return found


def test_deployment_uploads_frontend_and_generated_config_json(custom: Synthesized) -> None:
    """frontend/ plus config.json = {"signalingUrl": <the stage's wss:// URL>,
    "iceTransportPolicy": <context>} (settings.site_config), then invalidate."""
    props = _deployments(custom)[headers.CACHE_REVALIDATE]
    assert props["DestinationBucketName"] == {"Ref": custom.logical_id(custom.stack.site.bucket)}
    assert props["DistributionId"] == {"Ref": custom.logical_id(custom.stack.site.distribution)}
    assert props["DistributionPaths"] == ["/*"]
    assert props["WaitForDistributionInvalidation"] is True
    assert props["Prune"] is True
    # This variant is synthesized with asset staging, so both sources sit in its cdk.out.
    frontend, generated = (
        custom.outdir / f"asset.{key}"
        for key in (k.removesuffix(".zip") for k in props["SourceObjectKeys"])
    )
    assert "config.json" not in {p.name for p in frontend.iterdir()}
    config_text = (generated / "config.json").read_text()
    for marker, value in props["SourceMarkers"][1].items():
        config_text = config_text.replace(marker, render(value))
    assert json.loads(config_text) == site_config(signaling_url(custom), "relay")
    assert json.loads(config_text) == {
        "signalingUrl": signaling_url(custom),
        "iceTransportPolicy": "relay",
    }


def test_cache_headers_per_kind_of_file(custom: Synthesized) -> None:
    """Pages, config.json, scripts and styles are revalidated on every use (no hashed names:
    a browser must never mix releases); the icon and manifest may be a day old. Each kind is
    uploaded by its own deployment, which prunes only its own kind."""
    deployments = _deployments(custom)
    assert set(deployments) == {headers.CACHE_REVALIDATE, headers.CACHE_STABLE}
    revalidated = deployments[headers.CACHE_REVALIDATE]
    assert revalidated["Exclude"] == ["*"]
    assert revalidated["Include"] == ["*.html", "*.js", "*.css", "config.json"]
    stable = deployments[headers.CACHE_STABLE]
    assert stable["Exclude"] == revalidated["Include"] and "Include" not in stable
    assert stable["DistributionPaths"] == ["/*"] and stable["Prune"] is True
    assert "max-age=0" in headers.CACHE_REVALIDATE and "must-revalidate" in headers.CACHE_REVALIDATE
    # Every file of the site falls in exactly one kind, the one headers.cache_control names.
    frontend = REPO_ROOT / "frontend"
    files = [p.relative_to(frontend).as_posix() for p in frontend.rglob("*") if p.is_file()]
    kinds = {headers.cache_control(f) for f in [*files, "config.json", ""]}
    assert kinds == {headers.CACHE_REVALIDATE, headers.CACHE_STABLE}
    for name in ("index.html", "room.html", "config.json", "js/room.js", "css/app.css", ""):
        assert headers.cache_control(name) == headers.CACHE_REVALIDATE, name
    for name in ("favicon.svg", "manifest.webmanifest"):
        assert headers.cache_control(name) == headers.CACHE_STABLE, name


def test_cloudfront_respects_the_origin_cache_control(dev: Synthesized) -> None:
    """The cache policy's minimum TTL is 0 (above 0, CloudFront would keep even max-age=0
    objects that long); nothing but the path and the compression is in the cache key."""
    policy_id = dev.logical_id(dev.stack.site.cache_policy)
    _, distribution = dev.one("AWS::CloudFront::Distribution")
    behavior = distribution["Properties"]["DistributionConfig"]["DefaultCacheBehavior"]
    assert behavior["CachePolicyId"] == {"Ref": policy_id}
    config = dev.json["Resources"][policy_id]["Properties"]["CachePolicyConfig"]
    assert config["MinTTL"] == 0
    assert config["MaxTTL"] >= 86400  # s-maxage=86400 is kept a day at the edge
    key = config["ParametersInCacheKeyAndForwardedToOrigin"]
    assert key["CookiesConfig"]["CookieBehavior"] == "none"
    assert key["HeadersConfig"]["HeaderBehavior"] == "none"
    assert key["QueryStringsConfig"]["QueryStringBehavior"] == "none"
    assert key["EnableAcceptEncodingGzip"] and key["EnableAcceptEncodingBrotli"]


def test_dev_destroy_keeps_the_log_bucket_closed_until_it_is_gone(
    dev: Synthesized, custom: Synthesized
) -> None:
    """Late access logs made `cdk destroy` fail with BucketNotEmpty (aws-cdk#21776): in dev the
    log bucket's policy (where CDK's emptying function denies s3:PutObject) is kept until the
    bucket itself goes, and the distribution is deleted before the bucket is emptied."""
    site = dev.stack.site
    log_bucket_id = dev.logical_id(site.log_bucket)
    policy_id = dev.logical_id(site.log_bucket.policy)
    emptier_id = dev.stack.get_logical_id(
        site.log_bucket.node.find_child("AutoDeleteObjectsCustomResource").node.default_child
    )
    resources = dev.json["Resources"]
    assert resources[policy_id]["DeletionPolicy"] == "Retain"
    assert resources[policy_id]["Properties"]["Bucket"] == {"Ref": log_bucket_id}
    assert resources[emptier_id]["Properties"]["BucketName"] == {"Ref": log_bucket_id}
    assert policy_id in resources[emptier_id]["DependsOn"]  # emptied while the policy stands
    _, distribution = dev.one("AWS::CloudFront::Distribution")
    assert emptier_id in distribution["DependsOn"]  # deleted (so no longer logging) first
    # prod keeps the bucket anyway: no emptying, nothing to order
    assert not custom.resources("Custom::S3AutoDeleteObjects")


def test_cdk_emptying_function_still_denies_writes_first() -> None:
    """The dev destroy fix relies on aws-cdk-lib's auto-delete handler putting a Deny of
    s3:PutObject into the bucket policy before it empties the bucket; fail loudly if an
    aws-cdk-lib upgrade drops that."""
    import tarfile

    import aws_cdk

    jsii_dir = Path(aws_cdk.__file__).parent / "_jsii"
    (package,) = jsii_dir.glob("aws-cdk-lib@*.jsii.tgz")
    member = "package/custom-resource-handlers/dist/aws-s3/auto-delete-objects-handler/index.js"
    with tarfile.open(package) as archive:
        source = archive.extractfile(archive.getmember(member)).read().decode()
    # The handler ships minified: look for the statement and the calls, not for names.
    deny = source.find('Effect:"Deny",Action:["s3:PutObject"]')
    assert deny != -1, "aws-cdk-lib's auto-delete handler no longer denies writes"
    assert "putBucketPolicy" in source
    assert deny < source.find("deleteObjects("), "the Deny comes before the emptying"


def test_outputs_site_and_signaling_urls(dev: Synthesized) -> None:
    """SiteUrl is https://<distribution>, SignalingUrl the stage's wss:// URL."""
    outputs = render(dev.json["Outputs"])
    distribution_id = dev.logical_id(dev.stack.site.distribution)
    assert outputs["SiteUrl"]["Value"] == f"https://{distribution_id.lower()}.cloudfront.net"
    assert outputs["SignalingUrl"]["Value"] == signaling_url(dev)


# ---- TURN: none, kvs, secret ---------------------------------------------------------------


def _statements(synth: Synthesized) -> set[tuple[tuple[str, ...], tuple[str, ...]]]:
    """The handler's statements as (sorted actions, rendered resources), all Allow."""
    found = set()
    for statement in _handler_statements(synth):
        assert statement["Effect"] == "Allow" and "Condition" not in statement, statement
        resources = tuple(sorted(str(render(r)) for r in _resources(statement)))
        found.add((tuple(sorted(_actions(statement))), resources))
    return found


@pytest.mark.parametrize("variant", ["dev", "kvs", "secret"])
def test_handler_statements_per_turn_choice(variant: str, request: pytest.FixtureRequest) -> None:
    """Exactly the table's actions, ManageConnections on this stage, and per TURN choice:
    none, GetIceServerConfig + GetSignalingChannelEndpoint on the stack's channel (kvs), or
    GetSecretValue on the one secret (secret; no DescribeSecret, no KMS)."""
    synth: Synthesized = request.getfixturevalue(variant)
    table_id = synth.logical_id(synth.stack.table.table)
    api_id = synth.logical_id(synth.stack.signaling.api).lower()
    stage = synth.settings.stage
    expected = {
        (tuple(sorted(signaling_construct.TABLE_ACTIONS)), (f"arn:{table_id}",)),
        (
            ("execute-api:ManageConnections",),
            (f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/{stage}/*/@connections/*",),
        ),
    }
    if variant == "kvs":
        channel_id = synth.stack.get_logical_id(synth.stack.turn.channel)
        expected.add(
            (
                ("kinesisvideo:GetIceServerConfig", "kinesisvideo:GetSignalingChannelEndpoint"),
                (f"arn:{channel_id}",),
            )
        )
    if variant == "secret":
        expected.add((("secretsmanager:GetSecretValue",), (TURN_SECRET_ARN,)))
    assert _statements(synth) == expected


def test_turn_none_adds_no_resource_and_no_output(dev: Synthesized, custom: Synthesized) -> None:
    """turn=none (the default) is today's stack: no channel, no TURN variable, no output."""
    for synth in (dev, custom):
        assert not synth.resources("AWS::KinesisVideo::SignalingChannel")
        assert not synth.resources("AWS::SecretsManager::Secret")
        assert {"TurnChannelArn", "FunctionRoleArn"}.isdisjoint(synth.json["Outputs"])
        _, function = _handler(synth)
        assert "TURN" not in function["Properties"]["Environment"]["Variables"]


def test_kvs_creates_one_single_master_channel(kvs: Synthesized) -> None:
    """turn=kvs: one SINGLE_MASTER signaling channel named by CloudFormation (two stages never
    collide), retained in prod like the table; the function and an output get its ARN."""
    channel_id, channel = kvs.one("AWS::KinesisVideo::SignalingChannel")
    assert channel["Properties"]["Type"] == "SINGLE_MASTER"
    assert "Name" not in channel["Properties"]
    assert channel["DeletionPolicy"] == "Retain" and kvs.settings.is_prod
    _, function = _handler(kvs)
    env = function["Properties"]["Environment"]["Variables"]
    assert env["TURN"] == "kvs"
    assert env["KVS_CHANNEL_ARN"] == {"Fn::GetAtt": [channel_id, "Arn"]}
    assert kvs.json["Outputs"]["TurnChannelArn"]["Value"] == {"Fn::GetAtt": [channel_id, "Arn"]}
    assert not kvs.resources("AWS::SecretsManager::Secret")


def test_kvs_channel_follows_the_stage() -> None:
    """The channel is deleted with a dev stack and kept with a prod one."""
    for stage, policy in (("dev", "Delete"), ("prod", "Retain")):
        stack = Stack(App(), "TurnOnly")
        Turn(
            stack, "Turn", settings=StackSettings.from_context({"turn": "kvs", "stage": stage}.get)
        )
        channels = Template.from_stack(stack).find_resources("AWS::KinesisVideo::SignalingChannel")
        assert [c["DeletionPolicy"] for c in channels.values()] == [policy]


def test_kvs_allows_relay_only(kvs: Synthesized) -> None:
    """iceTransportPolicy relay is accepted with turn=kvs and written into config.json's
    settings: KVS provides the TURN servers, iceServers keeps STUN only."""
    assert kvs.settings.ice_transport_policy == "relay"
    assert kvs.settings.ice_servers == [{"urls": ["stun:stun.l.google.com:19302"]}]


def test_secret_environment_and_no_secret_value(secret: Synthesized) -> None:
    """turn=secret: TURN, TURN_URLS (compact JSON), TURN_SECRET_ARN and
    TURN_CREDENTIAL_SECONDS; the template holds the secret's ARN but no value, no dynamic
    reference to it and no Secrets Manager resource."""
    _, function = _handler(secret)
    env = function["Properties"]["Environment"]["Variables"]
    assert env["TURN"] == "secret"
    assert json.loads(env["TURN_URLS"]) == [
        "turn:turn.example.com:3478",
        "turns:turn.example.com:5349?transport=tcp",
    ]
    assert env["TURN_SECRET_ARN"] == TURN_SECRET_ARN
    assert env["TURN_CREDENTIAL_SECONDS"] == "7200"
    text = json.dumps(secret.json)
    assert "resolve:secretsmanager" not in text and "SecretString" not in text
    assert not secret.resources("AWS::SecretsManager::Secret")
    assert not secret.resources("AWS::KinesisVideo::SignalingChannel")


def test_secret_outputs_the_role_that_reads_it(secret: Synthesized) -> None:
    """FunctionRoleArn: the role a customer-managed KMS key's policy must allow kms:Decrypt."""
    role_id = secret.logical_id(secret.stack.signaling.function.role)
    output = secret.json["Outputs"]["FunctionRoleArn"]
    assert output["Value"] == {"Fn::GetAtt": [role_id, "Arn"]}
    assert "kms:Decrypt" in output["Description"]


# ---- variants ------------------------------------------------------------------------------


def test_custom_domain_uses_the_certificate_and_tls_1_2_2021(custom: Synthesized) -> None:
    """domainName + certificateArn: alias, SNI, the ACM certificate and TLSv1.2_2021 minimum."""
    custom.template.has_resource_properties(
        "AWS::CloudFront::Distribution",
        {
            "DistributionConfig": Match.object_like(
                {
                    "Aliases": ["chat.example.com"],
                    "ViewerCertificate": {
                        "AcmCertificateArn": CERTIFICATE_ARN,
                        "MinimumProtocolVersion": "TLSv1.2_2021",
                        "SslSupportMethod": "sni-only",
                    },
                }
            )
        },
    )
    assert render(custom.json["Outputs"]["SiteUrl"]["Value"]) == "https://chat.example.com"


def test_dev_is_destroyable(dev: Synthesized) -> None:
    """Stage dev: table and buckets are deleted with the stack (bucket objects emptied first)."""
    _, table = dev.one("AWS::DynamoDB::Table")
    assert table["DeletionPolicy"] == "Delete"
    assert table["Properties"].get("DeletionProtectionEnabled") is False
    for bucket in dev.resources("AWS::S3::Bucket").values():
        assert bucket["DeletionPolicy"] == "Delete"
    assert len(dev.resources("Custom::S3AutoDeleteObjects")) == 2
    assert not dev.stack.termination_protection


def test_prod_is_retained(custom: Synthesized) -> None:
    """Stage prod: table and buckets survive `cdk destroy`; table deletion protection is on."""
    _, table = custom.one("AWS::DynamoDB::Table")
    assert table["DeletionPolicy"] == "Retain"
    assert table["Properties"]["DeletionProtectionEnabled"] is True
    for bucket in custom.resources("AWS::S3::Bucket").values():
        assert bucket["DeletionPolicy"] == "Retain"
    assert not custom.resources("Custom::S3AutoDeleteObjects")
    for log_group in custom.resources("AWS::Logs::LogGroup").values():
        assert log_group["DeletionPolicy"] == "Retain"
    assert custom.stack.termination_protection
