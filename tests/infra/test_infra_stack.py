"""The synthesized CloudFormation template: one concern per test."""

from __future__ import annotations

import json
import re
from pathlib import Path

from aws_cdk.assertions import Match
from cdk_synth import CERTIFICATE_ARN, REGION, Synthesized, render, signaling_url
from p2pchat import protocol, table_spec

from infra import headers
from infra.config import POWERTOOLS_VERSION, REPO_ROOT
from infra.constructs import signaling as signaling_construct


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
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "P2PChat"
    assert env["POWERTOOLS_SERVICE_NAME"]
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
    """Every DynamoDB action is on this table (or its indexes); no other resource, no `*`."""
    table_id = dev.logical_id(dev.stack.table.table)
    table_arn = {"Fn::GetAtt": [table_id, "Arn"]}
    allowed = [table_arn, {"Fn::Join": ["", [table_arn, "/index/*"]]}]
    statements = [
        s for s in _handler_statements(dev) if any(a.startswith("dynamodb:") for a in _actions(s))
    ]
    assert statements
    for statement in statements:
        assert all(a.startswith("dynamodb:") for a in _actions(statement))
        assert all(r in allowed for r in _resources(statement)), statement
    actions = {a for s in statements for a in _actions(s)}
    assert {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    } <= actions


def test_no_wildcard_resource_in_the_handler_policy(dev: Synthesized) -> None:
    """Nothing the handler may do is granted on `*`."""
    for statement in _handler_statements(dev):
        assert "*" not in _resources(statement), statement
        assert statement["Effect"] == "Allow"


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


def test_stage_auto_deploys_with_throttling_from_context(
    dev: Synthesized, custom: Synthesized
) -> None:
    """Auto-deploy; rate/burst default 100/200 and follow throttleRateLimit/throttleBurstLimit."""
    dev.template.has_resource_properties(
        "AWS::ApiGatewayV2::Stage",
        {
            "StageName": "dev",
            "AutoDeploy": True,
            "DefaultRouteSettings": {"ThrottlingRateLimit": 100, "ThrottlingBurstLimit": 200},
        },
    )
    custom.template.has_resource_properties(
        "AWS::ApiGatewayV2::Stage",
        {
            "StageName": "prod",
            "DefaultRouteSettings": {"ThrottlingRateLimit": 40, "ThrottlingBurstLimit": 80},
        },
    )


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


def test_deployment_uploads_frontend_and_generated_config_json(custom: Synthesized) -> None:
    """frontend/ plus config.json = {"signalingUrl": <the stage's wss:// URL>,
    "iceTransportPolicy": <context>}, then invalidate."""
    _, deployment = custom.one("Custom::CDKBucketDeployment")
    props = deployment["Properties"]
    assert props["DestinationBucketName"] == {"Ref": custom.logical_id(custom.stack.site.bucket)}
    assert props["DistributionId"] == {"Ref": custom.logical_id(custom.stack.site.distribution)}
    assert props["DistributionPaths"] == ["/*"]
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
    assert json.loads(config_text) == {
        "signalingUrl": signaling_url(custom),
        "iceTransportPolicy": "relay",
    }


def test_outputs_site_and_signaling_urls(dev: Synthesized) -> None:
    """SiteUrl is https://<distribution>, SignalingUrl the stage's wss:// URL."""
    outputs = render(dev.json["Outputs"])
    distribution_id = dev.logical_id(dev.stack.site.distribution)
    assert outputs["SiteUrl"]["Value"] == f"https://{distribution_id.lower()}.cloudfront.net"
    assert outputs["SignalingUrl"]["Value"] == signaling_url(dev)


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
