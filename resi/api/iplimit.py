"""A cheap per-address budget of failed authentications, checked before any signature work.

Verifying a btauth signature costs CPU, and a stranger's request costs nothing to send. Each
address gets a token bucket of ``burst`` failures refilled at ``per_minute``; a request that fails
authentication or comes from an unregistered key spends one token, and an address with no
tokens left is refused (429) before its body is read or its signature verified. Successful
requests spend nothing, so a busy registered neuron is never limited by its own traffic, and the
buckets are per address: a flood from one address never locks out a hotkey calling from
another. State is per process and in memory (bounded): it protects CPU, not correctness.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

MonotonicFn = Callable[[], float]


@dataclass
class _Bucket:
    tokens: float
    updated: float


class IpFailureLimiter:
    """Token buckets of failures per client address (least recently used evicted past ``size``)."""

    def __init__(
        self,
        burst: int,
        per_minute: float,
        *,
        size: int = 100_000,
        clock: MonotonicFn = time.monotonic,
    ) -> None:
        self.burst = burst
        self.rate = per_minute / 60.0
        self._size = size
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def _refilled(self, address: str) -> _Bucket | None:
        bucket = self._buckets.get(address)
        if bucket is None:
            return None
        now = self._clock()
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= self.burst:
            del self._buckets[address]  # full again: forget it, memory stays small
            return None
        return bucket

    def retry_after(self, address: str) -> int:
        """0 if ``address`` may try now, else whole seconds until it regains one token."""
        bucket = self._refilled(address)
        if bucket is None or bucket.tokens >= 1:
            return 0
        if self.rate <= 0:
            return 3600
        return max(1, math.ceil((1 - bucket.tokens) / self.rate))

    def charge(self, address: str) -> None:
        """Spend one token of ``address`` for a failed authentication."""
        bucket = self._refilled(address)
        if bucket is None:
            bucket = _Bucket(float(self.burst), self._clock())
            self._buckets[address] = bucket
            if len(self._buckets) > self._size:
                self._buckets.popitem(last=False)
        self._buckets.move_to_end(address)
        bucket.tokens = max(0.0, bucket.tokens - 1)


def client_address(request: web.Request, trust_forwarded_for: bool) -> str:
    """The caller's address: the peer, or the last ``X-Forwarded-For`` hop behind a trusted proxy.

    The last hop is the one the proxy itself appended; earlier ones are client-controlled.
    """
    if trust_forwarded_for:
        forwarded = request.headers.get("X-Forwarded-For", "")
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        if hops:
            return hops[-1]
    return request.remote or "unknown"
