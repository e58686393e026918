"""The Lambda entry for every WebSocket route ($connect, $disconnect, $default, join, signal,
leave, ping): the function is built once per container, at init, from the environment that
the CDK stack sets (settings.py). Nothing else reads the environment."""

from __future__ import annotations

import os

from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from .function import build_handler
from .observability import DEFAULT_NAMESPACE, Metrics
from .settings import Settings, Var

lambda_handler = build_handler(
    Settings.from_env(os.environ),
    metrics=Metrics(
        namespace=os.environ.get(Var.POWERTOOLS_METRICS_NAMESPACE) or DEFAULT_NAMESPACE,
        enabled=not is_metrics_disabled(),
    ),
)
