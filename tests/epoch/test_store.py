"""Store round trips and idempotency on both backends (SQLite and PostgreSQL via ``db_url``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import anyio
import pytest

from resi.config import EpochSettings
from resi.epoch.manager import EpochManager
from resi.epoch.models import Commit, EpochState
from resi.epoch.store import Store, open_store
from resi.epoch.store.migrations import LATEST
from resi.epoch.store.sql import SqlStore
from resi.errors import SchemaVersionError, StoreError
from tests.epoch.conftest import small_catalog

pytestmark = pytest.mark.anyio
T0 = datetime(2025, 1, 1, tzinfo=UTC)
SETTINGS = EpochSettings(
    epoch_seconds=20, target_listings=600, min_zip_listings=50, max_zip_listings=400,
    cooldown_hours=0.01, honeypot_max_reuse=4.0,
)  # fmt: skip


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    s = await open_store(db_url)
    try:
        yield s
    finally:
        await s.close()


async def test_catalog_round_trip_replaces_atomically(store: Store) -> None:
    rows = small_catalog()
    assert await store.replace_catalog(rows) == len(rows)
    assert await store.load_catalog() == sorted(rows, key=lambda z: z.zipcode)
    assert await store.replace_catalog(rows[:3]) == 3
    assert await store.load_catalog() == rows[:3]


async def test_epoch_insert_is_idempotent_and_round_trips(store: Store) -> None:
    manager = EpochManager(store, SETTINGS, "secret", small_catalog())
    beliefs = {z.zipcode for z in small_catalog()[:20]}
    epoch, assignments = manager.build("2025-01-01T00-00-00", EpochState.PENDING,
                                       cooldown=set(), history={}, beliefs=beliefs)  # fmt: skip
    assert await store.insert_epoch(epoch, assignments)
    assert not await store.insert_epoch(epoch, assignments[:1])  # second writer loses
    assert await store.get_epoch(epoch.epoch_id) == epoch
    assert await store.get_assignments(epoch.epoch_id) == assignments
    assert any(a.honeypot for a in assignments)
    assert await store.get_epoch("2030-01-01T00-00-00") is None
    used = await store.zipcodes_used_since(T0 - timedelta(hours=1), T0 + timedelta(seconds=1))
    assert used == {a.zipcode for a in assignments}
    assert await store.zipcodes_used_since(T0 + timedelta(seconds=1)) == set()


async def test_states_only_move_forward(store: Store) -> None:
    manager = EpochManager(store, SETTINGS, "secret", small_catalog())
    status = await manager.ensure(T0 + timedelta(seconds=5))
    assert status.current.state is EpochState.ACTIVE
    assert status.next.state is EpochState.PENDING
    eid = status.current.epoch_id
    assert await store.set_epoch_state(eid, EpochState.COMPLETED)
    assert not await store.set_epoch_state(eid, EpochState.ACTIVE)
    assert (await store.get_epoch(eid)).state is EpochState.COMPLETED  # type: ignore[union-attr]
    listed = await store.list_epochs(states=[EpochState.PENDING])
    assert [e.epoch_id for e in listed] == [status.next.epoch_id]
    with pytest.raises(StoreError):
        await store.set_epoch_state("2031-01-01T00-00-00", EpochState.ACTIVE)


async def test_manager_runs_transitions_and_cooldown(store: Store) -> None:
    manager = EpochManager(store, SETTINGS, "secret", small_catalog(), archive_after_epochs=2)
    for i in range(6):
        await manager.ensure(T0 + timedelta(seconds=20 * i + 1))
    epochs = {e.epoch_id: e.state for e in await store.list_epochs(limit=50)}
    assert epochs["2025-01-01T00-00-00"] is EpochState.ARCHIVED
    assert epochs["2025-01-01T00-01-20"] is EpochState.COMPLETED
    assert epochs["2025-01-01T00-01-40"] is EpochState.ACTIVE
    assert epochs["2025-01-01T00-02-00"] is EpochState.PENDING
    # cooldown of 36 s: consecutive epochs never share a zipcode
    a = {x.zipcode for x in await store.get_assignments("2025-01-01T00-01-20")}
    b = {x.zipcode for x in await store.get_assignments("2025-01-01T00-01-40")}
    assert a and b and not a & b


def _commit(key: str, sha: str, at: datetime) -> Commit:
    return Commit("2025-01-01T00-00-00", "hk", "10001", key, sha, 10, 100, at)


async def test_identical_recommit_keeps_original_time(store: Store) -> None:
    first = await store.upsert_commits([_commit("k1", "a" * 64, T0)])
    retry = await store.upsert_commits([_commit("k1", "a" * 64, T0 + timedelta(seconds=9))])
    assert retry == first
    assert retry[0].received_at == T0


async def test_changed_recommit_replaces_and_retimes(store: Store) -> None:
    await store.upsert_commits([_commit("k1", "a" * 64, T0)])
    later = T0 + timedelta(seconds=9)
    stored = await store.upsert_commits([_commit("k2", "b" * 64, later)])
    assert stored[0].received_at == later and stored[0].key == "k2"
    assert await store.list_commits("2025-01-01T00-00-00") == stored


async def test_commits_listed_by_receive_time_then_hotkey(store: Store) -> None:
    rows = [
        Commit("e", "hk-b", "10001", "k", "s", 1, 1, T0),
        Commit("e", "hk-a", "10001", "k", "s", 1, 1, T0),
        Commit("e", "hk-0", "10001", "k", "s", 1, 1, T0 + timedelta(microseconds=1)),
    ]
    await store.upsert_commits(rows)
    assert [c.hotkey for c in await store.list_commits("e")] == ["hk-a", "hk-b", "hk-0"]


async def test_nonce_replay_is_refused(store: Store) -> None:
    expiry = T0 + timedelta(seconds=10)
    assert await store.check_and_store_nonce("hk", 1_700_000_000_000_000_001, expiry)
    assert not await store.check_and_store_nonce("hk", 1_700_000_000_000_000_001, expiry)
    assert await store.check_and_store_nonce("other", 1_700_000_000_000_000_001, expiry)
    assert await store.purge_expired(expiry + timedelta(seconds=1)) == 2
    assert await store.check_and_store_nonce("hk", 1_700_000_000_000_000_001, expiry)


async def test_rate_limit_is_atomic_under_concurrency(db_url: str) -> None:
    """Two store instances (like two API replicas) hammer one bucket concurrently."""
    stores = [await open_store(db_url), await open_store(db_url)]
    counts: list[int] = []
    allowed: list[bool] = []

    async def hit(s: Store) -> None:
        ok, n = await s.hit_rate_limit("hk", "/route", T0, 25)
        counts.append(n)
        allowed.append(ok)

    try:
        async with anyio.create_task_group() as tg:
            for i in range(60):
                tg.start_soon(hit, stores[i % 2])
    finally:
        for s in stores:
            await s.close()
    assert sorted(counts) == list(range(1, 61))
    assert allowed.count(True) == 25


async def test_miner_status_and_validator_results_replace(store: Store) -> None:
    await store.record_miner_status("e", "hk", "SCRAPING", None, T0)
    await store.record_miner_status("e", "hk", "DONE", "3 zipcodes", T0 + timedelta(seconds=1))
    [row] = await store.miner_statuses("e")
    assert (row.status, row.detail, row.at) == ("DONE", "3 zipcodes", T0 + timedelta(seconds=1))
    await store.record_validator_result("e", "v1", "h1", "k1", T0)
    await store.record_validator_result("e", "v1", "h2", "k2", T0)
    [res] = await store.validator_results("e")
    assert (res.consensus_hash, res.report_key) == ("h2", "k2")


async def test_validated_history_oldest_first(store: Store) -> None:
    await store.record_validated_counts("2025-01-01T04-00-00", {"10001": 7, "10002": 0})
    await store.record_validated_counts("2025-01-01T00-00-00", {"10001": 3})
    assert await store.validated_history() == {"10001": [3, 7], "10002": [0]}


async def test_newer_schema_is_refused(db_url: str) -> None:
    s = await open_store(db_url)
    assert isinstance(s, SqlStore) and await s.schema_version() == LATEST
    async with s._driver.transaction() as c:
        await c.execute("INSERT INTO schema_version (version) VALUES (?)", LATEST + 1)
    await s.close()
    with pytest.raises(SchemaVersionError):
        await open_store(db_url)


async def test_reopen_does_not_reapply_migrations(db_url: str) -> None:
    for _ in range(2):
        s = await open_store(db_url)
        await s.ping()
        await s.close()


async def test_unreachable_database_is_a_store_error() -> None:
    with pytest.raises(StoreError):
        await open_store("postgresql://postgres@127.0.0.1:1/nothing")
    with pytest.raises(StoreError):
        await open_store("mysql://x")
