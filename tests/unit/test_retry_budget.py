"""One bounded retry budget per request (service.RetryBudget), with growing jittered waits."""

from __future__ import annotations

import pytest

from p2pchat.errors import Internal
from p2pchat.service import RETRY_BUDGET, RetryBudget


def test_a_request_retries_a_bounded_number_of_times_then_answers_internal() -> None:
    waits: list[float] = []
    budget = RetryBudget(3, sleep=waits.append)
    for _ in range(3):
        budget.retry()
    with pytest.raises(Internal):
        budget.retry()
    assert len(waits) == 3
    assert all(0 <= w <= 0.05 for w in waits)


def test_the_default_budget_outlasts_a_full_room_of_concurrent_joins() -> None:
    assert RETRY_BUDGET > 8  # MAX_PEERS_LIMIT joins can each win once
