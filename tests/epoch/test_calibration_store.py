"""Calibration tables on both backends: reports replace per validator, an epoch folds exactly
once even when replicas race, honeypot beliefs round-trip, and a later positive consensus ends
an imported belief (issue 14)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import anyio
import pytest

from resi.config import EpochSettings
from resi.epoch.manager import EpochManager
from resi.epoch.store import Store, open_store

pytestmark = pytest.mark.anyio
T0 = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    s = await open_store(db_url)
    try:
        yield s
    finally:
        await s.close()


async def test_reports_replace_per_validator(store: Store) -> None:
    await store.record_zipcode_reports("e1", "v1", 5.0, [("10001", 3, False)], T0)
    await store.record_zipcode_reports("e1", "v2", 7.5, [("10001", 4, True)], T0)
    await store.record_zipcode_reports("e1", "v1", 5.0, [("60614", 9, False)], T0)
    got = [(r.validator, r.zipcode, r.count, r.contradicted, r.stake)
           for r in await store.zipcode_reports("e1")]  # fmt: skip
    assert got == [("v2", "10001", 4, True, 7.5), ("v1", "60614", 9, False, 5.0)]
    assert await store.zipcode_reports("other") == []


async def test_racing_folds_record_the_epoch_once(db_url: str) -> None:
    stores = [await open_store(db_url) for _ in range(4)]
    won: list[bool] = []
    try:

        async def fold(s: Store, n: int) -> None:
            won.append(await s.fold_calibration("e1", {"10001": n}, T0))

        async with anyio.create_task_group() as tg:
            for i, s in enumerate(stores):
                tg.start_soon(fold, s, 100 + i)
        assert sorted(won) == [False, False, False, True]
        history = await stores[0].validated_history()
        assert len(history["10001"]) == 1 and 100 <= history["10001"][0] <= 103
        assert await stores[0].folded_epochs() == {"e1"}
    finally:
        for s in stores:
            await s.close()


async def test_imported_beliefs_end_when_listings_are_found(store: Store) -> None:
    assert await store.record_empty_beliefs({"10001", "60614"}, "realtor:x.csv", T0) == 2
    assert await store.record_empty_beliefs(set(), "none", T0) == 0
    assert await store.empty_beliefs() == {"10001", "60614"}
    await store.fold_calibration("e1", {"10001": 0, "60614": 12}, T0)
    manager = EpochManager(store, EpochSettings(), "s", [])
    beliefs = await store.empty_beliefs()
    assert manager.believed_empty(await store.validated_history(), beliefs) == {"10001"}
