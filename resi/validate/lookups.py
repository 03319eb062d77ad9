"""Spot-check lookups through a ``ListingSource``: cached per epoch, bounded, retried.

Each listing key is looked up once per epoch however many miners claim it. A transient failure
(``SourceUnavailable``) is retried with exponential backoff; if it persists, or the page cannot be
parsed, the lookup is recorded as UNVERIFIABLE, which scoring never holds against the miner.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, MutableMapping
from datetime import datetime
from typing import Any

import anyio

from resi.errors import ParseError, SourceUnavailable
from resi.score.models import Lookup, LookupRequest, LookupStatus, Observed
from resi.scrape.listing import LISTING_SCHEMA, Listing
from resi.scrape.source import ListingSource

log = logging.getLogger(__name__)

_TIMESTAMPS = {f.name for f in LISTING_SCHEMA if str(f.type).startswith("timestamp")}


def listing_from_claimed(claimed: Mapping[str, Any]) -> Listing:
    """Rebuild the claimed ``Listing`` from a sampled row (timestamps arrive as ISO strings)."""
    values: dict[str, Any] = {}
    for name in LISTING_SCHEMA.names:
        value = claimed.get(name)
        if name in _TIMESTAMPS and isinstance(value, str):
            value = datetime.fromisoformat(value)
        values[name] = value
    return Listing(**values)


def observed_from(listing: Listing) -> Observed:
    """The fields tier 3 compares, as the source shows them."""
    return Observed(
        price=listing.price,
        bedrooms=listing.bedrooms,
        bathrooms=listing.bathrooms,
        living_area_sqft=listing.living_area_sqft,
        zipcode=listing.zipcode,
        status=listing.status,
    )


async def lookup_one(
    source: ListingSource,
    request: LookupRequest,
    *,
    attempts: int = 3,
    backoff: float = 1.0,
) -> Lookup:
    """Look one listing up; FOUND / GONE, or UNVERIFIABLE after ``attempts`` transient failures."""
    listing = listing_from_claimed(request.claimed)
    detail = ""
    for attempt in range(attempts):
        try:
            found = await source.lookup(listing)
        except SourceUnavailable as exc:
            detail = f"source unavailable: {exc}"
            if attempt + 1 < attempts:
                await anyio.sleep(backoff * 2**attempt)
            continue
        except ParseError as exc:
            return Lookup(LookupStatus.UNVERIFIABLE, detail=f"unparseable page: {exc}")
        if found is None:
            return Lookup(LookupStatus.GONE, detail="source says the listing does not exist")
        return Lookup(LookupStatus.FOUND, observed_from(found))
    return Lookup(LookupStatus.UNVERIFIABLE, detail=detail)


async def fetch_lookups(
    source: ListingSource,
    requests: Iterable[LookupRequest],
    cache: MutableMapping[str, Lookup],
    *,
    concurrency: int = 8,
    attempts: int = 3,
    backoff: float = 1.0,
) -> int:
    """Fill ``cache`` with the requested keys it lacks; returns how many were looked up."""
    todo = {r.key: r for r in requests if r.key not in cache}
    limiter = anyio.CapacityLimiter(concurrency)

    async def one(req: LookupRequest) -> None:
        async with limiter:
            cache[req.key] = await lookup_one(source, req, attempts=attempts, backoff=backoff)

    async with anyio.create_task_group() as tg:
        for key in sorted(todo):
            tg.start_soon(one, todo[key])
    return len(todo)
