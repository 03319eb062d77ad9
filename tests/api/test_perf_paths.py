"""The batched admission path (nonce + rate hit in one shared transaction) keeps every guarantee.

Concurrent requests are admitted together by ``AdmissionBatcher``; these tests fire bursts at the
real server (SQLite and PostgreSQL) so requests really share batches, and check that replays,
rate counts and the 401 → 403 → 429 order are exactly those of one-request-at-a-time handling.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from bittensor import http_auth

from resi.api.client import CURRENT
from resi.api.ratelimit import window_start
from tests.fixtures.api import ApiServer, within_one_rate_window

pytestmark = pytest.mark.anyio


def signed(keypair: Any, nonce_ns: int | None = None) -> dict[str, str]:
    return http_auth.sign(keypair, method="GET", path=CURRENT, nonce_ns=nonce_ns)


async def burst(server: ApiServer, headers: list[dict[str, str]]) -> list[httpx.Response]:
    """Send every request at once on separate connections."""
    limits = httpx.Limits(max_connections=len(headers))
    async with httpx.AsyncClient(base_url=server.base_url, limits=limits) as http:
        return list(await asyncio.gather(*(http.get(CURRENT, headers=h) for h in headers)))


async def test_concurrent_copies_of_one_request_are_admitted_once(api_server: ApiServer) -> None:
    headers = signed(api_server.keys.miner)
    responses = await burst(api_server, [headers] * 12)
    assert sorted(r.status_code for r in responses) == [200] + [401] * 11
    refused = [r.json() for r in responses if r.status_code == 401]
    assert {e["error"] for e in refused} == {"ReplayedRequest"}


async def test_concurrent_burst_is_counted_exactly_once_per_request(
    db_url: str, api_factory: Callable[..., Any]
) -> None:
    async with api_factory(db_url, rate_limit_per_minute=10) as server:
        await within_one_rate_window(server)
        base = time.time_ns()
        responses = await burst(server, [signed(server.keys.miner, base + i) for i in range(25)])
        ok = [r for r in responses if r.status_code == 200]
        limited = [r for r in responses if r.status_code == 429]
        assert len(ok) == 10 and len(limited) == 15
        assert sorted(int(r.headers["X-RateLimit-Remaining"]) for r in ok) == list(range(10))
        assert all(r.json()["error"] == "RATE_LIMITED" for r in limited)
        assert server.state.admission is not None  # the batched path served them


async def test_replayed_request_does_not_spend_rate_budget(
    db_url: str, api_factory: Callable[..., Any]
) -> None:
    async with api_factory(db_url, rate_limit_per_minute=2) as server:
        await within_one_rate_window(server)
        first = signed(server.keys.miner)
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            assert (await http.get(CURRENT, headers=first)).headers["X-RateLimit-Remaining"] == "1"
            assert (await http.get(CURRENT, headers=first)).status_code == 401
            second = await http.get(CURRENT, headers=signed(server.keys.miner))
        assert second.status_code == 200
        assert second.headers["X-RateLimit-Remaining"] == "0"


async def test_unregistered_caller_is_neither_counted_nor_stored(
    api_server: ApiServer,
) -> None:
    """Issue 13: a stranger's valid signature must not buy a database write (nonce or count)."""
    stranger = api_server.keys.stranger
    headers = signed(stranger)
    async with httpx.AsyncClient(base_url=api_server.base_url) as http:
        first = await http.get(CURRENT, headers=headers)
        again = await http.get(CURRENT, headers=headers)
    assert first.status_code == 403 and first.json()["error"] == "NOT_REGISTERED"
    assert "X-RateLimit-Remaining" not in first.headers
    # The nonce was never stored, so the repeat is refused for the same reason, not as a replay.
    assert again.status_code == 403 and again.json()["error"] == "NOT_REGISTERED"
    # Nothing was counted for the stranger: the bucket starts at 1 now.
    window = window_start(api_server.clock())
    assert await api_server.store.hit_rate_limit(stranger.ss58_address, "current", window, 5) == (
        True,
        1,
    )
