"""HTML of the simulated market, in the Zillow page format the parser reads (pure functions)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from resi.scrape.sim.market import SimCard, SimListing

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body><div id="__next"><h1>{title}</h1></div>
<script id="__NEXT_DATA__" type="application/json">{data}</script>
</body></html>
"""

BLOCK_PAGE = """<!DOCTYPE html>
<html lang="en"><head><title>Access to this page has been denied</title></head>
<body><div id="px-captcha-wrapper"><h1>Press &amp; Hold to confirm you are a human
(and not a bot).</h1><div id="px-captcha"></div></div></body></html>
"""

NOT_FOUND_PAGE = """<!DOCTYPE html>
<html lang="en"><head><title>Page not found</title></head>
<body><h1>This page could not be found.</h1></body></html>
"""


def _render(title: str, data: dict[str, Any]) -> str:
    # "</" inside a script would end it early; JSON allows the escaped form.
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return _PAGE.format(title=title, data=payload)


def _slug(item: SimListing) -> str:
    text = f"{item.street} {item.city} {item.state} {item.zipcode}"
    return "-".join("".join(c for c in part if c.isalnum()) for part in text.split())


def detail_path(item: SimListing) -> str:
    return f"/homedetails/{_slug(item)}/{item.zpid}_zpid/"


def search_item(item: SimListing) -> dict[str, Any]:
    """One ``listResults`` entry."""
    return {
        "zpid": str(item.zpid),
        "id": str(item.zpid),
        "detailUrl": detail_path(item),
        "statusType": item.status,
        "statusText": f"{item.home_type.replace('_', ' ').title()} for sale",
        "price": f"${item.price:,}",
        "unformattedPrice": item.price,
        "address": f"{item.street}, {item.city}, {item.state} {item.zipcode}",
        "addressStreet": item.street,
        "addressCity": item.city,
        "addressState": item.state,
        "addressZipcode": item.zipcode,
        "beds": item.bedrooms,
        "baths": item.bathrooms,
        # The real site's placeholders: 0 for "no living area" (lots), -1 for unknown days.
        "area": item.living_area or 0,
        "latLong": {"latitude": item.latitude, "longitude": item.longitude},
        "brokerName": item.broker,
        "photoCount": item.photo_count,
        # Like the real cards, only the first few photos ride along with a search result.
        "carouselPhotos": [
            {"url": f"https://photos.example/{item.zpid}/{i}.jpg"}
            for i in range(min(item.photo_count, 3))
        ],
        "hdpData": {
            "homeInfo": {
                "zpid": item.zpid,
                "streetAddress": item.street,
                "zipcode": item.zipcode,
                "city": item.city,
                "state": item.state,
                "latitude": item.latitude,
                "longitude": item.longitude,
                "price": item.price,
                "bathrooms": item.bathrooms,
                "bedrooms": item.bedrooms,
                "livingArea": item.living_area or 0,
                "homeType": item.home_type,
                "homeStatus": item.status,
                "daysOnZillow": _days(item),
                "yearBuilt": item.year_built,
                "lotAreaValue": item.lot_sqft,
                "lotAreaUnit": "sqft" if item.lot_sqft is not None else None,
            }
        },
    }


def _days(item: SimListing) -> int:
    return -1 if item.days_on_market is None else item.days_on_market


def extra_item(card: SimCard) -> dict[str, Any]:
    """A ``listResults`` entry that is not one listing, in the real site's shapes."""
    place = {
        "addressStreet": card.street,
        "addressCity": card.city,
        "addressState": card.state,
        "addressZipcode": card.zipcode,
        "address": f"{card.street}, {card.city}, {card.state} {card.zipcode}",
    }
    if card.kind == "building":
        ll = f"{card.latitude:g}--{card.longitude:g}"
        return {
            "zpid": ll,
            "id": ll,
            "detailUrl": f"/b/building/{card.latitude:g},{card.longitude:g}_ll/",
            "statusType": "FOR_SALE",
            "statusText": f"{card.street} condominiums",
            **place,
            "units": [{"price": f"${card.price:,}+", "beds": "1", "roomForRent": False}],
            "latLong": {"latitude": card.latitude, "longitude": card.longitude},
            "buildingName": f"{card.street} condominiums",
            "isBuilding": True,
            "availabilityCount": card.units,
        }
    return {
        "zpid": str(card.card_id),
        "id": str(card.card_id),
        "detailUrl": f"/community/{card.city.lower().replace(' ', '-')}/{card.card_id}_zpid/",
        "statusType": "FOR_SALE",
        "statusText": "New construction",
        "price": f"${card.price:,}+",
        "unformattedPrice": card.price,
        **place,
        "latLong": {"latitude": card.latitude, "longitude": card.longitude},
        "hdpData": {
            "homeInfo": {
                "zpid": card.card_id,
                "zipcode": card.zipcode,
                "price": card.price,
                "homeType": "SINGLE_FAMILY",
                "homeStatus": "FOR_SALE",
                "daysOnZillow": -1,
                "listing_sub_type": {"is_newHome": True},
            }
        },
    }


def search_page(
    zipcode: str,
    items: Sequence[SimListing | SimCard],
    *,
    page: int,
    total: int,
    total_pages: int,
    per_page: int,
) -> str:
    """A search result page: ``items`` of ``page`` plus totals for the whole query."""
    data = {
        "props": {
            "pageProps": {
                "searchPageState": {
                    "currentPage": page,
                    "queryState": {"usersSearchTerm": zipcode},
                    "cat1": {
                        "searchResults": {
                            "listResults": [
                                extra_item(i) if isinstance(i, SimCard) else search_item(i)
                                for i in items
                            ]
                        },
                        "searchList": {
                            "totalResultCount": total,
                            "totalPages": total_pages,
                            "resultsPerPage": per_page,
                        },
                    },
                }
            }
        },
        "page": "/search/GetSearchPageState",
    }
    return _render(f"{zipcode} Real Estate & Homes For Sale", data)


def detail_page(item: SimListing) -> str:
    """A listing detail page (active or delisted)."""
    prop = {
        "zpid": item.zpid,
        "hdpUrl": detail_path(item),
        "streetAddress": item.street,
        "city": item.city,
        "state": item.state,
        "zipcode": item.zipcode,
        "price": item.price,
        "homeStatus": item.status,
        "homeType": item.home_type,
        "bedrooms": item.bedrooms,
        "bathrooms": item.bathrooms,
        "livingArea": item.living_area or 0,
        "lotAreaValue": item.lot_sqft,
        "lotAreaUnit": "sqft" if item.lot_sqft is not None else None,
        "yearBuilt": item.year_built,
        "latitude": item.latitude,
        "longitude": item.longitude,
        "daysOnZillow": _days(item),
        "datePostedString": item.listed_at.date().isoformat(),
        "photoCount": item.photo_count,
        "attributionInfo": {"brokerName": item.broker, "mlsId": item.mls_id},
    }
    cache = {f'ForSaleShopperPlatformFullRenderQuery{{"zpid":{item.zpid}}}': {"property": prop}}
    data = {"props": {"pageProps": {"componentProps": {"gdpClientCache": json.dumps(cache)}}}}
    return _render(
        f"{item.street}, {item.city}, {item.state} {item.zipcode} | MLS #{item.mls_id}", data
    )
