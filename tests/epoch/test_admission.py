"""``Store.admit_requests`` and ``AdmissionBatcher``: one transaction per batch, same guarantees.

Every test runs on SQLite and PostgreSQL. Two store instances on one database stand in for two
API replicas.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from resi.epoch.store import Store, open_store
from resi.epoch.store.admission import (
    Admission,
    AdmissionBatcher,
    AdmissionResult,
    RateHit,
    plan_admissions,
)
from resi.errors import StoreError

pytestmark = pytest.mark.anyio
T0 = datetime(2025, 1, 1, tzinfo=UTC)
EXPIRES = T0 + timedelta(minutes=2)
NONCE = 1_700_000_000_000_000_000


def adm(hotkey: str, nonce: int, route: str | None = "current", limit: int = 100) -> Admission:
    rate = None if route is None else RateHit(route, T0, limit)
    return Admission(hotkey, NONCE + nonce, EXPIRES, rate)


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    s = await open_store(db_url)
    try:
        yield s
    finally:
        await s.close()


async def test_replayed_nonce_in_a_later_batch_is_refused_and_not_counted(store: Store) -> None:
    first = await store.admit_requests([adm("hk", 1), adm("hk", 2)])
    assert first == [AdmissionResult(True, 1, True), AdmissionResult(True, 2, True)]
    again = await store.admit_requests([adm("hk", 2), adm("hk", 3)])
    assert again == [AdmissionResult(fresh=False), AdmissionResult(True, 3, True)]
    # The single-request API sees the same nonce table and the same bucket.
    assert not await store.check_and_store_nonce("hk", NONCE + 3, EXPIRES)
    assert await store.hit_rate_limit("hk", "current", T0, 100) == (True, 4)


async def test_replay_inside_one_batch_is_refused(store: Store) -> None:
    out = await store.admit_requests([adm("hk", 7), adm("other", 7), adm("hk", 7)])
    assert [r.fresh for r in out] == [True, True, False]
    assert [r.count for r in out] == [1, 1, 0]


async def test_uncounted_admission_stores_nonce_but_not_a_hit(store: Store) -> None:
    out = await store.admit_requests([adm("hk", 1, route=None), adm("hk", 2)])
    assert out == [AdmissionResult(fresh=True), AdmissionResult(True, 1, True)]
    assert (await store.admit_requests([adm("hk", 1)]))[0].fresh is False


async def test_batch_counts_in_input_order_and_refuses_past_the_limit(store: Store) -> None:
    assert await store.hit_rate_limit("hk", "current", T0, 3) == (True, 1)
    out = await store.admit_requests([adm("hk", i, limit=3) for i in range(4)])
    assert [(r.count, r.allowed) for r in out] == [(2, True), (3, True), (4, False), (5, False)]


async def test_buckets_are_per_hotkey_route_and_window(store: Store) -> None:
    later = Admission("hk", NONCE + 9, EXPIRES, RateHit("current", T0 + timedelta(minutes=1), 9))
    out = await store.admit_requests(
        [adm("hk", 1), adm("hk", 2, route="status"), adm("hk2", 3), later, adm("hk", 4)]
    )
    assert [r.count for r in out] == [1, 1, 1, 1, 2]


async def test_replay_across_replicas_is_admitted_exactly_once(db_url: str) -> None:
    """The same nonces raced through two store instances: each is fresh exactly once."""
    replicas = [await open_store(db_url), await open_store(db_url)]
    try:
        batches = [[adm(f"hk{i % 5}", i) for i in range(40)] for _ in range(4)]
        results = await asyncio.gather(
            *(replicas[j % 2].admit_requests(b) for j, b in enumerate(batches))
        )
    finally:
        for s in replicas:
            await s.close()
    fresh = [r for batch in results for r in batch if r.fresh]
    assert len(fresh) == 40
    per_hotkey = sorted(r.count for r in fresh)
    assert per_hotkey == sorted(list(range(1, 9)) * 5)  # 8 requests per hotkey, counted 1..8


async def test_rate_counts_are_atomic_across_replicas(db_url: str) -> None:
    replicas = [await open_store(db_url), await open_store(db_url)]
    try:
        batches = [[adm("hk", j * 10 + i, limit=25) for i in range(10)] for j in range(6)]
        results = await asyncio.gather(
            *(replicas[j % 2].admit_requests(b) for j, b in enumerate(batches))
        )
    finally:
        for s in replicas:
            await s.close()
    flat = [r for batch in results for r in batch]
    assert sorted(r.count for r in flat) == list(range(1, 61))
    assert sum(r.allowed for r in flat) == 25


async def test_batcher_groups_concurrent_requests_into_few_transactions(store: Store) -> None:
    batcher = AdmissionBatcher(store.admit_requests)
    out = await asyncio.gather(*(batcher.admit(adm("hk", i % 50)) for i in range(100)))
    assert batcher.batches < 10
    assert sum(r.fresh for r in out) == 50  # the second half replays the first
    assert sorted(r.count for r in out if r.fresh) == list(range(1, 51))


async def test_batcher_delivers_store_failure_to_every_waiter(db_url: str) -> None:
    s = await open_store(db_url)
    await s.close()
    batcher = AdmissionBatcher(s.admit_requests)
    out = await asyncio.gather(*(batcher.admit(adm("hk", i)) for i in range(3)),
                               return_exceptions=True)  # fmt: skip
    assert all(isinstance(r, StoreError) for r in out)


async def test_cancelled_caller_does_not_cancel_its_batch(store: Store) -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    async def slow(items: Sequence[Admission]) -> list[AdmissionResult]:
        started.set()
        await release.wait()
        return await store.admit_requests(items)

    batcher = AdmissionBatcher(slow)
    victim = asyncio.create_task(batcher.admit(adm("hk", 1)))
    other = asyncio.create_task(batcher.admit(adm("hk", 2)))
    await started.wait()
    victim.cancel()
    release.set()
    assert (await other).fresh
    await batcher.aclose()
    # The cancelled request's nonce was still recorded: a retry with it is a replay.
    assert (await store.admit_requests([adm("hk", 1)]))[0].fresh is False


def test_plan_sorts_unique_nonces_for_a_stable_lock_order() -> None:
    plan = plan_admissions([adm("b", 2), adm("a", 5), adm("b", 2), adm("a", 1)])
    assert plan.candidates == [("a", NONCE + 1), ("a", NONCE + 5), ("b", NONCE + 2)]
    assert plan.first_index[("b", NONCE + 2)] == 0
