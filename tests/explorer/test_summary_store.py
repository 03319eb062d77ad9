"""Report summaries in the store (SQLite and PostgreSQL): stored per validator and epoch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from resi.epoch.store.base import open_store

pytestmark = pytest.mark.anyio


async def test_summary_is_stored_replaced_and_listed_per_validator(db_url: str) -> None:
    store = await open_store(db_url)
    try:
        at = datetime(2026, 1, 1, tzinfo=UTC)
        eid = "2026-01-01T00-00-00"
        await store.record_result_summary(eid, "5B", "a" * 64, '{"x": 1}', at)
        await store.record_result_summary(eid, "5A", "b" * 64, '{"y": 2}', at)
        await store.record_result_summary(eid, "5B", "c" * 64, '{"z": 3}', at + timedelta(1))
        await store.record_result_summary("2026-01-01T04-00-00", "5A", "d" * 64, "{}", at)
        rows = await store.result_summaries(eid)
    finally:
        await store.close()
    assert [(r.validator_hotkey, r.consensus_hash, r.summary_json) for r in rows] == [
        ("5A", "b" * 64, '{"y": 2}'),
        ("5B", "c" * 64, '{"z": 3}'),
    ]
    assert rows[1].at == at + timedelta(1)
