"""Spot-check lookups against the simulated market: found, gone, unverifiable, cached once."""

from __future__ import annotations

from typing import Any

import pytest

from resi.errors import SourceOutage, SourceUnavailable
from resi.score.models import LookupRequest, LookupStatus
from resi.scrape.source import open_source
from resi.validate.lookups import OUTAGE_MIN_LOOKUPS, fetch_lookups, unreachable
from tests.fixtures.market import start_sim_market


def _request(listing) -> LookupRequest:  # type: ignore[no-untyped-def]
    claimed = {
        **listing.__dict__,
        "scraped_at": listing.scraped_at.isoformat(),
        "listed_at": listing.listed_at.isoformat() if listing.listed_at else None,
    }
    return LookupRequest(key=listing.listing_id, claimed=claimed)


@pytest.mark.anyio
async def test_found_gone_and_each_key_looked_up_once() -> None:
    async with start_sim_market() as market:
        source = open_source("sim", sim_url=market.url, max_attempts=1)
        try:
            listings = await source.search("10001")
            real = _request(listings[0])
            fake_listing = listings[1].__class__(
                **{
                    **listings[1].__dict__,
                    "listing_id": "9999999999",
                    "url": f"{market.url}/homedetails/x/9999999999_zpid/",
                }
            )
            fake = _request(fake_listing)
            cache: dict = {}
            before = market.server.stats["requests"]
            n = await fetch_lookups(source, [real, fake, real], cache, concurrency=2)
            again = await fetch_lookups(source, [real, fake], cache)
            used = market.server.stats["requests"] - before
        finally:
            await source.aclose()
    assert n == 2 and again == 0 and used == 2
    assert cache[real.key].status is LookupStatus.FOUND
    assert cache[real.key].observed is not None
    assert cache[real.key].observed.price == listings[0].price
    assert cache[fake.key].status is LookupStatus.GONE


@pytest.mark.anyio
async def test_unreachable_source_is_unverifiable_not_gone() -> None:
    """A validator-side failure (source unreachable) must never read as 'gone'."""
    async with start_sim_market() as market:
        source = open_source("sim", sim_url=market.url, max_attempts=1)
        try:
            listing = (await source.search("10001"))[0]
        finally:
            await source.aclose()
    # the market is gone now: every lookup fails at the connection
    source = open_source("sim", sim_url=market.url, max_attempts=1, timeout=2)
    cache: dict = {}
    try:
        await fetch_lookups(source, [_request(listing)], cache, attempts=2, backoff=0.01)
    finally:
        await source.aclose()
    assert cache[listing.listing_id].status is LookupStatus.UNVERIFIABLE


class Faulty:
    """The real source, except that lookups of ``down`` keys fail at the transport (injected)."""

    def __init__(self, inner: Any, down: set[str]) -> None:
        self.inner, self.down, self.calls = inner, down, 0

    async def search(self, zipcode: str) -> list[Any]:
        return list(await self.inner.search(zipcode))

    async def lookup(self, listing: Any) -> Any:
        self.calls += 1
        if listing.listing_id in self.down:
            raise SourceUnavailable("connection refused (injected)")
        return await self.inner.lookup(listing)


@pytest.mark.anyio
async def test_site_down_is_an_outage_found_early_and_leaves_nothing_cached() -> None:
    async with start_sim_market() as market:
        source = open_source("sim", sim_url=market.url, max_attempts=1)
        try:
            listings = (await source.search("10001"))[:6]
            faulty = Faulty(source, {x.listing_id for x in listings})
            cache: dict = {}
            with pytest.raises(SourceOutage):
                await fetch_lookups(faulty, [_request(x) for x in listings], cache,
                                    concurrency=1, attempts=2, backoff=0.01)  # fmt: skip
        finally:
            await source.aclose()
    assert cache == {}
    assert faulty.calls == OUTAGE_MIN_LOOKUPS * 2  # three lookups (two attempts each), not six


@pytest.mark.anyio
async def test_a_site_that_answers_keeps_the_per_listing_rule() -> None:
    """One unreachable listing among answered ones is UNVERIFIABLE, not an outage."""
    async with start_sim_market() as market:
        source = open_source("sim", sim_url=market.url, max_attempts=1)
        try:
            listings = (await source.search("10001"))[:5]
            faulty = Faulty(source, {listings[2].listing_id})
            cache: dict = {}
            n = await fetch_lookups(faulty, [_request(x) for x in listings], cache,
                                    concurrency=1, attempts=2, backoff=0.01)  # fmt: skip
        finally:
            await source.aclose()
    assert n == 5
    assert cache[listings[2].listing_id].status is LookupStatus.UNVERIFIABLE
    assert unreachable(cache[listings[2].listing_id])
    assert sum(v.status is LookupStatus.FOUND for v in cache.values()) == 4
