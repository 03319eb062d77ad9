"""Request admission: the replay-nonce insert and the rate-limit hit as one store operation.

Every authenticated API request needs two shared-database writes (DESIGN §4): remember its btauth
nonce (a replay is refused on every replica) and count it in its (hotkey, route, window) bucket.
``Store.admit_requests`` does both for many requests in ONE transaction; ``AdmissionBatcher``
groups the requests that arrive while the previous transaction is in flight ("group commit"), so
the per-request database cost is a share of one round trip instead of two transactions.

The pure part (``plan_admissions``: in-batch duplicate nonces, bucket aggregation, handing out
per-request counts) is here so each backend only runs two set-based statements.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

NonceKey = tuple[str, int]
BucketKey = tuple[str, str, datetime]


@dataclass(frozen=True)
class RateHit:
    """Count the request in the ``(hotkey, route, window_start)`` bucket against ``limit``."""

    route: str
    window_start: datetime
    limit: int


@dataclass(frozen=True)
class Admission:
    """One request to admit: its nonce (kept until ``expires_at``) and, optionally, a rate hit.

    ``rate`` is None for requests that must not be counted (e.g. an unregistered caller: DESIGN
    counts only after authentication and registration), but their nonce is still recorded.
    """

    hotkey: str
    nonce_ns: int
    expires_at: datetime
    rate: RateHit | None = None


@dataclass(frozen=True)
class AdmissionResult:
    """``fresh``: the nonce was new (False = replay; nothing was counted).

    ``count`` is the bucket's count including this request (0 when nothing was counted) and
    ``allowed`` is ``count <= limit`` (True when nothing was counted).
    """

    fresh: bool
    count: int = 0
    allowed: bool = True


@dataclass
class AdmissionPlan:
    """What a backend must write for a batch, and how to map the rows back to requests."""

    items: Sequence[Admission]
    candidates: list[NonceKey] = field(default_factory=list)  # sorted, unique
    first_index: dict[NonceKey, int] = field(default_factory=dict)


def plan_admissions(items: Sequence[Admission]) -> AdmissionPlan:
    """The unique nonces to insert (sorted: replicas take row locks in one order, no deadlock).

    A nonce repeated inside the batch is a replay of its first occurrence.
    """
    plan = AdmissionPlan(items)
    for i, item in enumerate(items):
        plan.first_index.setdefault((item.hotkey, int(item.nonce_ns)), i)
    plan.candidates = sorted(plan.first_index)
    return plan


def bucket_hits(plan: AdmissionPlan, fresh: set[NonceKey]) -> dict[BucketKey, int]:
    """Requests to count per bucket: fresh first occurrences that carry a rate hit."""
    hits: dict[BucketKey, int] = {}
    for key in fresh:
        item = plan.items[plan.first_index[key]]
        if item.rate is not None:
            bucket = (item.hotkey, item.rate.route, item.rate.window_start)
            hits[bucket] = hits.get(bucket, 0) + 1
    return hits


def hand_out(
    plan: AdmissionPlan, fresh: set[NonceKey], totals: dict[BucketKey, int]
) -> list[AdmissionResult]:
    """Per-request results in input order; ``totals`` are the buckets' counts after the batch.

    A bucket hit ``n`` times in this batch reached ``totals[b]``, so its requests (in input
    order) got counts ``totals[b] - n + 1 … totals[b]`` exactly as if counted one by one.
    """
    next_count = {b: totals[b] - n + 1 for b, n in bucket_hits(plan, fresh).items()}
    out: list[AdmissionResult] = []
    for i, item in enumerate(plan.items):
        key = (item.hotkey, int(item.nonce_ns))
        if plan.first_index[key] != i or key not in fresh:
            out.append(AdmissionResult(fresh=False))
        elif item.rate is None:
            out.append(AdmissionResult(fresh=True))
        else:
            bucket = (item.hotkey, item.rate.route, item.rate.window_start)
            count = next_count[bucket]
            next_count[bucket] = count + 1
            out.append(AdmissionResult(True, count, count <= item.rate.limit))
    return out


AdmitFn = Callable[[Sequence[Admission]], Awaitable[list[AdmissionResult]]]


class AdmissionBatcher:
    """Group concurrent admissions into one ``admit_requests`` call (one transaction).

    ``admit`` queues the request and awaits its own result. One flush runs at a time: requests
    arriving while it is in flight form the next batch, so batches grow with load and an idle
    server adds no delay beyond ``linger`` seconds. A failing flush raises the store's error in
    every request of that batch; a cancelled caller does not cancel the batch. asyncio only.
    """

    def __init__(self, admit: AdmitFn, *, max_batch: int = 512, linger: float = 0.0) -> None:
        self._admit = admit
        self._max_batch = max_batch
        self._linger = linger
        self._pending: list[tuple[Admission, asyncio.Future[AdmissionResult]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.batches = 0  # flushes done (for benchmarks and tests)

    async def admit(self, item: Admission) -> AdmissionResult:
        """Admit one request; returns its result or raises what the store raised."""
        future: asyncio.Future[AdmissionResult] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_all())
        return await future

    async def aclose(self) -> None:
        """Finish queued work (call before closing the store)."""
        if self._flusher is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher

    async def _flush_all(self) -> None:
        # Yield (or linger) once so requests already being processed join the first batch.
        await asyncio.sleep(self._linger)
        while self._pending:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            await self._flush(batch)

    async def _flush(self, batch: list[tuple[Admission, asyncio.Future[AdmissionResult]]]) -> None:
        self.batches += 1
        try:
            results = await self._admit([item for item, _ in batch])
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:  # delivered to every waiter below, not swallowed
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():  # the caller may have been cancelled meanwhile
                future.set_result(result)
