"""Fixed-window rate limits per hotkey per route; the counters live in the shared database.

The pure part (window arithmetic, header values) is here; the atomic increment is the store's
(``admit_requests`` on the hot path, batched with the nonce insert; ``hit_rate_limit`` for one
request) so every replica counts into the same bucket.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

WINDOW_SECONDS = 60


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    count: int
    reset_seconds: int

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.count)

    def headers(self) -> dict[str, str]:
        """``X-RateLimit-*`` headers (plus ``Retry-After`` when refused)."""
        out = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_seconds),
        }
        if not self.allowed:
            out["Retry-After"] = str(self.reset_seconds)
        return out


def window_start(now: datetime, seconds: int = WINDOW_SECONDS) -> datetime:
    """Start of the fixed window containing ``now`` (UTC, aligned to the epoch of time)."""
    ts = now.timestamp()
    return datetime.fromtimestamp(ts - (ts % seconds), UTC)


def seconds_to_reset(now: datetime, start: datetime, seconds: int = WINDOW_SECONDS) -> int:
    """Whole seconds until the window that started at ``start`` ends (at least 1)."""
    left = (start + timedelta(seconds=seconds) - now).total_seconds()
    return max(1, math.ceil(left))
