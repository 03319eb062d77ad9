"""The simulated market shows the real site's quirks (lots, unknown days, building and
price-range cards, PENDING before SOLD) at realistic rates, and an honest scrape of it still
passes tiers 1–2."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from resi.config import ScoringSettings
from resi.score.models import AssignmentInput, CommitInput, FileMeta, FileOutcome
from resi.score.tiers import assess_file
from resi.scrape.listing import FileMetadata, read_listings, write_listings
from resi.scrape.sim.market import SimMarketData
from resi.scrape.zillow import ZillowConfig, ZillowSource
from resi.scrape.zillow_parser import (
    SKIP_BUILDING,
    SKIP_NO_PRICE,
    SKIP_PRICE_RANGE,
    parse_search_page,
    search_url,
)
from tests.fixtures.market import SIM_CATALOG, SIM_START, RunningMarket, start_sim_market

ZIPS = ("10001", "60614", "94110")


def data() -> SimMarketData:
    # The hand-made catalog's STANDARD zipcodes all have listings (as in tests/fixtures/market).
    return SimMarketData(SIM_CATALOG, seed=7, empty_rate=0.0)


def test_quirks_appear_at_realistic_rates() -> None:
    market = data()
    listings = [x for z in ZIPS for x in market.active(z, SIM_START)]
    assert len(listings) > 1000
    lots = [x for x in listings if x.home_type == "LOT"]
    unknown = [x for x in listings if x.days_on_market is None]
    assert 0.015 < len(lots) / len(listings) < 0.08
    assert 0.02 < len(unknown) / len(listings) < 0.09
    assert all(x.living_area is None and x.bedrooms is None for x in lots)
    cards = [c for z in ZIPS for c in market.extra_cards(z)]
    buildings = [c for c in cards if c.kind == "building"]
    ranges = [c for c in cards if c.kind == "community"]
    assert 0.01 < len(buildings) / len(listings) < 0.03
    assert 0.005 < len(ranges) / len(listings) < 0.02
    assert any(c.price == 0 for c in ranges)  # "$0+" cards
    assert market.extra_cards("00501") == []  # nothing at all in an empty zipcode


def test_a_sale_goes_pending_before_it_is_sold() -> None:
    market = data()
    before = market.active("60614", SIM_START)
    seen: dict[int, list[str]] = {}
    for day in range(0, 150, 2):
        now = SIM_START + timedelta(days=day)
        for x in before[:80]:
            found = market.find(x.zpid, now)
            assert found is not None
            seen.setdefault(x.zpid, []).append(found.status)
    sequences = [[s for i, s in enumerate(v) if i == 0 or v[i - 1] != s] for v in seen.values()]
    assert ["FOR_SALE", "PENDING", "SOLD"] in sequences
    assert all(seq[0] == "FOR_SALE" for seq in sequences)
    # Never back: once gone, a listing does not return to sale.
    assert all("FOR_SALE" not in seq[1:] for seq in sequences)


@pytest.mark.anyio
async def test_search_pages_carry_the_cards_and_the_honest_scrape_skips_them() -> None:
    async with start_sim_market(page_size=41, result_cap=10_000) as market:
        truth = market.server.data.active("10001", SIM_START)
        import httpx

        async with httpx.AsyncClient() as http:
            first = (await http.get(search_url(market.url, "10001"))).text
        page = parse_search_page(first, base_url=market.url, source="sim", scraped_at=SIM_START)
        cards = market.server.data.extra_cards("10001")
        n_buildings = sum(c.kind == "building" for c in cards)
        assert page.skipped.get(SKIP_BUILDING) == n_buildings  # featured first, all on page 1
        assert page.total_results == len(truth) + len(cards) - n_buildings + sum(
            c.units for c in cards if c.kind == "building"
        )
        assert page.pageable_results == len(truth) + len(cards) - n_buildings
        config = ZillowConfig(base_url=market.url, backoff_initial=0.01, source_name="sim")
        async with ZillowSource(config) as src:
            found = await src.search("10001")
        assert {x.listing_id for x in found} == {str(x.zpid) for x in truth}
        requests = market.server.stats["requests"]
        # No band splitting chased the building units: one request per page (plus page 1).
        assert requests <= 2 + -(-(len(truth) + len(cards)) // 41)
        by_id = {x.listing_id: x for x in found}
        for x in truth:
            got = by_id[str(x.zpid)]
            assert got.living_area_sqft == x.living_area
            assert got.days_on_market == x.days_on_market
            assert got.bedrooms == x.bedrooms


@pytest.mark.anyio
async def test_price_range_cards_are_counted_as_skipped(sim_market: RunningMarket) -> None:
    import httpx

    skipped: dict[str, int] = {}
    async with httpx.AsyncClient() as http:
        for z in ZIPS:
            text = (await http.get(search_url(sim_market.url, z))).text
            page = parse_search_page(text, base_url=sim_market.url, source="sim",
                                     scraped_at=SIM_START)  # fmt: skip
            for k, v in page.skipped.items():
                skipped[k] = skipped.get(k, 0) + v
    assert skipped.get(SKIP_BUILDING, 0) > 0
    assert skipped.get(SKIP_PRICE_RANGE, 0) > 0
    assert SKIP_NO_PRICE not in skipped


@pytest.mark.anyio
async def test_honest_scrape_with_quirks_passes_tiers_1_and_2(
    sim_market: RunningMarket, tmp_path: Path
) -> None:
    config = ZillowConfig(base_url=sim_market.url, backoff_initial=0.01, source_name="sim")
    async with ZillowSource(config) as src:
        for zipcode in ZIPS:
            rows = await src.search(zipcode)
            assert any(x.property_type == "LOT" for x in rows)
            assert any(x.days_on_market is None for x in rows)
            # The epoch that holds the scrape: `scraped_at` must lie in its window (issue 12).
            now = datetime.now(UTC)
            epoch_id = (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H-00-00")
            meta = FileMetadata(epoch_id, "n" * 32, "5" + "F" * 47, zipcode)
            written = write_listings(tmp_path / f"{zipcode}.parquet", rows, meta)
            table, m = read_listings(written.path)
            info = SIM_CATALOG[zipcode]
            got = assess_file(
                CommitInput(m.miner_hotkey, zipcode, "k", written.sha256, written.rows, now),
                AssignmentInput(zipcode, len(rows), info.state, info.lat, info.lon, False),
                FileOutcome.ok(table, FileMeta(m.epoch_id, m.nonce, m.miner_hotkey, zipcode)),
                epoch_id=m.epoch_id,
                nonce=m.nonce,
                validation_seed="f" * 64,
                config=ScoringSettings(),
            )
            assert not got.reasons, (zipcode, got.reasons)
            assert statistics.fmean(x.price for x in rows) > 0
