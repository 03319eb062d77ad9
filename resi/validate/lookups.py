"""Spot-check lookups through a ``ListingSource``: cached per epoch, bounded, retried.

Each listing key is looked up once per epoch however many miners claim it, and the lookup is
built from that canonical key alone (``listing_for_key``): never from a url, id spelling or any
other value a miner wrote, so the cached result belongs to the listing, not to whoever asked
first. A key that is not a canonical id is never looked up (spot checks treat such draws
without asking the source). A transient failure
(``SourceUnavailable``) is retried with exponential backoff; if it persists, or the page cannot be
parsed, the lookup is recorded as UNVERIFIABLE, which scoring never holds against the miner.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, MutableMapping
from datetime import UTC, datetime
from typing import Any

import anyio
import anyio.lowlevel

from resi.errors import ParseError, SourceOutage, SourceUnavailable
from resi.score.models import Lookup, LookupRequest, LookupStatus, Observed
from resi.score.tiers import is_canonical_id
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


_NO_TIME = datetime(1970, 1, 1, tzinfo=UTC)


def listing_for_key(key: str) -> Listing:
    """The query for a spot-check lookup: the canonical id and nothing a miner wrote."""
    return Listing(
        listing_id=key,
        source="",
        url="",
        zipcode="",
        address="",
        city="",
        state="",
        price=0,
        status="",
        property_type="",
        scraped_at=_NO_TIME,
    )


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


UNAVAILABLE = "source unavailable: "  # the detail of a lookup that never reached the site
OUTAGE_MIN_LOOKUPS = 3


def unreachable(lookup: Lookup) -> bool:
    """True for a lookup that stayed UNVERIFIABLE because the site could not be reached."""
    return lookup.status is LookupStatus.UNVERIFIABLE and lookup.detail.startswith(UNAVAILABLE)


async def lookup_one(
    source: ListingSource,
    request: LookupRequest,
    *,
    attempts: int = 3,
    backoff: float = 1.0,
) -> Lookup:
    """Look one listing up; FOUND / GONE, or UNVERIFIABLE after ``attempts`` transient failures.

    Only ``request.key`` reaches the source. A non-canonical key, a page that cannot be parsed
    and any other failure of the source adapter are UNVERIFIABLE (never held against a miner).
    """
    if not is_canonical_id(request.key):
        return Lookup(LookupStatus.UNVERIFIABLE, detail="not a canonical listing id")
    listing = listing_for_key(request.key)
    detail = ""
    for attempt in range(attempts):
        try:
            found = await source.lookup(listing)
        except SourceUnavailable as exc:
            detail = f"{UNAVAILABLE}{exc}"
            if attempt + 1 < attempts:
                await anyio.sleep(backoff * 2**attempt)
            continue
        except ParseError as exc:
            return Lookup(LookupStatus.UNVERIFIABLE, detail=f"unparseable page: {exc}")
        except Exception as exc:  # an adapter bug must not stop the epoch: not verifiable
            log.warning("lookup of %s failed: %r", request.key, exc)
            return Lookup(LookupStatus.UNVERIFIABLE, detail=f"lookup failed: {type(exc).__name__}")
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
    """Fill ``cache`` with the requested keys it lacks; returns how many were looked up.

    Raises ``SourceOutage`` when the first ``OUTAGE_MIN_LOOKUPS`` lookups to finish could not
    reach the site and none did (the rest are cancelled): the site is down for this validator,
    and an epoch validated now would leave every file unverified, unpaid through no fault of its
    miner. Those lookups are not cached, so the retried round asks again. A site that answers
    some lookups keeps the per-listing rule: an unreachable listing is UNVERIFIABLE.
    """
    todo = {r.key: r for r in requests if r.key not in cache}
    reached = failed = 0
    outage = False

    queue = iter(sorted(todo))

    async def worker(scope: anyio.CancelScope) -> None:
        # ``concurrency`` workers take the keys in order, each only after its previous verdict
        # (one task per lookup held a coroutine for every key at once: ~6 KB each)
        nonlocal reached, failed, outage
        for key in queue:
            await anyio.lowlevel.checkpoint_if_cancelled()  # another worker found an outage
            lookup = await lookup_one(source, todo[key], attempts=attempts, backoff=backoff)
            cache[key] = lookup
            if not unreachable(lookup):
                reached += 1
                continue
            failed += 1
            if reached == 0 and failed >= min(OUTAGE_MIN_LOOKUPS, len(todo)):
                outage = True
                scope.cancel()
                return

    async with anyio.create_task_group() as tg:
        for _ in range(min(max(1, concurrency), len(todo))):
            tg.start_soon(worker, tg.cancel_scope)
    if outage and len(todo) >= OUTAGE_MIN_LOOKUPS:
        for key in todo:
            cache.pop(key, None)
        raise SourceOutage(
            f"the listing site is unreachable: {failed} lookups failed, none answered; "
            "validation waits for it"
        )
    return len(todo)
