"""Replica race: several OS processes create the same epoch on one database at once.

Exactly one must insert; the row and its assignments must equal the deterministic content.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime

import anyio
import pytest

from resi.epoch.manager import EpochManager
from resi.epoch.models import EpochState
from resi.epoch.store import open_store
from tests.epoch.conftest import small_catalog
from tests.epoch.test_store import SETTINGS

pytestmark = pytest.mark.anyio
EPOCH = "2025-01-01T00-00-00"
WORKER = textwrap.dedent(
    """
    import sys, anyio
    from datetime import datetime, UTC
    from resi.epoch.manager import EpochManager
    from resi.epoch.store import open_store
    from tests.epoch.test_store import SETTINGS

    async def main(url: str) -> None:
        store = await open_store(url)
        try:
            manager = EpochManager(store, SETTINGS, "race-secret", await store.load_catalog())
            now = datetime(2024, 12, 31, 23, 59, 50, tzinfo=UTC)
            print(await manager.create(sys.argv[2], now))
        finally:
            await store.close()

    anyio.run(main, sys.argv[1])
    """
)


async def test_racing_processes_create_one_identical_epoch(db_url: str) -> None:
    store = await open_store(db_url)
    await store.replace_catalog(small_catalog())
    results: list[subprocess.CompletedProcess[bytes]] = []

    async def worker() -> None:
        results.append(await anyio.run_process([sys.executable, "-c", WORKER, db_url, EPOCH]))

    # Real OS processes, started together so their inserts race on the same database.
    async with anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(worker)
    try:
        outputs = sorted(r.stdout.decode().strip() for r in results)
        assert outputs == ["False", "False", "False", "True"]
        expected = EpochManager(store, SETTINGS, "race-secret", small_catalog()).build(
            EPOCH, EpochState.PENDING, cooldown=set(), history={}
        )
        assert await store.get_epoch(EPOCH) == expected[0]
        assert await store.get_assignments(EPOCH) == expected[1]
        assert [e.epoch_id for e in await store.list_epochs()] == [EPOCH]
    finally:
        await store.close()


def test_content_is_pure_function_of_inputs() -> None:
    catalog = small_catalog()
    a = EpochManager(None, SETTINGS, "s", catalog).build(  # type: ignore[arg-type]
        EPOCH, EpochState.PENDING, cooldown={"10001"}, history={"10002": [0]}
    )
    b = EpochManager(None, SETTINGS, "s", list(reversed(catalog))).build(  # type: ignore[arg-type]
        EPOCH, EpochState.PENDING, cooldown={"10001"}, history={"10002": [0]}
    )
    assert a == b
    assert "10001" not in {x.zipcode for x in a[1]}
    assert a[0].start == datetime(2025, 1, 1, tzinfo=UTC)
