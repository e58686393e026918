"""The static site: a private S3 bucket behind CloudFront (Origin Access Control), the security
headers from ``infra/headers.py``, and a deployment of ``frontend/`` plus a generated
``config.json`` that tells the browser the ``wss://`` signaling URL and the ICE transport
policy (``all``, or ``relay``: TURN only).
"""

from __future__ import annotations

import re

from aws_cdk import DefaultStackSynthesizer, Duration, RemovalPolicy, Stack
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from infra import headers
from infra.config import FRONTEND_DIR, Settings
from infra.constructs.nag import acknowledge

CONFIG_OBJECT = "config.json"
# Never uploaded from frontend/: config.json is generated, the rest is local clutter.
FRONTEND_EXCLUDE = [CONFIG_OBJECT, "**/.DS_Store", "**/*.map", "**/node_modules", "**/*.test.js"]
BROWSER_CACHE = Duration.minutes(5)  # every deploy also invalidates CloudFront's copies
_PRICE_CLASSES = {
    "100": cloudfront.PriceClass.PRICE_CLASS_100,
    "200": cloudfront.PriceClass.PRICE_CLASS_200,
    "All": cloudfront.PriceClass.PRICE_CLASS_ALL,
}
_HSTS = re.compile(r"^max-age=(\d+)((?:; ?(?:includeSubDomains|preload))*)$")


def response_headers_behaviors(
    header_values: dict[str, str],
) -> tuple[cloudfront.ResponseSecurityHeadersBehavior, cloudfront.ResponseCustomHeadersBehavior]:
    """Turn ``headers.security_headers*()`` into CloudFront's two header behaviours.

    CloudFront has typed fields for CSP, nosniff, frame options, referrer policy and HSTS; every
    other header (Permissions-Policy, Cross-Origin-Opener-Policy...) becomes a custom header.
    Each is set with ``override`` so the origin can never weaken it.
    """
    remaining = dict(header_values)
    security: dict[str, object] = {}
    if (csp := remaining.pop("Content-Security-Policy", None)) is not None:
        security["content_security_policy"] = cloudfront.ResponseHeadersContentSecurityPolicy(
            content_security_policy=csp, override=True
        )
    if (nosniff := remaining.pop("X-Content-Type-Options", None)) is not None:
        if nosniff != "nosniff":
            raise ValueError(f"X-Content-Type-Options can only be nosniff on CloudFront: {nosniff}")
        security["content_type_options"] = cloudfront.ResponseHeadersContentTypeOptions(
            override=True
        )
    if (frame := remaining.pop("X-Frame-Options", None)) is not None:
        security["frame_options"] = cloudfront.ResponseHeadersFrameOptions(
            frame_option=cloudfront.HeadersFrameOption[frame.upper()], override=True
        )
    if (referrer := remaining.pop("Referrer-Policy", None)) is not None:
        security["referrer_policy"] = cloudfront.ResponseHeadersReferrerPolicy(
            referrer_policy=cloudfront.HeadersReferrerPolicy[referrer.upper().replace("-", "_")],
            override=True,
        )
    if (hsts := remaining.pop("Strict-Transport-Security", None)) is not None:
        match = _HSTS.match(hsts)
        if match is None:
            raise ValueError(f"unsupported Strict-Transport-Security value: {hsts}")
        security["strict_transport_security"] = cloudfront.ResponseHeadersStrictTransportSecurity(
            access_control_max_age=Duration.seconds(int(match.group(1))),
            include_subdomains="includeSubDomains" in match.group(2),
            preload="preload" in match.group(2),
            override=True,
        )
    custom = cloudfront.ResponseCustomHeadersBehavior(
        custom_headers=[
            cloudfront.ResponseCustomHeader(header=name, value=value, override=True)
            for name, value in remaining.items()
        ]
    )
    return cloudfront.ResponseSecurityHeadersBehavior(**security), custom


class Site(Construct):
    """Private bucket + CloudFront + deployment. ``url`` is the site's https:// URL."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        signaling_url: str,
        signaling_origin: str,
    ) -> None:
        super().__init__(scope, construct_id)
        removal = RemovalPolicy.RETAIN if settings.is_prod else RemovalPolicy.DESTROY
        destroyable = not settings.is_prod

        # ---- buckets ------------------------------------------------------------------------
        self.log_bucket = s3.Bucket(
            self,
            "Logs",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            # CloudFront's standard logs are delivered through an ACL grant, which needs ACLs
            # enabled on this bucket (object writer); the site bucket itself keeps them off.
            object_ownership=s3.ObjectOwnership.OBJECT_WRITER,
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=Duration.days(settings.access_log_retention_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            removal_policy=removal,
            auto_delete_objects=destroyable,
        )
        acknowledge(
            self.log_bucket,
            "AwsSolutions-S1",
            (
                "This is the access-log bucket itself (S3 server access logs and CloudFront "
                "standard logs land here). Logging it would need another bucket, and that one "
                "another: the chain has to stop at a bucket that only AWS log delivery writes."
            ),
        )
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=self.log_bucket,
            server_access_logs_prefix="s3/",
            removal_policy=removal,
            auto_delete_objects=destroyable,
        )

        # ---- headers, certificate, distribution ---------------------------------------------
        security, custom = response_headers_behaviors(
            headers.security_headers_for_origin(signaling_origin, https=True)
        )
        self.headers_policy = cloudfront.ResponseHeadersPolicy(
            self,
            "Headers",
            comment="P2PChat security headers (infra/headers.py)",
            security_headers_behavior=security,
            custom_headers_behavior=custom,
        )
        certificate = None
        domain_names = None
        if settings.domain_name and settings.certificate_arn:
            certificate = acm.Certificate.from_certificate_arn(
                self, "Certificate", settings.certificate_arn
            )
            domain_names = [settings.domain_name]
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment="P2PChat site",
            default_root_object="index.html",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=self.headers_policy,
                compress=True,
            ),
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            price_class=_PRICE_CLASSES[settings.price_class],
            domain_names=domain_names,
            certificate=certificate,
            # Only possible with a custom certificate: with the default *.cloudfront.net
            # certificate CloudFront fixes the floor itself (see docs/deploy.md).
            minimum_protocol_version=(
                cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021 if certificate else None
            ),
            enable_logging=True,
            log_bucket=self.log_bucket,
            log_file_prefix="cloudfront/",
        )
        acks = [
            (
                "AwsSolutions-CFR1",
                "Video chat is meant to work from anywhere; a country allow/deny list would "
                "lock out legitimate users and adds nothing for a public static site.",
            ),
            (
                "AwsSolutions-CFR2",
                "The distribution serves only static files from a private bucket (GET/HEAD, no "
                "query strings or cookies forwarded, nothing dynamic). AWS WAF costs a fixed "
                "monthly fee per web ACL, more than the whole stack at rest; CloudFront's "
                "built-in AWS Shield Standard covers volumetric attacks.",
            ),
        ]
        if certificate is None:
            acks.append(
                (
                    "AwsSolutions-CFR4",
                    "Without a custom domain the distribution uses CloudFront's default "
                    "*.cloudfront.net certificate, whose TLS floor AWS fixes and cannot be "
                    "raised. Browsers negotiate TLS 1.2/1.3 anyway. Deploying with domainName "
                    "and certificateArn sets the floor to TLSv1.2_2021 (docs/deploy.md).",
                )
            )
        for rule, reason in acks:
            acknowledge(self.distribution, rule, reason)

        self.url = f"https://{settings.domain_name or self.distribution.distribution_domain_name}"
        self.origins = [self.url]
        if settings.domain_name:
            self.origins.append(f"https://{self.distribution.distribution_domain_name}")

        # ---- content --------------------------------------------------------------------
        self.deployment = s3deploy.BucketDeployment(
            self,
            "Deploy",
            destination_bucket=self.bucket,
            sources=[
                s3deploy.Source.asset(str(FRONTEND_DIR), exclude=FRONTEND_EXCLUDE),
                s3deploy.Source.json_data(
                    CONFIG_OBJECT,
                    {
                        "signalingUrl": signaling_url,
                        "iceTransportPolicy": settings.ice_transport_policy,
                    },
                ),
            ],
            cache_control=[
                s3deploy.CacheControl.set_public(),
                s3deploy.CacheControl.max_age(BROWSER_CACHE),
            ],
            distribution=self.distribution,
            distribution_paths=["/*"],
            memory_limit=256,
        )
        _acknowledge_deployment_handler(Stack.of(self), self.bucket)


def _acknowledge_deployment_handler(stack: Stack, bucket: s3.Bucket) -> None:
    """Findings on the Lambda-backed custom resource BucketDeployment adds to the stack.

    Its handler, runtime and role are aws-cdk-lib's own (a singleton at stack level); the
    policy below is what CDK grants it, and each finding is acknowledged by its exact id.
    """
    qualifier = (
        stack.node.try_get_context("@aws-cdk/core:bootstrapQualifier")
        or DefaultStackSynthesizer.DEFAULT_QUALIFIER
    )
    bucket_arn = f"<{stack.get_logical_id(bucket.node.default_child)}.Arn>"
    copy = (
        "BucketDeployment copies the site from CDK's asset bucket into the site bucket and "
        "prunes stale files, so its role reads the asset objects and writes/deletes objects "
    )
    findings = {
        "AwsSolutions-L1": (
            "BucketDeployment's handler is aws-cdk-lib's own function: CDK picks its runtime and "
            "moves it forward with each release. It runs only while CloudFormation deploys."
        ),
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
        "AWSLambdaBasicExecutionRole]": (
            "CDK's BucketDeployment handler uses the AWS-maintained basic execution policy only "
            "to write its own logs (CreateLogGroup/CreateLogStream/PutLogEvents)."
        ),
        "AwsSolutions-IAM5[Action::s3:GetObject*]": copy + "in this stack's site bucket only.",
        "AwsSolutions-IAM5[Action::s3:GetBucket*]": copy + "in this stack's site bucket only.",
        "AwsSolutions-IAM5[Action::s3:List*]": copy + "in this stack's site bucket only.",
        "AwsSolutions-IAM5[Action::s3:DeleteObject*]": copy + "in this stack's site bucket only.",
        "AwsSolutions-IAM5[Action::s3:Abort*]": copy + "in this stack's site bucket only.",
        f"AwsSolutions-IAM5[Resource::{bucket_arn}/*]": (
            copy + "under this one bucket; the object keys are the site's files, known only "
            "when the asset is unpacked."
        ),
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::"
        f"cdk-{qualifier}-assets-<AWS::AccountId>-<AWS::Region>/*]": (
            "Read access to the objects of CDK's bootstrap asset bucket, where `cdk deploy` "
            "uploads the zipped frontend; the object key is a content hash."
        ),
        "AwsSolutions-IAM5[Resource::*]": (
            "cloudfront:CreateInvalidation and GetInvalidation, which CDK grants on '*' so the "
            "handler can invalidate this stack's distribution after copying the site. The "
            "actions cannot read or change content or configuration."
        ),
    }
    for child in stack.node.children:
        if child.node.id.startswith("Custom::CDKBucketDeployment"):
            for rule_id, reason in findings.items():
                acknowledge(child, rule_id, reason)
