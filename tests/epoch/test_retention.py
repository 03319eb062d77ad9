"""Retention: ARCHIVED epochs past the window are pruned with their rows; nothing else is."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from resi.api.background import prune_once
from resi.api.state import ApiState
from resi.config import ApiServerSettings, EpochSettings
from resi.epoch.manager import EpochManager
from resi.epoch.models import Commit, EpochState
from resi.epoch.store import Store, open_store
from tests.epoch.conftest import small_catalog

pytestmark = pytest.mark.anyio
T0 = datetime(2025, 1, 1, tzinfo=UTC)
SETTINGS = EpochSettings(
    epoch_seconds=20, target_listings=600, min_zip_listings=50, max_zip_listings=400,
    cooldown_hours=0.01,
)  # fmt: skip


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    s = await open_store(db_url)
    try:
        yield s
    finally:
        await s.close()


async def _epochs(store: Store, n: int) -> dict[str, EpochState]:
    """Run the manager over ``n`` epochs (archive after 2) and give every epoch some rows."""
    manager = EpochManager(store, SETTINGS, "secret", small_catalog(), archive_after_epochs=2)
    for i in range(n):
        await manager.ensure(T0 + timedelta(seconds=20 * i + 1))
    epochs = {e.epoch_id: e.state for e in await store.list_epochs(limit=100)}
    for eid in epochs:
        zipcode = (await store.get_assignments(eid))[0].zipcode
        await store.upsert_commits([Commit(eid, "hk", zipcode, f"k/{eid}", "a" * 64, 1, 9, T0)])
        await store.record_miner_status(eid, "hk", "DONE", None, T0)
        await store.record_validator_result(eid, "v", "h" * 64, "r", T0)
        await store.record_validated_counts(eid, {zipcode: 5})
    return epochs


async def _rows(store: Store, eid: str) -> tuple[int, ...]:
    return (
        len(await store.get_assignments(eid)),
        len(await store.list_commits(eid)),
        len(await store.miner_statuses(eid)),
        len(await store.validator_results(eid)),
    )


async def test_prune_removes_only_old_archived_epochs(store: Store) -> None:
    epochs = await _epochs(store, 8)
    archived = sorted(e for e, s in epochs.items() if s is EpochState.ARCHIVED)
    others = sorted(e for e, s in epochs.items() if s is not EpochState.ARCHIVED)
    assert len(archived) >= 3 and others
    history_before = await store.validated_history()
    # a cutoff between the archived epochs: only the older ones go
    cut_epoch = await store.get_epoch(archived[2])
    assert cut_epoch is not None
    pruned = await store.prune_archived(cut_epoch.end)
    assert pruned == archived[:2]
    for eid in archived[:2]:
        assert await store.get_epoch(eid) is None
        assert await _rows(store, eid) == (0, 0, 0, 0)
    for eid in archived[2:] + others:
        assert await store.get_epoch(eid) is not None
        assert all(n > 0 for n in await _rows(store, eid))
    # the calibration history stays whole
    assert await store.validated_history() == history_before
    # the cheapest attack on retention: a cutoff far in the future prunes no live epoch
    pruned = await store.prune_archived(T0 + timedelta(days=3650))
    assert pruned == archived[2:]
    assert {e.epoch_id for e in await store.list_epochs(limit=100)} == set(others)
    assert await store.prune_archived(T0 + timedelta(days=3650)) == []


async def test_prune_once_follows_the_setting_and_the_cooldown(store: Store) -> None:
    epochs = await _epochs(store, 8)
    archived = sorted(e for e, s in epochs.items() if s is EpochState.ARCHIVED)
    now = T0 + timedelta(seconds=20 * 8)

    def state(**settings: object) -> ApiState:
        return ApiState(
            settings=ApiServerSettings(
                network="devnet", epoch_seconds=20, cooldown_hours=0.02, **settings
            ),
            store=store,
            chain=None,  # type: ignore[arg-type]
            s3=None,
            now=lambda: now,
            self_hotkey="",
            secret="x",
        )

    assert await prune_once(state()) == []  # unset: keep everything
    assert len(await store.list_epochs(limit=100)) == len(epochs)
    # retention 1 epoch (20 s) but a cooldown of 72 s: what ended within 72 s of now stays
    ends = {eid: (await store.get_epoch(eid)).end for eid in archived}  # type: ignore[union-attr]
    expected = [eid for eid in archived if ends[eid] < now - timedelta(seconds=72)]
    assert expected and expected != archived  # both sides of the cutoff are present
    assert await prune_once(state(archived_retention_epochs=1)) == expected
    left = {e.epoch_id for e in await store.list_epochs(limit=100)}
    assert left == set(epochs) - set(expected)
