"""Signaling: the WebSocket API, its stage, the one Lambda behind every route, and its grants.

Route selection is ``$request.body.action``; the routes are ``$connect``, ``$disconnect``,
``$default`` and one per client action of the protocol (``protocol.CLIENT_ACTIONS``), all
served by the same function. Each route has its own throttle (API Gateway keeps one token
bucket per route, not one per stage). The function's environment is the deployment contract
of ``p2pchat.settings`` (``Var``) plus the TURN choice's variables (``constructs/turn.py``); it
may manage connections on this API's stage only, use the DynamoDB actions ``p2pchat.store``
calls on the signaling table only, and fetch TURN credentials as the TURN choice grants.
"""

from __future__ import annotations

import json

import jsii
from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from aws_cdk.aws_apigatewayv2_integrations import WebSocketLambdaIntegration
from constructs import Construct

from infra.config import LAMBDA_SOURCE_DIR, POWERTOOLS_VERSION, RETENTION_DAYS, StackSettings
from infra.constructs.nag import acknowledge
from infra.constructs.turn import Turn
from p2pchat import observability, protocol
from p2pchat.settings import Var

RUNTIME = lambda_.Runtime.PYTHON_3_14  # the newest Python runtime aws-cdk-lib offers
ARCHITECTURE = lambda_.Architecture.ARM_64
HANDLER = "p2pchat.handler.lambda_handler"
ROUTE_SELECTION_EXPRESSION = "$request.body.action"
SYSTEM_ROUTES = ("$connect", "$disconnect", "$default")
# Exactly the DynamoDB actions p2pchat/store.py needs (a test derives them from its calls):
# GetItem, BatchGetItem, DeleteItem and UpdateItem directly; TransactWriteItems has no IAM
# action of its own and needs the item action of each Put, Update and Delete it carries.
# No Scan, Query, BatchWriteItem, ConditionCheckItem or stream reads: the code makes none.
TABLE_ACTIONS = (
    "dynamodb:BatchGetItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
)
# API Gateway throttles each route with its own token bucket. The stage's message budget
# (throttleRateLimit/throttleBurstLimit) is split between the message routes in these shares
# (percent), so the routes together never exceed it and a flood on one route (say $default,
# which no browser uses) cannot starve another: signal carries each call's setup (offer,
# answer, ICE candidates), ping every member's keep-alive, join and leave a few per call,
# ice-servers a member's fresh TURN credentials before an ICE restart or their expiry (none
# without TURN; with kvs, whose credentials last 5 minutes, up to one every 2.5 minutes per
# relayed member).
MESSAGE_ROUTE_SHARES = {
    "signal": 40,
    "ping": 30,
    "join": 10,
    "leave": 10,
    "ice-servers": 5,
    "$default": 5,
}
# Kept out of the code asset: caches, bytecode and anything test-only.
ASSET_EXCLUDE = ["**/__pycache__", "**/*.pyc", "**/.pytest_cache", "**/.mypy_cache", "**/.DS_Store"]

# One JSON object per WebSocket event. All values quoted: API Gateway writes "-" for empty
# values, which would break unquoted numbers.
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "extendedRequestId": "$context.extendedRequestId",
    "requestTime": "$context.requestTime",
    "requestTimeEpoch": "$context.requestTimeEpoch",
    "stage": "$context.stage",
    "eventType": "$context.eventType",
    "routeKey": "$context.routeKey",
    "connectionId": "$context.connectionId",
    "connectedAt": "$context.connectedAt",
    "messageId": "$context.messageId",
    "status": "$context.status",
    "sourceIp": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "integrationStatus": "$context.integration.status",
    "integrationLatency": "$context.integration.latency",
    "integrationError": "$context.integration.error",
    "errorMessage": "$context.error.message",
    "errorResponseType": "$context.error.responseType",
}


def powertools_parameter_name(runtime: lambda_.Runtime = RUNTIME) -> str:
    """AWS's public SSM parameter holding the Powertools layer ARN for this runtime and arch."""
    return f"/aws/service/powertools/python/{ARCHITECTURE.name}/{runtime.name}/{POWERTOOLS_VERSION}"


def route_throttles(settings: StackSettings) -> dict[str, tuple[float, int]]:
    """Route key -> (steady rate per second, burst) for every route that has its own limit.

    ``$connect`` has the connection limits; each message route its share of the message
    budget; ``$disconnect`` (one per connection, so no more often than ``$connect`` on
    average) falls under the stage's default, the whole message budget.
    """
    throttles: dict[str, tuple[float, int]] = {
        "$connect": (float(settings.connect_rate_limit), settings.connect_burst_limit)
    }
    for route, share in MESSAGE_ROUTE_SHARES.items():
        throttles[route] = (
            settings.throttle_rate_limit * share / 100,
            settings.throttle_burst_limit * share // 100,
        )
    return throttles


def function_environment(settings: StackSettings, table_name: str) -> dict[str, str]:
    """The function's environment, by the contract's names (ALLOWED_ORIGINS comes later, from
    the site: ``Signaling.allow_origins``)."""
    env = {
        Var.TABLE_NAME: table_name,
        Var.MAX_PEERS: str(settings.max_peers),
        Var.ICE_SERVERS: settings.ice_servers_json,
        Var.POWERTOOLS_SERVICE_NAME: observability.SERVICE,
        Var.POWERTOOLS_METRICS_NAMESPACE: observability.DEFAULT_NAMESPACE,
        Var.POWERTOOLS_LOG_LEVEL: settings.log_level,
    }
    return {str(name): value for name, value in env.items()}


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogSettings:
    def __init__(self, destination: apigwv2.IAccessLogDestination, fmt: apigw.AccessLogFormat):
        self._destination = destination
        self._format = fmt

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw.AccessLogFormat:
        return self._format


class Signaling(Construct):
    """WebSocket API + stage + Lambda. ``url`` is the ``wss://`` URL, ``origin`` its origin."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StackSettings,
        table: dynamodb.ITable,
        turn: Turn,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        removal = RemovalPolicy.RETAIN if settings.is_prod else RemovalPolicy.DESTROY
        retention = logs.RetentionDays[RETENTION_DAYS[settings.log_retention_days]]

        # ---- the function -----------------------------------------------------------------
        function_logs = logs.LogGroup(
            self, "FunctionLogs", retention=retention, removal_policy=removal
        )
        powertools = lambda_.LayerVersion.from_layer_version_arn(
            self,
            "Powertools",
            # A CloudFormation parameter of type AWS::SSM::Parameter::Value<String>: resolved
            # by CloudFormation at deploy time, so synthesis never calls AWS.
            ssm.StringParameter.value_for_string_parameter(self, powertools_parameter_name()),
        )
        self.function = lambda_.Function(
            self,
            "Handler",
            description="P2PChat signaling: every WebSocket route",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=HANDLER,
            code=lambda_.Code.from_asset(str(LAMBDA_SOURCE_DIR), exclude=ASSET_EXCLUDE),
            layers=[powertools],
            memory_size=256,
            timeout=Duration.seconds(10),  # API Gateway gives up on an integration at 29 s
            log_group=function_logs,
            environment=function_environment(settings, table.table_name) | turn.environment,
        )
        table.grant(self.function, *TABLE_ACTIONS)
        turn.grant(self.function)
        acknowledge(
            self.function,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
            (
                "AWSLambdaBasicExecutionRole grants only logs:CreateLogGroup, CreateLogStream and "
                "PutLogEvents, the minimum any Lambda needs to log; AWS maintains it. The "
                "function's log group is created by this stack with a fixed retention."
            ),
        )

        # ---- the API and its routes -------------------------------------------------------
        integration = WebSocketLambdaIntegration("Handler", self.function)
        self.api = apigwv2.WebSocketApi(
            self,
            "Api",
            description="P2PChat signaling (WebSocket)",
            route_selection_expression=ROUTE_SELECTION_EXPRESSION,
            connect_route_options=apigwv2.WebSocketRouteOptions(integration=integration),
            disconnect_route_options=apigwv2.WebSocketRouteOptions(integration=integration),
            default_route_options=apigwv2.WebSocketRouteOptions(integration=integration),
        )
        for action in sorted(protocol.CLIENT_ACTIONS):
            self.api.add_route(action, integration=integration)
        routes = [c for c in self.api.node.children if isinstance(c, apigwv2.WebSocketRoute)]
        for route in routes:
            acknowledge(
                route,
                "AwsSolutions-APIG4",
                (
                    "P2PChat is anonymous by design: no accounts, a room is joined by its "
                    "name, so there is no identity to authorize. API Gateway accepts a "
                    "WebSocket authorizer on $connect only; every other route runs on a "
                    "connection $connect already admitted. $connect checks the browser's "
                    "Origin against the site's own URL (ALLOWED_ORIGINS), so other web "
                    "pages cannot use the API; a throttle on every route and the per-room "
                    "member cap bound what any client, browser or not, can do and cost "
                    "(docs/deploy.md, Throttling)."
                ),
            )

        # ---- the stage: auto-deploy, throttling, access logs ------------------------------
        # DefaultRouteSettings is a per-route default, not a stage total: every route without
        # its own entry gets a bucket of this size. Every route but $disconnect has one.
        access_logs = logs.LogGroup(self, "AccessLogs", retention=retention, removal_policy=removal)
        self.stage = apigwv2.WebSocketStage(
            self,
            "Stage",
            web_socket_api=self.api,
            stage_name=settings.stage,
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(
                rate_limit=settings.throttle_rate_limit,
                burst_limit=settings.throttle_burst_limit,
            ),
            access_log_settings=_AccessLogSettings(
                apigwv2.LogGroupLogDestination(access_logs),
                apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS, separators=(",", ":"))),
            ),
        )
        cfn_stage = self.stage.node.default_child
        cfn_stage.route_settings = {
            route: {"ThrottlingRateLimit": rate, "ThrottlingBurstLimit": burst}
            for route, (rate, burst) in route_throttles(settings).items()
        }
        # API Gateway refuses route settings for a route that does not exist yet.
        for route in routes:
            self.stage.node.add_dependency(route)
        if settings.api_gateway_cloudwatch_role:
            self.stage.node.add_dependency(ApiGatewayAccountLogging(self, "AccountLogging"))

        # execute-api:ManageConnections on arn:...:execute-api:<region>:<account>:<api>/<stage>
        # /*/@connections/* only (built by Stack.format_arn inside the grant).
        self.stage.grant_management_api_access(self.function)
        policy = self.function.role.node.try_find_child("DefaultPolicy")
        acknowledge(
            policy,
            (
                "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:"
                f"<AWS::AccountId>:<{stack.get_logical_id(self.api.node.default_child)}>/"
                f"{settings.stage}/*/@connections/*]"
            ),
            (
                "The Management API's resource is one connection id, known only at run time. "
                "The wildcard covers the connections of this API's own stage and nothing else; "
                "the action is only execute-api:ManageConnections."
            ),
        )

        self.url = self.stage.url
        # The same text headers.signaling_origin(url) gives once the tokens are resolved.
        self.origin = f"wss://{self.api.api_id}.execute-api.{stack.region}.{stack.url_suffix}"

    def allow_origins(self, origins: list[str]) -> None:
        """The site origins the handler accepts on $connect (ALLOWED_ORIGINS, comma-separated)."""
        self.function.add_environment(str(Var.ALLOWED_ORIGINS), ",".join(origins))


class ApiGatewayAccountLogging(Construct):
    """API Gateway's account-level CloudWatch Logs role (``AWS::ApiGateway::Account``).

    Stage access logging fails in an account and region where this was never set. It is one
    setting per account and region: the last stack to set it wins, and the role is kept when
    the stack is deleted, so no other API of the account is left pointing at a missing role.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        role = iam.Role(
            self,
            "Role",
            description="API Gateway pushes execution and access logs to CloudWatch Logs",
            assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(
                    "service-role/AmazonAPIGatewayPushToCloudWatchLogs"
                )
            ],
        )
        role.apply_removal_policy(RemovalPolicy.RETAIN)
        acknowledge(
            role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
            (
                "This is API Gateway's single account-wide logging role; it must write the logs "
                "of every API in the account and region, whose log groups this stack cannot "
                "name. AWS maintains the policy for exactly this purpose, and only "
                "apigateway.amazonaws.com can assume the role."
            ),
        )
        apigw.CfnAccount(self, "Account", cloud_watch_role_arn=role.role_arn)
