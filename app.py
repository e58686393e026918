#!/usr/bin/env python3
"""CDK entry point: builds the P2PChat stack from CDK context and checks it with cdk-nag.

``npx cdk synth|deploy|destroy`` runs this (see cdk.json and docs/deploy.md).
"""

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from infra.config import Settings
from infra.stack import P2PChatStack

app = App()
settings = Settings.from_context(app.node.try_get_context)
P2PChatStack(app, f"P2PChat-{settings.stage}", settings=settings)
# cdk-nag 3.x is a CDK policy-validation plugin: unacknowledged findings fail synthesis and are
# listed in cdk.out/policy-validation-report.json.
Validations.of(app).add_plugins(AwsSolutionsChecks(app))
app.synth()
