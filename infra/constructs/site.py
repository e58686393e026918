"""The static site: a private S3 bucket behind CloudFront (Origin Access Control), the security
headers and the Cache-Control of each kind of file from ``infra/headers.py``, and a deployment
of ``frontend/`` plus a generated ``config.json`` (``p2pchat.settings.site_config``: the
``wss://`` signaling URL and the ICE transport policy, ``all`` or ``relay``).
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
from infra.config import FRONTEND_DIR, StackSettings
from infra.constructs.nag import acknowledge
from p2pchat.settings import site_config

CONFIG_OBJECT = "config.json"
# Never uploaded from frontend/: config.json is generated, the rest is local clutter.
FRONTEND_EXCLUDE = [CONFIG_OBJECT, "**/.DS_Store", "**/*.map", "**/node_modules", "**/*.test.js"]
# CloudFront keeps what the origin's Cache-Control says (headers.cache_control): a minimum TTL
# above 0 would make it cache even max-age=0 and no-cache objects that long. The default only
# applies to an object without Cache-Control; every object the deployment writes has one.
EDGE_MIN_TTL = Duration.seconds(0)
EDGE_DEFAULT_TTL = Duration.days(1)
EDGE_MAX_TTL = Duration.days(365)
DEPLOYMENT_MEMORY_MB = 256  # one value, so both deployments share CDK's one handler function
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
        settings: StackSettings,
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
        self.cache_policy = cloudfront.CachePolicy(
            self,
            "Cache",
            comment="P2PChat site: the origin's Cache-Control decides (infra/headers.py)",
            min_ttl=EDGE_MIN_TTL,
            default_ttl=EDGE_DEFAULT_TTL,
            max_ttl=EDGE_MAX_TTL,
            header_behavior=cloudfront.CacheHeaderBehavior.none(),
            cookie_behavior=cloudfront.CacheCookieBehavior.none(),
            query_string_behavior=cloudfront.CacheQueryStringBehavior.none(),
            enable_accept_encoding_gzip=True,
            enable_accept_encoding_brotli=True,
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
                cache_policy=self.cache_policy,
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
        if destroyable:
            self._destroy_log_bucket_last()
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

        # ---- content: one upload per Cache-Control (headers.cache_control) -------------------
        # Each deployment syncs only its own kind of file (aws s3 sync --exclude/--include), so
        # neither prunes the other's files. Both invalidate CloudFront and wait for it, so the
        # edge serves the new release everywhere when `cdk deploy` returns.
        frontend = s3deploy.Source.asset(str(FRONTEND_DIR), exclude=FRONTEND_EXCLUDE)
        config = s3deploy.Source.json_data(
            CONFIG_OBJECT, site_config(signaling_url, settings.ice_transport_policy)
        )
        upload = {
            "destination_bucket": self.bucket,
            "distribution": self.distribution,
            "distribution_paths": ["/*"],
            "memory_limit": DEPLOYMENT_MEMORY_MB,
        }
        # Pages, config.json, scripts, styles: revalidated on every use.
        self.deployment = s3deploy.BucketDeployment(
            self,
            "Deploy",
            sources=[frontend, config],
            exclude=["*"],
            include=list(headers.REVALIDATED_FILES),
            cache_control=[s3deploy.CacheControl.from_string(headers.CACHE_REVALIDATE)],
            **upload,
        )
        # Everything else (icon, manifest): a day in the browser.
        self.stable_deployment = s3deploy.BucketDeployment(
            self,
            "DeployStable",
            sources=[frontend],
            exclude=list(headers.REVALIDATED_FILES),
            cache_control=[s3deploy.CacheControl.from_string(headers.CACHE_STABLE)],
            **upload,
        )
        self.stable_deployment.node.add_dependency(self.deployment)  # one invalidation at a time
        _acknowledge_deployment_handler(Stack.of(self), self.bucket)

    def _destroy_log_bucket_last(self) -> None:
        """Make `cdk destroy` of dev delete the log bucket reliably (aws-cdk#21776, #16332).

        CloudFront and S3 deliver access logs late (minutes to hours), so a log can land after
        the bucket was emptied and the delete fails with BucketNotEmpty. CDK's emptying
        function first adds a Deny of s3:PutObject for everyone to the bucket policy (a test
        checks aws-cdk-lib still does), but CloudFormation then deletes that policy before
        the bucket, reopening the door. Kept (DeletionPolicy Retain), the policy and its Deny
        stay until the bucket goes, and take nothing with them: a bucket's policy is deleted
        with the bucket. And the distribution is deleted before the bucket is emptied, so
        CloudFront has stopped serving, and logging, by then.
        """
        policy = self.log_bucket.policy
        emptier = self.log_bucket.node.find_child("AutoDeleteObjectsCustomResource")
        assert policy is not None  # enforce_ssl makes one
        policy.apply_removal_policy(RemovalPolicy.RETAIN)
        self.distribution.node.add_dependency(emptier)


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
        "BucketDeployment (CDK's own handler) copies the site from CDK's asset bucket into "
        "the site bucket and prunes stale files. "
    )
    both = copy + (
        "This read action is granted on exactly two buckets and their objects: CDK's "
        "bootstrap asset bucket (cdk-<qualifier>-assets-<account>-<region>, where `cdk "
        "deploy` uploads the zipped site) and this stack's site bucket; no other bucket."
    )
    site_only = copy + "This action is granted on this stack's site bucket and its objects only."
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
        "AwsSolutions-IAM5[Action::s3:GetObject*]": both,
        "AwsSolutions-IAM5[Action::s3:GetBucket*]": both,
        "AwsSolutions-IAM5[Action::s3:List*]": both,
        "AwsSolutions-IAM5[Action::s3:DeleteObject*]": site_only,
        "AwsSolutions-IAM5[Action::s3:Abort*]": site_only,
        f"AwsSolutions-IAM5[Resource::{bucket_arn}/*]": (
            copy + "It reads, writes and deletes objects under this one bucket; the object "
            "keys are the site's files, known only when the asset is unpacked."
        ),
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::"
        f"cdk-{qualifier}-assets-<AWS::AccountId>-<AWS::Region>/*]": (
            copy + "It reads (GetObject*, GetBucket*, List*) the objects of CDK's bootstrap "
            "asset bucket, where `cdk deploy` uploads the zipped site; the key is a hash."
        ),
        "AwsSolutions-IAM5[Resource::*]": (
            "cloudfront:CreateInvalidation and GetInvalidation, which CDK grants on '*' for "
            "BucketDeployment's handler to invalidate this stack's distribution after a "
            "copy. The grant would let it invalidate any distribution of the account (that "
            "only makes CloudFront fetch again); it cannot read or change content or "
            "configuration."
        ),
    }
    for child in stack.node.children:
        if child.node.id.startswith("Custom::CDKBucketDeployment"):
            for rule_id, reason in findings.items():
                acknowledge(child, rule_id, reason)
