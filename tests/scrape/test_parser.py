"""The Zillow page parser on hand-written fixtures in the site's format."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from resi.errors import ParseError
from resi.scrape.zillow_parser import (
    detail_url,
    is_block_page,
    parse_detail_page,
    parse_search_page,
    search_url,
)

FIXTURES = Path(__file__).parent / "fixtures"
BASE = "https://www.zillow.com"
NOW = datetime(2030, 1, 1, tzinfo=UTC)


def page(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_search_page_listings_and_totals() -> None:
    result = parse_search_page(
        page("search_page.html"), base_url=BASE, source="zillow", scraped_at=NOW
    )
    assert (result.total_results, result.total_pages, result.per_page, result.page) == (
        87,
        3,
        41,
        2,
    )
    ids = [item.listing_id for item in result.listings]
    # the "$4.2M" estimate-only card and the ad carry no trustworthy price / id: skipped
    assert ids == ["20533168", "2055887911"]
    first, second = result.listings
    assert first.price == 12_995_000
    assert first.bedrooms == 6 and first.bathrooms == 8.0 and first.living_area_sqft == 7861
    assert first.lot_sqft == round(0.52 * 43_560)  # acres converted
    assert first.latitude == pytest.approx(34.08676)
    assert first.photo_count == 3
    assert first.broker == "Hilton & Hyland"
    assert first.property_type == "SINGLE_FAMILY" and first.status == "FOR_SALE"
    assert first.url.endswith("/20533168_zpid/")
    # relative detail URLs are resolved against the base; price text parsed when needed
    assert second.url.startswith(BASE + "/homedetails/")
    assert second.price == 1_495_000
    assert second.year_built == 1965
    assert second.scraped_at == NOW


def test_detail_page() -> None:
    item = parse_detail_page(
        page("detail_page.html"), base_url=BASE, source="zillow", scraped_at=NOW
    )
    assert item.listing_id == "20533168"
    assert item.price == 12_750_000
    assert item.mls_id == "25-512345"
    assert item.listed_at == datetime(2025, 9, 12, tzinfo=UTC)
    assert item.lot_sqft == 22_651
    assert item.photo_count == 54
    assert (
        item.url == BASE + "/homedetails/1012-N-Crescent-Dr-Beverly-Hills-CA-90210/20533168_zpid/"
    )


def test_block_page_is_detected_not_parsed_as_empty() -> None:
    text = page("block_page.html")
    assert is_block_page(text)
    with pytest.raises(ParseError):
        parse_search_page(text, base_url=BASE, source="zillow", scraped_at=NOW)


def test_real_pages_are_not_block_pages() -> None:
    for name in ("search_page.html", "detail_page.html", "empty_search.html"):
        assert not is_block_page(page(name)), name


def test_empty_result() -> None:
    result = parse_search_page(
        page("empty_search.html"), base_url=BASE, source="zillow", scraped_at=NOW
    )
    assert result.listings == [] and result.total_results == 0


def test_malformed_json_raises_parse_error() -> None:
    with pytest.raises(ParseError, match="not valid JSON"):
        parse_search_page(
            page("malformed_json.html"), base_url=BASE, source="zillow", scraped_at=NOW
        )


def test_page_without_state_raises_parse_error() -> None:
    with pytest.raises(ParseError, match="__NEXT_DATA__"):
        parse_detail_page(page("no_state.html"), base_url=BASE, source="zillow", scraped_at=NOW)


def test_search_page_is_not_a_detail_page() -> None:
    with pytest.raises(ParseError):
        parse_detail_page(page("search_page.html"), base_url=BASE, source="zillow", scraped_at=NOW)


def test_search_url_carries_page_and_price_band() -> None:
    url = search_url(BASE, "90210", 3, 100_000, 200_000)
    parts = urlsplit(url)
    assert parts.path == "/homes/for_sale/90210_rb/3_p/"
    state = json.loads(parse_qs(parts.query)["searchQueryState"][0])
    assert state["filterState"]["price"] == {"min": 100_000, "max": 200_000}
    assert state["pagination"]["currentPage"] == 3


def test_lookup_url_ignores_untrusted_urls() -> None:
    # A spot check builds the URL from the id alone, never from a miner-supplied url.
    assert detail_url(BASE, "123") == BASE + "/homedetails/123_zpid/"
    assert "/" not in detail_url(BASE, "../../evil")[len(BASE + "/homedetails/") :].rstrip("/")
