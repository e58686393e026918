"""The DynamoDB table, built from ``p2pchat.table_spec``: this file owns no names of its own."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from infra.config import StackSettings
from p2pchat import table_spec

_TYPES = {
    "S": dynamodb.AttributeType.STRING,
    "N": dynamodb.AttributeType.NUMBER,
    "B": dynamodb.AttributeType.BINARY,
}


def _keys(key_schema: list[dict[str, str]]) -> dict[str, dynamodb.Attribute]:
    """boto3-style KeySchema + AttributeDefinitions -> CDK partition_key/sort_key kwargs."""
    types = {a["AttributeName"]: a["AttributeType"] for a in table_spec.ATTRIBUTE_DEFINITIONS}
    kwargs = {}
    for key in key_schema:
        name = key["AttributeName"]
        attribute = dynamodb.Attribute(name=name, type=_TYPES[types[name]])
        kwargs["partition_key" if key["KeyType"] == "HASH" else "sort_key"] = attribute
    return kwargs


class SignalingTable(Construct):
    """On-demand table with TTL and point-in-time recovery; retained and protected in prod."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: StackSettings) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            **_keys(table_spec.KEY_SCHEMA),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute=table_spec.TTL_ATTRIBUTE,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True,
            ),
            # Encrypted at rest with an AWS-owned key: free, and the items are short-lived
            # signaling state (see docs/deploy.md).
            encryption=dynamodb.TableEncryption.DEFAULT,
            deletion_protection=settings.is_prod,
            removal_policy=RemovalPolicy.RETAIN if settings.is_prod else RemovalPolicy.DESTROY,
        )
