"""The simulated market: deterministic, honeypot zip types empty, slow drift, delisting."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from resi.scrape.sim.app import create_sim_app
from resi.scrape.sim.market import SimMarketData
from resi.scrape.source import open_source
from resi.scrape.zillow import ZillowConfig, ZillowSource
from tests.fixtures.market import (
    SIM_CATALOG,
    SIM_SEED,
    SIM_START,
    RunningMarket,
    start_sim_market,
)


def data(seed: int = SIM_SEED) -> SimMarketData:
    return SimMarketData(SIM_CATALOG, seed, empty_rate=0.0)


def test_same_seed_same_market() -> None:
    a, b = data(), data()
    for zipcode in ("10001", "94110", "12345"):
        assert a.active(zipcode, SIM_START) == b.active(zipcode, SIM_START)


def test_other_seed_other_market() -> None:
    a, b = data(1), data(2)
    assert [x.zpid for x in a.active("10001", SIM_START)] != [
        x.zpid for x in b.active("10001", SIM_START)
    ]


@pytest.mark.parametrize("zipcode", ["10001", "60614", "94110"])
def test_count_is_near_expected(zipcode: str) -> None:
    expected = SIM_CATALOG[zipcode].expected_listings
    count = len(data().active(zipcode, SIM_START))
    assert 0.95 * expected <= count <= 1.15 * expected


def test_unknown_zipcode_is_deterministic_too() -> None:
    a = data().active("12345", SIM_START)
    assert a and a == data().active("12345", SIM_START)


@pytest.mark.parametrize("zipcode", ["00501", "99999"])
def test_po_box_and_unique_zipcodes_have_no_listings(zipcode: str) -> None:
    assert data().active(zipcode, SIM_START) == []


def test_prices_drift_slowly() -> None:
    market = data()
    before = {x.zpid: x.price for x in market.active("94110", SIM_START)}
    later = SIM_START + timedelta(hours=8)
    after = {x.zpid: x.price for x in market.active("94110", later)}
    common = before.keys() & after.keys()
    assert len(common) >= 0.95 * len(before)  # few delisted within 8 hours
    assert any(before[z] != after[z] for z in common)  # prices do move...
    assert all(abs(after[z] - before[z]) <= 0.02 * before[z] for z in common)  # ...slowly


def test_count_stays_stable_while_listings_turn_over() -> None:
    market = data()
    now = {x.zpid for x in market.active("60614", SIM_START)}
    month = {x.zpid for x in market.active("60614", SIM_START + timedelta(days=30))}
    assert len(now) == len(month)
    assert 0 < len(now - month) < len(now)  # some delisted, most... at least not all


def test_delisted_listing_still_has_a_detail_page() -> None:
    market = data()
    before = market.active("60614", SIM_START)
    later = SIM_START + timedelta(days=30)
    active_later = {x.zpid for x in market.active("60614", later)}
    gone = [x for x in before if x.zpid not in active_later]
    assert gone
    found = market.find(gone[0].zpid, later)
    assert found is not None and found.status in {"PENDING", "SOLD", "OFF_MARKET"}


def test_never_existed_ids_are_not_found() -> None:
    market = data()
    real = market.active("10001", SIM_START)[0].zpid
    assert market.find(real, SIM_START) is not None
    assert market.find(real + 1, SIM_START) is None  # bad check digits
    future = market.zpid("10001", 0, 9_999)
    assert market.find(future, SIM_START) is None  # a generation that does not exist yet
    assert market.find(market.zpid("00501", 0, 0), SIM_START) is None  # honeypot zip
    assert market.find(12, SIM_START) is None


def fast_source(url: str) -> ZillowSource:
    return ZillowSource(
        ZillowConfig(base_url=url, concurrency=8, backoff_initial=0.01, backoff_max=0.05,
                     source_name="sim")
    )  # fmt: skip


@pytest.mark.anyio
async def test_lookup_delisted_vs_never_existed_over_http(sim_market: RunningMarket) -> None:
    async with fast_source(sim_market.url) as source:
        listings = await source.search("60614")
        assert listings
        sim_market.clock.advance(timedelta(days=40))
        try:
            later = await source.search("60614")
            later_ids = {x.listing_id for x in later}
            gone = [x for x in listings if x.listing_id not in later_ids]
            assert gone
            looked = await source.lookup(gone[0])
            assert looked is not None and looked.status in {"PENDING", "SOLD", "OFF_MARKET"}
            fake = listings[0].__class__(
                **{**listings[0].__dict__, "listing_id": "1000100000000000"}
            )
            assert await source.lookup(fake) is None
        finally:
            sim_market.clock.time = SIM_START


@pytest.mark.anyio
async def test_honeypot_zip_search_is_empty_over_http(sim_market: RunningMarket) -> None:
    source = open_source("sim", sim_url=sim_market.url)
    try:
        assert await source.search("00501") == []
        assert await source.search("99999") == []
    finally:
        await source.aclose()


@pytest.mark.anyio
async def test_throttle_every_answers_every_nth_request_429_however_slow() -> None:
    # Deterministic 429s for tests: the request count decides, not the clock.
    async with start_sim_market(throttle_every=3) as market, httpx.AsyncClient() as client:
        statuses = []
        for _ in range(9):
            response = await client.get(f"{market.url}/homes/for_sale/60614_rb/")
            statuses.append(response.status_code)
            if response.status_code == 429:
                assert response.headers["Retry-After"].isdigit()
        assert statuses == [200, 200, 429] * 3
        assert market.server.stats["rate_limited"] == 3


def test_throttle_every_one_is_refused() -> None:
    with pytest.raises(ValueError, match="throttle_every"):
        create_sim_app(SIM_CATALOG, seed=SIM_SEED, throttle_every=1)
