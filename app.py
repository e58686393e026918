#!/usr/bin/env python3
"""CDK entry point: builds the P2PChat stack from CDK context and checks it with cdk-nag.

``npx cdk synth|deploy|destroy`` runs this (see cdk.json and docs/deploy.md).
"""

import sys

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from infra.config import SettingsError, StackSettings
from infra.stack import P2PChatStack

app = App()
try:
    settings = StackSettings.from_context(app.node.try_get_context)
except SettingsError as error:  # a wrong -c value: say which key and why, no traceback
    sys.exit(f"P2PChat: wrong CDK context (docs/deploy.md, Settings):\n{error}")
P2PChatStack(app, f"P2PChat-{settings.stage}", settings=settings)
# cdk-nag 3.x is a CDK policy-validation plugin: unacknowledged findings fail synthesis and are
# listed in cdk.out/policy-validation-report.json.
Validations.of(app).add_plugins(AwsSolutionsChecks(app))
app.synth()
