"""The Zillow source against the simulated market: pages, price bands, 429s, block pages."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from resi.errors import SourceUnavailable
from resi.scrape.zillow import ZillowConfig, ZillowSource
from tests.fixtures.market import SIM_START, start_sim_market

pytestmark = pytest.mark.anyio


def source(url: str, **overrides: object) -> ZillowSource:
    values: dict[str, object] = {
        "base_url": url,
        "concurrency": 8,
        "backoff_initial": 0.01,
        "backoff_max": 0.05,
        "source_name": "sim",
    }
    values.update(overrides)
    return ZillowSource(ZillowConfig(**values))  # type: ignore[arg-type]


def truth(market: object, zipcode: str) -> set[str]:
    return {str(x.zpid) for x in market.server.data.active(zipcode, SIM_START)}  # type: ignore[attr-defined]


async def test_search_walks_every_page() -> None:
    async with start_sim_market(page_size=20, result_cap=10_000) as market:
        async with source(market.url) as src:
            found = await src.search("94110")
        assert {x.listing_id for x in found} == truth(market, "94110")
        assert market.server.stats["requests"] >= len(found) // 20
        assert all(x.zipcode == "94110" and x.source == "sim" for x in found)


async def test_capped_search_is_split_into_price_bands() -> None:
    # Only 40 results reachable per query: the source must split by price to see all ~500.
    async with start_sim_market(page_size=10, result_cap=40) as market:
        async with source(market.url) as src:
            found = await src.search("94110")
        assert {x.listing_id for x in found} == truth(market, "94110")
        assert len(found) > 400


async def test_rate_limited_site_is_retried_until_complete() -> None:
    # Count-based 429s (every 3rd request), not the time-based token bucket: a client slowed by a
    # busy machine never outpaces a rate, and then this test would prove nothing.
    async with start_sim_market(page_size=20, throttle_every=3) as market:
        async with source(market.url, max_attempts=30) as src:
            found = await src.search("60614")
        assert market.server.stats["rate_limited"] > 0
        assert {x.listing_id for x in found} == truth(market, "60614")


async def test_block_pages_are_retried_not_parsed_as_empty() -> None:
    async with start_sim_market(page_size=20, block_every=4) as market:
        async with source(market.url, max_attempts=8) as src:
            found = await src.search("10001")
        assert market.server.stats["blocked"] > 0
        assert {x.listing_id for x in found} == truth(market, "10001")


async def test_permanent_block_raises_source_unavailable() -> None:
    async with start_sim_market(block_every=1) as market:
        async with source(market.url, max_attempts=3) as src:
            with pytest.raises(SourceUnavailable, match="block page"):
                await src.search("10001")
            listing = await _one_listing(market.url)
            with pytest.raises(SourceUnavailable):
                await src.lookup(listing)


async def _one_listing(url: str):  # type: ignore[no-untyped-def]
    async with start_sim_market() as clean:
        async with source(clean.url) as src:
            return (await src.search("10001"))[0]


async def test_unreachable_site_raises_source_unavailable() -> None:
    async with start_sim_market() as market:
        url = market.url
    async with source(url, max_attempts=2) as src:
        with pytest.raises(SourceUnavailable, match="transport"):
            await src.search("10001")


async def test_lookup_returns_current_values_and_none_for_unknown_ids() -> None:
    async with start_sim_market() as market:
        async with source(market.url, max_attempts=2) as src:
            listing = (await src.search("10001"))[0]
            again = await src.lookup(listing)
            assert again is not None
            assert (again.listing_id, again.price, again.bedrooms, again.zipcode) == (
                listing.listing_id, listing.price, listing.bedrooms, listing.zipcode,
            )  # fmt: skip
            assert again.mls_id  # detail pages carry more than search cards
            gone = await src.lookup(
                listing.__class__(**{**listing.__dict__, "listing_id": listing.listing_id + "1"})
            )
            assert gone is None


async def test_scraped_at_comes_from_the_injected_clock() -> None:
    fixed = datetime(2031, 5, 5, tzinfo=UTC)
    async with start_sim_market() as market:
        src = ZillowSource(ZillowConfig(base_url=market.url), now=lambda: fixed)
        async with src:
            found = await src.search("10001")
        assert {x.scraped_at for x in found} == {fixed}
