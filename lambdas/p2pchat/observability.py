"""The Powertools logger and metrics shared by the modules of the function.

Log keys that belong to one request (connection id, peer id, room) are thread-local, and each
metric is emitted as its own EMF line (``single_metric``), so concurrent invocations in one
process (the local gateway, the race test) never mix or corrupt each other's state.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, single_metric
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

SERVICE = "p2pchat"
DEFAULT_NAMESPACE = "P2PChat"

logger = Logger(service=os.getenv("POWERTOOLS_SERVICE_NAME") or SERVICE)

# Metric names (CloudWatch namespace P2PChat, dimension `service`; errors also by `code`).
JOINS = "Joins"
RESUMES = "Resumes"
SIGNALS_RELAYED = "SignalsRelayed"
STALE_CONNECTIONS_REMOVED = "StaleConnectionsRemoved"
ERRORS = "Errors"


def count(name: str, **dimensions: str) -> None:
    """Add 1 to a metric, written at once as an EMF log line (unless metrics are disabled
    with POWERTOOLS_METRICS_DISABLED, as the local stack does)."""
    if is_metrics_disabled():
        return
    namespace = os.getenv("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_NAMESPACE
    with single_metric(name=name, unit=MetricUnit.Count, value=1, namespace=namespace) as metric:
        metric.add_dimension(name="service", value=SERVICE)
        for key, value in dimensions.items():
            metric.add_dimension(name=key, value=value)


def bind(**keys: str) -> None:
    """Add keys to every log line of the current request."""
    logger.thread_safe_append_keys(**keys)


def start_request(**keys: str) -> None:
    """Forget the previous request's keys (a thread may serve many requests)."""
    logger.thread_safe_clear_keys()
    logger.thread_safe_append_keys(**keys)
