"""The P2PChat stack: wires the table, TURN, signaling and site constructs; declares the outputs."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack, Tags
from constructs import Construct

from infra.config import StackSettings
from infra.constructs.signaling import Signaling
from infra.constructs.site import Site
from infra.constructs.table import SignalingTable
from infra.constructs.turn import Turn


class P2PChatStack(Stack):
    """Everything P2PChat needs in one account and region; ``settings`` come from CDK context."""

    def __init__(
        self, scope: Construct, construct_id: str, *, settings: StackSettings, **kwargs: Any
    ) -> None:
        kwargs.setdefault("termination_protection", settings.is_prod)
        kwargs.setdefault("description", f"P2PChat {settings.stage}: WebSocket signaling and site")
        super().__init__(scope, construct_id, **kwargs)
        Tags.of(self).add("project", "p2pchat")
        Tags.of(self).add("stage", settings.stage)

        table = SignalingTable(self, "Table", settings=settings)
        turn = Turn(self, "Turn", settings=settings)
        signaling = Signaling(self, "Signaling", settings=settings, table=table.table, turn=turn)
        site = Site(
            self,
            "Site",
            settings=settings,
            signaling_url=signaling.url,
            signaling_origin=signaling.origin,
        )
        # The handler accepts WebSocket handshakes from the site only.
        signaling.allow_origins(site.origins)

        self.table = table
        self.turn = turn
        self.signaling = signaling
        self.site = site

        CfnOutput(self, "SiteUrl", value=site.url, description="Open this in a browser")
        CfnOutput(
            self,
            "SignalingUrl",
            value=signaling.url,
            description="WebSocket endpoint (also in the site's config.json)",
        )
        CfnOutput(
            self,
            "DistributionDomainName",
            value=site.distribution.distribution_domain_name,
            description="Point a custom domain's CNAME/alias record here",
        )
        if turn.channel is not None:
            CfnOutput(
                self,
                "TurnChannelArn",
                value=turn.channel.attr_arn,
                description="Kinesis Video Streams signaling channel whose TURN the calls use",
            )
        if turn.secret is not None:
            CfnOutput(
                self,
                "FunctionRoleArn",
                value=signaling.function.role.role_arn,
                description=(
                    "Reads the TURN secret: allow it kms:Decrypt in the key policy if the "
                    "secret uses a customer-managed KMS key"
                ),
            )
