"""The simulated market's data: a deterministic, slowly changing set of listings per zipcode.

Pure: every value is a function of ``(seed, zipcode, time)``. Each zipcode has ``n`` listing
*slots*; slot ``k`` holds a sequence of listings, each alive for the slot's lifetime (30–150
days) and then replaced by the next generation. So the active count stays at ``n`` while
individual listings are delisted (their detail page then shows SOLD / OFF_MARKET) and new ones
appear. Prices drift along a slow sine (< 0.7% per day). PO-box and unique zipcodes have none,
and so does a deterministic ``EMPTY_STANDARD_RATE`` share of STANDARD zipcodes (no home for sale
right now): those are the ones the devnet believes empty from the market's inventory export
(``inventory_csv``, Realtor.com format), so its honeypots look like normal picks and are empty.

The quirks of the real site (tests/fixtures/real/zillow) show up at realistic rates: lots and
land (~4%, no beds, baths, living area or year), listings whose days on market the site does
not know (~5%, shown as ``-1``), listings that go PENDING for a few days to weeks before they
are SOLD, and per zipcode a few search cards that are not listings (``extra_cards``): building
cards standing for several units (~2% of the listing count) and new-construction community
cards priced as a range such as ``"$0+"`` (~1%).

Listing ids encode ``zipcode | slot | generation | check digits``, so a detail request can be
answered without a database, and ids that never existed (bad check, future generation) 404.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from resi.epoch.models import ZipcodeInfo

ORIGIN = datetime(2020, 1, 1, tzinfo=UTC)
EMPTY_ZIP_TYPES = frozenset({"PO BOX", "UNIQUE"})
# Share of STANDARD zipcodes with nothing for sale; 8% keeps the devnet's honeypot pool large
# enough for the default 8% honeypot share without using any zipcode more often than a real one.
EMPTY_STANDARD_RATE = 0.08
DRIFT_AMPLITUDE = 0.03  # ±3% over a 30-day period → at most ~0.63% change per day
DRIFT_PERIOD_DAYS = 30.0

_STREETS = (
    "Oak", "Maple", "Cedar", "Pine", "Elm", "Washington", "Lake", "Hill", "Sunset", "Park",
    "Main", "Church", "River", "Highland", "Willow", "Jackson", "Lincoln", "Meadow", "Forest",
)  # fmt: skip
_SUFFIXES = ("St", "Ave", "Rd", "Dr", "Ln", "Ct", "Blvd", "Way", "Pl")
_BROKERS = (
    "Keller Williams Realty", "RE/MAX Results", "Coldwell Banker", "Compass",
    "Berkshire Hathaway HomeServices", "eXp Realty", "Redfin", "Century 21",
)  # fmt: skip
_TYPES = (
    ("SINGLE_FAMILY", 0.57),
    ("CONDO", 0.19),
    ("TOWNHOUSE", 0.12),
    ("MULTI_FAMILY", 0.08),
    ("LOT", 0.04),
)
UNKNOWN_DAYS_RATE = 0.05
BUILDING_CARD_RATE = 0.02
RANGE_CARD_RATE = 0.01
_PPSF = {"PREMIUM": (550, 1200), "STANDARD": (180, 420), "EMERGING": (90, 200)}


@dataclass(frozen=True)
class SimListing:
    """One listing as the simulated site shows it at a given time."""

    zpid: int
    zipcode: str
    street: str
    city: str
    state: str
    price: int
    status: str  # FOR_SALE while active; PENDING, then SOLD (or OFF_MARKET) after delisting
    home_type: str
    bedrooms: int | None  # None for lots
    bathrooms: float | None
    living_area: int | None  # None for lots (the page shows 0, as the real site does)
    lot_sqft: int | None
    year_built: int | None
    latitude: float
    longitude: float
    listed_at: datetime
    days_on_market: int | None  # None when the site does not know (the page shows -1)
    broker: str
    mls_id: str
    photo_count: int


@dataclass(frozen=True)
class SimCard:
    """A search card that is not one listing: a building (``units`` for sale inside it, priced
    from ``price``) or a new-construction community priced as a range (``"$price+"``)."""

    kind: str  # "building" or "community"
    card_id: int
    zipcode: str
    street: str
    city: str
    state: str
    price: int
    units: int
    latitude: float
    longitude: float


@dataclass(frozen=True)
class _Static:
    """Time-independent attributes of one (zipcode, slot, generation)."""

    street: str
    home_type: str
    bedrooms: int | None
    bathrooms: float | None
    living_area: int | None
    lot_sqft: int | None
    year_built: int | None
    lat_offset: float
    lon_offset: float
    base_price: int
    drift_phase: float
    broker: str
    mls_number: int
    photo_count: int
    gone_status: str
    days_unknown: bool
    pending_days: float


class SimMarketData:
    """Listings of every zipcode for one seed; ``catalog`` gives counts, places and tiers."""

    def __init__(
        self,
        catalog: Mapping[str, ZipcodeInfo],
        seed: int,
        empty_rate: float = EMPTY_STANDARD_RATE,
    ) -> None:
        """``empty_rate``: share of STANDARD zipcodes with nothing for sale (0 = none)."""
        self.catalog = catalog
        self.seed = seed
        self.empty_rate = empty_rate
        self._static = lru_cache(maxsize=200_000)(self._make_static)
        self._zip_cache: dict[str, tuple[ZipcodeInfo, int, list[tuple[float, float]]]] = {}

    # ------------------------------------------------------------------ zipcode level

    def zip_info(self, zipcode: str) -> ZipcodeInfo:
        """The catalog row, or a deterministic stand-in for zipcodes not in the catalog."""
        info = self.catalog.get(zipcode)
        if info is not None:
            return info
        rng = self._rng("zip", zipcode)
        return ZipcodeInfo(
            zipcode=zipcode,
            state="ZZ",
            city=f"Town {zipcode}",
            county="",
            lat=30.0 + rng.random() * 15,
            lon=-120.0 + rng.random() * 45,
            zip_type="STANDARD",
            expected_listings=rng.randint(200, 1500),
        )

    def slots(self, zipcode: str) -> tuple[ZipcodeInfo, int, list[tuple[float, float]]]:
        """``(info, slot count, [(lifetime_days, phase_days)] per slot)`` for a zipcode."""
        cached = self._zip_cache.get(zipcode)
        if cached is not None:
            return cached
        info = self.zip_info(zipcode)
        rng = self._rng("slots", zipcode)
        if (
            info.zip_type.upper() in EMPTY_ZIP_TYPES
            or not zipcode.isdigit()
            or len(zipcode) != 5
            or self.is_empty(zipcode)
        ):
            count = 0
        else:
            count = round(info.expected_listings * rng.uniform(0.97, 1.12))
        shape = []
        for _ in range(count):
            lifetime = rng.uniform(30.0, 150.0)
            shape.append((lifetime, rng.uniform(0.0, lifetime)))
        result = (info, count, shape)
        self._zip_cache[zipcode] = result
        return result

    def is_empty(self, zipcode: str) -> bool:
        """True for the deterministic ``empty_rate`` share of zipcodes with no homes for
        sale (a function of seed and zipcode only; PO-box/unique zipcodes are empty anyway)."""
        return self._rng("empty", zipcode).random() < self.empty_rate

    def inventory_count(self, zipcode: str) -> int:
        """Active listings of ``zipcode`` (the slot count, without building the slots)."""
        cached = self._zip_cache.get(zipcode)
        if cached is not None:
            return cached[1]
        info = self.zip_info(zipcode)
        if info.zip_type.upper() in EMPTY_ZIP_TYPES or self.is_empty(zipcode):
            return 0
        # Same first draw as ``slots``.
        return round(info.expected_listings * self._rng("slots", zipcode).uniform(0.97, 1.12))

    def inventory_csv(self, zipcodes: Iterable[str], month: str) -> str:
        """A Realtor.com "Inventory Core Metrics by zip"-format CSV of ``zipcodes`` for ``month``
        (``YYYYMM``): active listing count and a median price per zipcode, as the devnet's
        imported inventory data."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["month_date_yyyymm", "postal_code", "active_listing_count",
                         "median_listing_price"])  # fmt: skip
        for zipcode in sorted(set(zipcodes)):
            info = self.zip_info(zipcode)
            lo, hi = _PPSF.get(str(info.market_tier).upper(), _PPSF["STANDARD"])
            price = round(1_700 * (lo + hi) / 2, -3)  # a typical ~1,700 sqft home
            writer.writerow([month, zipcode, self.inventory_count(zipcode), int(price)])
        return buf.getvalue()

    def active(self, zipcode: str, now: datetime) -> list[SimListing]:
        """Listings for sale in ``zipcode`` at ``now``, sorted by zpid."""
        _, count, shape = self.slots(zipcode)
        days = _days(now)
        out = []
        for slot in range(count):
            lifetime, phase = shape[slot]
            generation = math.floor((days + phase) / lifetime)
            out.append(self._listing(zipcode, slot, generation, now, days))
        out.sort(key=lambda item: item.zpid)
        return out

    def extra_cards(self, zipcode: str) -> list[SimCard]:
        """The zipcode's building and price-range community cards (stable over time)."""
        info, count, _ = self.slots(zipcode)
        rng = self._rng("cards", zipcode)
        out: list[SimCard] = []
        kinds = ["building"] * round(count * BUILDING_CARD_RATE)
        kinds += ["community"] * round(count * RANGE_CARD_RATE)
        lo, hi = _PPSF.get(str(info.market_tier).upper(), _PPSF["STANDARD"])
        for i, kind in enumerate(kinds):
            price = int(round(rng.uniform(600, 1400) * rng.uniform(lo, hi), -3))
            out.append(
                SimCard(
                    kind=kind,
                    # Never a valid listing id (no check digits): a lookup of it finds nothing.
                    card_id=int(f"9{zipcode}{i:04d}"),
                    zipcode=zipcode,
                    street=f"{rng.randint(1, 9999)} {rng.choice(_STREETS)} {rng.choice(_SUFFIXES)}",
                    city=info.city,
                    state=info.state,
                    # Half of the communities show "$0+" (price not published yet).
                    price=0 if kind == "community" and i % 2 else price,
                    units=rng.randint(2, 24) if kind == "building" else 1,
                    latitude=round(info.lat + rng.gauss(0, 0.015), 6),
                    longitude=round(info.lon + rng.gauss(0, 0.015), 6),
                )
            )
        return out

    # ------------------------------------------------------------------ single listing

    def find(self, zpid: int, now: datetime) -> SimListing | None:
        """The listing with this id at ``now`` (delisted ones too); ``None`` if it never existed."""
        text = str(zpid).zfill(16)
        if len(text) != 16:
            return None
        zipcode, slot, generation = text[:5], int(text[5:9]), int(text[9:13])
        if zpid != self.zpid(zipcode, slot, generation):
            return None
        _, count, shape = self.slots(zipcode)
        if slot >= count:
            return None
        lifetime, phase = shape[slot]
        days = _days(now)
        current = math.floor((days + phase) / lifetime)
        if generation > current or generation < 0:
            return None
        return self._listing(zipcode, slot, generation, now, days)

    def zpid(self, zipcode: str, slot: int, generation: int) -> int:
        """Id of a (zipcode, slot, generation): the fields plus three seeded check digits."""
        digest = hashlib.sha256(f"{self.seed}:{zipcode}:{slot}:{generation}".encode()).digest()
        check = int.from_bytes(digest[:4], "big") % 1000
        return int(f"{zipcode}{slot:04d}{generation % 10_000:04d}{check:03d}")

    def _listing(
        self, zipcode: str, slot: int, generation: int, now: datetime, days: float
    ) -> SimListing:
        info, _, shape = self.slots(zipcode)
        lifetime, phase = shape[slot]
        st = self._static(zipcode, slot, generation)
        start_days = generation * lifetime - phase
        end_days = start_days + lifetime
        gone = days >= end_days
        at_days = min(days, end_days)
        drift = 1 + DRIFT_AMPLITUDE * math.sin(
            2 * math.pi * at_days / DRIFT_PERIOD_DAYS + st.drift_phase
        )
        listed_at = ORIGIN + timedelta(days=start_days)
        status = "FOR_SALE"
        if gone:
            # A sale goes under contract first: PENDING for a while, then SOLD.
            pending = st.gone_status == "SOLD" and days - end_days < st.pending_days
            status = "PENDING" if pending else st.gone_status
        return SimListing(
            zpid=self.zpid(zipcode, slot, generation),
            zipcode=zipcode,
            street=st.street,
            city=info.city,
            state=info.state,
            price=int(round(st.base_price * drift, -2)),
            status=status,
            home_type=st.home_type,
            bedrooms=st.bedrooms,
            bathrooms=st.bathrooms,
            living_area=st.living_area,
            lot_sqft=st.lot_sqft,
            year_built=st.year_built,
            latitude=round(info.lat + st.lat_offset, 6),
            longitude=round(info.lon + st.lon_offset, 6),
            listed_at=listed_at.replace(microsecond=0),
            days_on_market=None if st.days_unknown else max(0, int(at_days - start_days)),
            broker=st.broker,
            mls_id=f"{info.state}{st.mls_number}",
            photo_count=st.photo_count,
        )

    def _make_static(self, zipcode: str, slot: int, generation: int) -> _Static:
        info = self.zip_info(zipcode)
        rng = self._rng("listing", zipcode, slot, generation)
        home_type = rng.choices([t for t, _ in _TYPES], weights=[w for _, w in _TYPES])[0]
        beds = rng.choices([1, 2, 3, 4, 5, 6], weights=[8, 22, 35, 22, 9, 4])[0]
        baths = max(1.0, min(beds + 1.0, round(beds * rng.uniform(0.5, 1.1) * 2) / 2))
        area = int(round(350 + beds * rng.uniform(380, 620), -1))
        lot = None if home_type == "CONDO" else int(area * rng.uniform(1.5, 8.0))
        lo, hi = _PPSF.get(str(info.market_tier).upper(), _PPSF["STANDARD"])
        is_lot = home_type == "LOT"
        street = f"{rng.randint(1, 9999)} {rng.choice(_STREETS)} {rng.choice(_SUFFIXES)}"
        year = rng.randint(1900, 2024)
        return _Static(
            street=street,
            home_type=home_type,
            # Lots and land: no rooms, no living area, no year; the land is larger.
            bedrooms=None if is_lot else beds,
            bathrooms=None if is_lot else baths,
            living_area=None if is_lot else area,
            lot_sqft=lot * 6 if is_lot and lot else lot,
            year_built=None if is_lot else year,
            lat_offset=rng.gauss(0, 0.015),
            lon_offset=rng.gauss(0, 0.015),
            base_price=int(round(area * rng.uniform(lo, hi), -3)),
            drift_phase=rng.uniform(0, 2 * math.pi),
            broker=rng.choice(_BROKERS),
            mls_number=rng.randint(10_000_000, 99_999_999),
            photo_count=rng.randint(4, 45),
            gone_status="SOLD" if rng.random() < 0.7 else "OFF_MARKET",
            # Drawn last, so every attribute above keeps the value it had before these quirks.
            days_unknown=rng.random() < UNKNOWN_DAYS_RATE,
            pending_days=rng.uniform(3.0, 45.0),
        )

    def _rng(self, *parts: object) -> random.Random:
        key = ":".join(str(p) for p in (self.seed, *parts)).encode()
        return random.Random(int.from_bytes(hashlib.sha256(key).digest()[:8], "big"))


def _days(now: datetime) -> float:
    return (now - ORIGIN).total_seconds() / 86_400
