"""Pure parsing of Zillow-style pages (search results, detail pages, block pages) into listings.

Zillow (and the simulated market) embed the page state as JSON in
``<script id="__NEXT_DATA__" type="application/json">``:

* search: ``props.pageProps.searchPageState.cat1.searchResults.listResults[]`` (one item per
  listing: ``zpid``, ``detailUrl``, ``unformattedPrice``, ``beds``, ``baths``, ``area``,
  ``latLong``, ``hdpData.homeInfo`` ...) and ``...cat1.searchList`` (``totalResultCount``,
  ``totalPages``, ``resultsPerPage``);
* detail: ``props.pageProps.componentProps.gdpClientCache``, a JSON *string* whose values hold
  a ``property`` object.

No I/O here: functions take page text and return values or raise ``ParseError``.

Real pages carry placeholders that are not values (tests/fixtures/real/zillow/README.md):

* ``daysOnZillow: -1`` means unknown, a living or lot area of ``0`` means none given (lots and
  land have no living area): both become null, never a number tier 2 would call implausible.
* A price-range card (``"$0+"``, ``"$350,000+"``, ``"$1,495+/mo"``: new construction, buildings
  with several units) is not one listing with one price: it is **skipped** and counted, as is a
  card whose price is 0 or missing.
* A building card (``isBuilding``; its "zpid" is a coordinate pair and its url a ``/b/building/``
  page) stands for ``availabilityCount`` units that are not on the search page: the units are
  **knowingly left out** (they are listed on the building's own page, out of scope) and counted,
  so the search can tell the site's result count (which includes them) from the cards it can
  page through (``SearchPage.pageable_results``).
* A card whose ``detailUrl`` does not name its zpid (rental communities link to
  ``/apartments/.../{code}/``) gets the canonical ``/homedetails/{zpid}_zpid/`` URL.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urljoin

from parsel import Selector

from resi.errors import ParseError
from resi.scrape.listing import Listing

SQFT_PER_ACRE = 43_560

_BLOCK_MARKERS = (
    "px-captcha",
    "captcha-container",
    "access to this page has been denied",
    "press &amp; hold",
    "press & hold",
    "please verify you are a human",
)
_PRICE_DIGITS = re.compile(r"[^0-9]")


# Why a search card gave no listing (``SearchPage.skipped`` keys).
SKIP_BUILDING = "building"
SKIP_PRICE_RANGE = "price_range"
SKIP_NO_PRICE = "no_price"
SKIP_INCOMPLETE = "incomplete"


@dataclass(frozen=True)
class SearchPage:
    """One page of search results and the totals the site reports for the whole query.

    ``cards`` counts every result card on this page; ``building_units`` the units that this
    page's building cards stand for (included in ``total_results`` by the site, but not cards
    one can page through); ``skipped`` counts cards that gave no listing, by reason.
    """

    listings: list[Listing]
    total_results: int
    total_pages: int
    per_page: int
    page: int
    cards: int = 0
    building_units: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def pageable_results(self) -> int:
        """The site's result count without the building units this page revealed."""
        return max(self.total_results - self.building_units, 0)

    @property
    def exhausted(self) -> bool:
        """True when this page is not full: the query has no more cards beyond it."""
        return self.cards < self.per_page


def search_url(
    base_url: str,
    zipcode: str,
    page: int = 1,
    price_min: int | None = None,
    price_max: int | None = None,
) -> str:
    """URL of one search result page, optionally filtered to a price band (inclusive)."""
    path = f"/homes/for_sale/{zipcode}_rb/" + (f"{page}_p/" if page > 1 else "")
    state: dict[str, Any] = {"pagination": {"currentPage": page}, "usersSearchTerm": zipcode}
    price: dict[str, int] = {}
    if price_min is not None:
        price["min"] = price_min
    if price_max is not None:
        price["max"] = price_max
    if price:
        state["filterState"] = {"price": price}
    query = quote(json.dumps(state, separators=(",", ":"), sort_keys=True), safe="")
    return f"{base_url.rstrip('/')}{path}?searchQueryState={query}"


def detail_url(base_url: str, listing_id: str) -> str:
    """Canonical detail URL of a listing id (never a miner-supplied URL)."""
    return f"{base_url.rstrip('/')}/homedetails/{quote(listing_id, safe='')}_zpid/"


def is_block_page(text: str) -> bool:
    """True for captcha / bot-wall pages (which must never be parsed as 'no results')."""
    head = text[:20_000].lower()
    return any(marker in head for marker in _BLOCK_MARKERS)


def next_data(text: str) -> dict[str, Any]:
    """The page's ``__NEXT_DATA__`` JSON. Raises ``ParseError`` if absent or malformed."""
    raw = Selector(text=text).css("script#__NEXT_DATA__::text").get()
    if raw is None:
        raise ParseError("page has no __NEXT_DATA__ script")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ParseError(f"__NEXT_DATA__ is not valid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise ParseError("__NEXT_DATA__ is not an object")
    return data


def parse_search_page(text: str, *, base_url: str, source: str, scraped_at: datetime) -> SearchPage:
    """Parse a search result page. Raises ``ParseError`` when the page state is missing."""
    data = next_data(text)
    cat1 = _path(data, "props", "pageProps", "searchPageState", "cat1")
    results = _path(cat1, "searchResults", "listResults")
    meta = _path(cat1, "searchList")
    if not isinstance(results, list):
        raise ParseError("listResults is not a list")
    listings: list[Listing] = []
    skipped: dict[str, int] = {}
    cards = building_units = 0
    for item in results:
        if not isinstance(item, Mapping):
            continue
        cards += 1
        listing, why = _from_search_item(item, base_url, source, scraped_at)
        if listing is not None:
            listings.append(listing)
            continue
        skipped[why] = skipped.get(why, 0) + 1
        if why == SKIP_BUILDING:
            building_units += _building_units(item)
    try:
        return SearchPage(
            listings=listings,
            total_results=int(meta.get("totalResultCount", len(listings))),
            total_pages=int(meta.get("totalPages", 1)),
            per_page=int(meta.get("resultsPerPage", max(len(results), 1))),
            page=int(_path(data, "props", "pageProps", "searchPageState").get("currentPage", 1)),
            cards=cards,
            building_units=building_units,
            skipped=skipped,
        )
    except (TypeError, ValueError) as exc:
        raise ParseError(f"bad search totals: {exc}") from None


def parse_detail_page(text: str, *, base_url: str, source: str, scraped_at: datetime) -> Listing:
    """Parse a listing detail page. Raises ``ParseError`` when no property can be read."""
    data = next_data(text)
    cache_raw = _path(data, "props", "pageProps", "componentProps", "gdpClientCache")
    try:
        cache = json.loads(cache_raw) if isinstance(cache_raw, str) else cache_raw
    except json.JSONDecodeError as exc:
        raise ParseError(f"gdpClientCache is not valid JSON: {exc.msg}") from None
    if not isinstance(cache, Mapping):
        raise ParseError("gdpClientCache is not an object")
    prop = next(
        (v["property"] for v in cache.values() if isinstance(v, Mapping) and v.get("property")),
        None,
    )
    if not isinstance(prop, Mapping):
        raise ParseError("detail page has no property object")
    listing = _from_property(prop, base_url, source, scraped_at)
    if listing is None:
        raise ParseError("detail property lacks required fields")
    return listing


# --------------------------------------------------------------------------- helpers


def _path(obj: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(obj, Mapping) or key not in obj:
            raise ParseError(f"page state lacks {'.'.join(keys)}")
        obj = obj[key]
    return obj


def _building_units(item: Mapping[str, Any]) -> int:
    """Units a building card stands for: ``availabilityCount``, else its unit rows, else 1."""
    count = _int(item.get("availabilityCount"))
    if count is not None and count > 0:
        return count
    units = item.get("units")
    return len(units) if isinstance(units, list) and units else 1


def _is_price_range(value: Any) -> bool:
    return isinstance(value, str) and "+" in value


def _from_search_item(
    item: Mapping[str, Any], base_url: str, source: str, scraped_at: datetime
) -> tuple[Listing | None, str]:
    """A listResults item as a Listing, or ``(None, reason)`` for cards that are not one."""
    info = (item.get("hdpData") or {}).get("homeInfo") or {}
    if item.get("isBuilding") or "/b/building/" in str(item.get("detailUrl") or ""):
        return None, SKIP_BUILDING
    if _is_price_range(item.get("price")):
        return None, SKIP_PRICE_RANGE
    zpid = item.get("zpid") or info.get("zpid")
    price = (
        _positive(item.get("unformattedPrice"))
        or _price_text(item.get("price"))
        or _positive(info.get("price"))
    )
    if price is None:
        return None, SKIP_NO_PRICE
    street = item.get("addressStreet") or info.get("streetAddress")
    zipcode = item.get("addressZipcode") or info.get("zipcode")
    if not zpid or not street or not zipcode:
        return None, SKIP_INCOMPLETE
    latlong = item.get("latLong") or {}
    photos = item.get("carouselPhotos")
    detail = str(item.get("detailUrl") or "")
    if f"{zpid}_zpid" not in detail:
        # Rental community cards link to /apartments/.../{code}/, which names no listing id:
        # the canonical detail URL does (and is what tier 2 and tier 3 check).
        detail = detail_url(base_url, str(zpid))
    listing = Listing(
        listing_id=str(zpid),
        source=source,
        url=urljoin(base_url.rstrip("/") + "/", detail),
        zipcode=str(zipcode),
        address=str(street),
        city=str(item.get("addressCity") or info.get("city") or ""),
        state=str(item.get("addressState") or info.get("state") or ""),
        price=price,
        status=str(item.get("statusType") or info.get("homeStatus") or "FOR_SALE"),
        property_type=str(info.get("homeType") or "UNKNOWN"),
        scraped_at=scraped_at,
        bedrooms=_int(item.get("beds", info.get("bedrooms"))),
        bathrooms=_float(item.get("baths", info.get("bathrooms"))),
        living_area_sqft=_positive(item.get("area", info.get("livingArea"))),
        lot_sqft=_lot_sqft(info.get("lotAreaValue"), info.get("lotAreaUnit")),
        year_built=_positive(info.get("yearBuilt")),
        latitude=_float(latlong.get("latitude", info.get("latitude"))),
        longitude=_float(latlong.get("longitude", info.get("longitude"))),
        days_on_market=_days(info.get("daysOnZillow")),
        listed_at=None,
        broker=_str(item.get("brokerName")),
        mls_id=None,
        photo_count=_int(item.get("photoCount"))
        if "photoCount" in item
        else (len(photos) if isinstance(photos, list) else None),
    )
    return listing, ""


def _from_property(
    prop: Mapping[str, Any], base_url: str, source: str, scraped_at: datetime
) -> Listing | None:
    zpid = prop.get("zpid")
    price = _positive(prop.get("price"))
    if not zpid or price is None or not prop.get("streetAddress") or not prop.get("zipcode"):
        return None
    attribution = prop.get("attributionInfo") or {}
    detail = prop.get("hdpUrl") or f"/homedetails/{zpid}_zpid/"
    return Listing(
        listing_id=str(zpid),
        source=source,
        url=urljoin(base_url.rstrip("/") + "/", detail),
        zipcode=str(prop["zipcode"]),
        address=str(prop["streetAddress"]),
        city=str(prop.get("city") or ""),
        state=str(prop.get("state") or ""),
        price=price,
        status=str(prop.get("homeStatus") or "UNKNOWN"),
        property_type=str(prop.get("homeType") or "UNKNOWN"),
        scraped_at=scraped_at,
        bedrooms=_int(prop.get("bedrooms")),
        bathrooms=_float(prop.get("bathrooms")),
        living_area_sqft=_positive(prop.get("livingArea")),
        lot_sqft=_lot_sqft(prop.get("lotAreaValue", prop.get("lotSize")), prop.get("lotAreaUnit")),
        year_built=_positive(prop.get("yearBuilt")),
        latitude=_float(prop.get("latitude")),
        longitude=_float(prop.get("longitude")),
        days_on_market=_days(prop.get("daysOnZillow")),
        listed_at=_date(prop.get("datePostedString") or prop.get("datePosted")),
        broker=_str(attribution.get("brokerName") or prop.get("brokerageName")),
        mls_id=_str(attribution.get("mlsId")),
        photo_count=_int(prop.get("photoCount")),
    )


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return round(value)
    if isinstance(value, str):
        try:
            return round(float(value.replace(",", "")))
        except ValueError:
            return None
    return None


def _positive(value: Any) -> int | None:
    """A count or size that only means something above 0 (0 = not given on real pages)."""
    number = _int(value)
    return number if number is not None and number > 0 else None


def _days(value: Any) -> int | None:
    """Days on market; Zillow sends -1 (any negative) for unknown, which becomes null."""
    number = _int(value)
    return number if number is not None and number >= 0 else None


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _str(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _price_text(value: Any) -> int | None:
    """'$1,250,000' → 1250000; texts like '$1.2M' or 'Est. ...' are not trusted (None)."""
    if not isinstance(value, str) or not value.startswith("$") or value[-1:].isalpha():
        return None
    digits = _PRICE_DIGITS.sub("", value)
    return int(digits) if digits else None


def _lot_sqft(value: Any, unit: Any) -> int | None:
    number = _float(value)
    if number is None or number <= 0:
        return None
    if isinstance(unit, str) and unit.lower().startswith("acre"):
        number *= SQFT_PER_ACRE
    return round(number)


def _date(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
