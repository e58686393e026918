"""cdk-nag acknowledgments: one exact finding id and a written reason, on the construct concerned.

cdk-nag 3 reads CDK's own acknowledgment metadata (``Validations.of(scope).acknowledge``), which
applies to ``scope`` and everything below it. Ids are exact: ``AwsSolutions-IAM5[Resource::...]``
acknowledges that one finding and no other wildcard. docs/deploy.md lists them all.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct


def acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding on ``scope`` (and its children) with a reason."""
    if len(reason) < 40:
        raise ValueError(f"{rule_id}: write a reason a security reviewer would accept")
    Validations.of(scope).acknowledge(Acknowledgment(id=rule_id, reason=reason))
