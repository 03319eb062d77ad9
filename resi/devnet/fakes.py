"""How the devnet's cheating miners doctor their data (pure, seeded): the row transforms behind
`lazy`, `padder`, `fabricator`, `honeypot-responder`, `mismatch-fabricator`, `delisted-padder`
and the fresh stamps of `stale` and `sybil-coldkey`.

Fabricated listings are clones of real ones with a fresh id (also inside the url, so tier 2's
consistency check still passes) and a nudged price: plausible enough to reach the spot check,
where the listing site says they do not exist.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from resi.scrape.listing import Listing

# Fabricated ids live in a range real sites do not hand out in the simulated market.
_FAKE_ID_BASE = 8_000_000_000


def rng_for(*parts: str) -> random.Random:
    """A private PRNG seeded from ``parts`` (never the global one), so runs are repeatable."""
    digest = hashlib.sha256(":".join(parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def fabricate_from(template: Listing, rng: random.Random, taken: set[str]) -> Listing:
    """A listing that looks like ``template`` but does not exist: new id, url and price."""
    while True:
        new_id = str(_FAKE_ID_BASE + rng.randrange(1_000_000_000))
        if new_id not in taken:
            taken.add(new_id)
            break
    url = template.url.replace(template.listing_id, new_id)
    if url == template.url:
        url = f"{template.url.rstrip('/')}/{new_id}_zpid/"
    price = max(10_000, int(template.price * rng.uniform(0.8, 1.2)))
    return replace(template, listing_id=new_id, url=url, price=price, mls_id=None)


def halve(listings: Sequence[Listing]) -> list[Listing]:
    """`lazy`: keep the first half (by id) of what was scraped."""
    ordered = sorted(listings, key=lambda item: item.listing_id)
    return ordered[: len(ordered) // 2]


def pad(listings: Sequence[Listing], share: float, rng: random.Random) -> list[Listing]:
    """`padder`: the real listings plus ``share`` × as many fabricated ones (at least one)."""
    if not listings:
        return []
    taken = {item.listing_id for item in listings}
    count = max(1, round(len(listings) * share))
    fakes = [fabricate_from(rng.choice(listings), rng, taken) for _ in range(count)]
    out = [*listings, *fakes]
    rng.shuffle(out)
    return out


def fabricate_all(listings: Sequence[Listing], rng: random.Random) -> list[Listing]:
    """`fabricator`: as many listings as were found, every one of them invented."""
    taken = {item.listing_id for item in listings}
    return [fabricate_from(item, rng, taken) for item in listings]


def fill_empty(
    zipcode: str,
    expected: int,
    state: str,
    city: str,
    templates: Sequence[Listing],
    rng: random.Random,
) -> list[Listing]:
    """`honeypot-responder`: ``expected`` invented listings for a zipcode that has none.

    Templates come from the miner's other zipcodes; returns [] when there are none.
    """
    if not templates:
        return []
    taken = {item.listing_id for item in templates}
    out = []
    for _ in range(max(1, expected)):
        fake = fabricate_from(rng.choice(templates), rng, taken)
        out.append(replace(fake, zipcode=zipcode, state=state, city=city))
    return out


# ------------------------------------------------------------------ mechanism v2 (issue 14)


def restamp(listings: Sequence[Listing], scraped_at: datetime) -> list[Listing]:
    """The same rows with ``scraped_at`` rewritten (a fresh stamp on old or copied data)."""
    return [replace(item, scraped_at=scraped_at) for item in listings]


def invent_values(listings: Sequence[Listing], rng: random.Random) -> list[Listing]:
    """`mismatch-fabricator`: real ids and urls, invented values (price, rooms, living area)."""
    out = []
    for item in listings:
        beds = (item.bedrooms or 2) + rng.choice((-1, 1, 2))
        area = int((item.living_area_sqft or 1_200) * rng.uniform(1.2, 1.6))
        out.append(
            replace(
                item,
                price=int(item.price * rng.uniform(1.3, 1.8)),
                bedrooms=max(0, beds),
                living_area_sqft=area,
            )
        )
    return out


def pad_with_delisted(
    listings: Sequence[Listing], delisted: Sequence[Listing], share: float
) -> list[Listing]:
    """`delisted-padder`: the real listings plus up to ``share`` × as many delisted ones, still
    claimed active (that is what would inflate the zipcode's share)."""
    live = {item.listing_id for item in listings}
    extra = [item for item in delisted if item.listing_id not in live]
    extra = extra[: round(len(listings) * share)]
    return [*listings, *(replace(item, status="FOR_SALE") for item in extra)]
