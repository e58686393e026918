"""TURN for the calls no direct path connects: one choice per stack, CDK context ``turn``.

- ``none``: nothing here; the function offers the STUN servers of ``iceServers`` only.
- ``kvs``: one Amazon Kinesis Video Streams signaling channel (SINGLE_MASTER), used only for
  its managed TURN service. The function may ``kinesisvideo:GetSignalingChannelEndpoint`` and
  ``kinesisvideo:GetIceServerConfig`` on this channel and nothing else (both are Read actions
  on the ``channel`` resource type, which each requires), never ConnectAsMaster/Viewer.
- ``secret``: your own TURN server (coturn or any TURN REST-compatible one) at ``turnUrls``,
  sharing a secret kept in Secrets Manager. The function may ``secretsmanager:GetSecretValue``
  on that one secret; it needs no DescribeSecret, which ``ISecret.grant_read`` would add too.
  Only the ARN enters the template and the function's environment, never the value.

``environment`` holds the choice's ``SET_BY_STACK_FOR_TURN`` variables (none for ``none``);
``grant`` gives a function exactly the access the choice needs. docs/network.md has the
design and threat notes, docs/deploy.md the setup and costs.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisvideo as kinesisvideo
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.config import StackSettings
from p2pchat.settings import Var

# What p2pchat/turn.py calls, as IAM actions (the signaling data plane's GetIceServerConfig is
# authorized as kinesisvideo:GetIceServerConfig; Service Authorization Reference, "Actions,
# resources, and condition keys for Amazon Kinesis Video Streams").
KVS_ACTIONS = ("kinesisvideo:GetIceServerConfig", "kinesisvideo:GetSignalingChannelEndpoint")
SECRET_ACTIONS = ("secretsmanager:GetSecretValue",)
CHANNEL_TYPE = "SINGLE_MASTER"


class Turn(Construct):
    """The TURN choice of ``settings``: its resources, the function's variables and its grant."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: StackSettings) -> None:
        super().__init__(scope, construct_id)
        self.choice = settings.turn
        self.channel: kinesisvideo.CfnSignalingChannel | None = None
        self.secret: secretsmanager.ISecret | None = None
        self.environment: dict[str, str] = {}
        self._access: tuple[tuple[str, ...], str] | None = None  # (actions, resource ARN)

        if settings.turn == "kvs":
            # No name: CloudFormation makes a unique one, so two stages never collide.
            self.channel = kinesisvideo.CfnSignalingChannel(self, "Channel", type=CHANNEL_TYPE)
            self.channel.apply_removal_policy(
                RemovalPolicy.RETAIN if settings.is_prod else RemovalPolicy.DESTROY
            )
            self.environment = {
                str(Var.TURN): "kvs",
                str(Var.KVS_CHANNEL_ARN): self.channel.attr_arn,
            }
            self._access = (KVS_ACTIONS, self.channel.attr_arn)
        elif settings.turn == "secret":
            arn = settings.turn_secret_arn or ""  # the settings refuse secret without it
            self.secret = secretsmanager.Secret.from_secret_complete_arn(self, "Secret", arn)
            self.environment = {
                str(Var.TURN): "secret",
                str(Var.TURN_URLS): settings.turn_urls_json,
                str(Var.TURN_SECRET_ARN): self.secret.secret_arn,
                str(Var.TURN_CREDENTIAL_SECONDS): str(settings.turn_credential_seconds),
            }
            self._access = (SECRET_ACTIONS, self.secret.secret_arn)

    def grant(self, grantee: iam.IGrantable) -> None:
        """Let ``grantee`` (the signaling function) fetch TURN credentials, and nothing more."""
        if self._access is not None:
            actions, resource = self._access
            iam.Grant.add_to_principal(
                grantee=grantee, actions=list(actions), resource_arns=[resource]
            )
