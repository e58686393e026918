"""The Powertools logger and the function's metrics.

Log keys that belong to one request (connection id, peer id, room) are thread-local, and each
metric is emitted as its own EMF line (``single_metric``), so concurrent invocations in one
process (the local gateway, the race test) never mix or corrupt each other's state.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_lambda_powertools import Logger, single_metric
from aws_lambda_powertools.metrics import MetricUnit

SERVICE = "p2pchat"  # the `service` log key and metric dimension
DEFAULT_NAMESPACE = "P2PChat"  # the CloudWatch namespace

logger = Logger(service=SERVICE)

# Metric names (dimension `service`; errors also by `code`).
JOINS = "Joins"
RESUMES = "Resumes"
SIGNALS_RELAYED = "SignalsRelayed"
STALE_CONNECTIONS_REMOVED = "StaleConnectionsRemoved"
RATE_LIMITED = "RateLimited"  # messages over a connection's budget (refused or dropped)
ERRORS = "Errors"


@dataclass(frozen=True)
class Metrics:
    """Counters written at once as EMF log lines; ``enabled=False`` (the local stack) writes
    nothing."""

    namespace: str = DEFAULT_NAMESPACE
    enabled: bool = True

    def count(self, name: str, **dimensions: str) -> None:
        if not self.enabled:
            return
        with single_metric(
            name=name, unit=MetricUnit.Count, value=1, namespace=self.namespace
        ) as metric:
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
