"""The fair-use budget of one connection: at most ``limit`` messages per window.

Pure: the count comes from the store (one atomic counter per connection and window, shared by
every Lambda container that serves the connection). The first message over the limit is told
`rate-limited`; the rest of that window are dropped without a reply, so a flood costs no posts.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Verdict(Enum):
    ADMIT = "admit"
    REFUSE = "refuse"  # the first message over the limit: answered `rate-limited`
    DROP = "drop"  # later ones in the same window: no answer


@dataclass(frozen=True)
class MessageBudget:
    limit: int
    window_seconds: int

    def window(self, now: float) -> int:
        """The number of the window `now` (epoch seconds) falls in."""
        return int(now // self.window_seconds)

    def window_end(self, window: int) -> int:
        return (window + 1) * self.window_seconds

    def verdict(self, count: int) -> Verdict:
        """For the `count`-th message of a window."""
        if count <= self.limit:
            return Verdict.ADMIT
        return Verdict.REFUSE if count == self.limit + 1 else Verdict.DROP
