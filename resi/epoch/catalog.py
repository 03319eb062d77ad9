"""The zipcode catalog: geography from the ``zipcodes`` package plus expected listing counts.

There is no real listing-count data offline, so the built-in ``expected_listings`` column is a
*deterministic, documented estimate* (``estimate_listings``): a log-normal draw seeded by the
zipcode, scaled by how dense its county is (counties with many zipcodes are urban) and zero for
PO BOX / UNIQUE / MILITARY zipcodes, which have no homes. Operators replace it with real data via
``parse_plain_csv`` or ``parse_realtor_csv`` (Realtor.com "Inventory Core Metrics by zip"), or it
is calibrated from the validators' consensus history with ``calibrate`` (bounded steps).

Parsers are pure: they return a complete new catalog or raise ``CatalogImportError`` listing every
bad line, so a failed import never leaves a half-imported catalog behind.
"""

from __future__ import annotations

import csv
import functools
import gc
import gzip
import hashlib
import io
import logging
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from statistics import NormalDist

from resi.epoch.models import MarketTier, ZipcodeInfo
from resi.errors import CatalogImportError

log = logging.getLogger(__name__)

ESTIMATE_VERSION = "resi-catalog-estimate-v1"
NO_LISTING_TYPES = frozenset({"PO BOX", "UNIQUE", "MILITARY"})
PREMIUM_PRICE = 600_000
EMERGING_PRICE = 200_000

# US Census Bureau regions; territories and military "states" get their own labels.
_REGIONS: dict[str, tuple[str, ...]] = {
    "Northeast": ("CT", "ME", "MA", "NH", "RI", "VT", "NJ", "NY", "PA"),
    "Midwest": ("IL", "IN", "MI", "OH", "WI", "IA", "KS", "MN", "MO", "NE", "ND", "SD"),
    "South": (
        "DE",
        "DC",
        "FL",
        "GA",
        "MD",
        "NC",
        "SC",
        "VA",
        "WV",
        "AL",
        "KY",
        "MS",
        "TN",
        "AR",
        "LA",
        "OK",
        "TX",
    ),
    "West": ("AZ", "CO", "ID", "MT", "NV", "NM", "UT", "WY", "AK", "CA", "HI", "OR", "WA"),
    "Territories": ("PR", "VI", "GU", "AS", "MP", "FM", "MH", "PW"),
    "Military": ("AA", "AE", "AP"),
}
STATE_REGION: dict[str, str] = {s: region for region, states in _REGIONS.items() for s in states}

# Rough relative home-price level per state, used only to pick a plausible market tier for the
# built-in estimate (1.0 = national median).
_PRICE_LEVEL: dict[str, float] = {
    "CA": 2.3, "HI": 2.6, "DC": 2.0, "MA": 1.9, "WA": 1.8, "CO": 1.6, "NJ": 1.5, "NY": 1.4,
    "OR": 1.5, "UT": 1.5, "MT": 1.4, "ID": 1.3, "NH": 1.3, "RI": 1.3, "MD": 1.2, "CT": 1.2,
    "AZ": 1.3, "NV": 1.3, "FL": 1.2, "VA": 1.2, "VT": 1.1, "ME": 1.1, "WV": 0.6, "MS": 0.6,
    "AR": 0.65, "OK": 0.65, "KY": 0.7, "LA": 0.7, "AL": 0.7, "IA": 0.7, "KS": 0.7, "OH": 0.7,
    "IN": 0.7, "MI": 0.75, "MO": 0.75, "NE": 0.8, "ND": 0.8, "SD": 0.85, "PR": 0.5,
}  # fmt: skip


def census_region(state: str) -> str:
    """Census region of a state code (``""`` when unknown)."""
    return STATE_REGION.get(state.upper(), "")


def tier_for_price(median_price: float) -> MarketTier:
    """Market tier from a median listing price (PREMIUM ≥ 600k, EMERGING < 200k)."""
    if median_price >= PREMIUM_PRICE:
        return MarketTier.PREMIUM
    if median_price < EMERGING_PRICE:
        return MarketTier.EMERGING
    return MarketTier.STANDARD


def _uniforms(zipcode: str) -> tuple[float, float]:
    digest = hashlib.sha256(f"{ESTIMATE_VERSION}:{zipcode}".encode()).digest()
    # Two independent uniforms in (0, 1), away from 0/1 so inv_cdf stays finite.
    a = (int.from_bytes(digest[:8], "big") + 0.5) / 2**64
    b = (int.from_bytes(digest[8:16], "big") + 0.5) / 2**64
    return a, b


def estimate_listings(
    zipcode: str, zip_type: str, state: str, county_zipcodes: int
) -> tuple[int, MarketTier]:
    """Deterministic stand-in for (expected listings, market tier) of one zipcode.

    Listings: 90 × density × exp(1.0·z), z ~ N(0,1) seeded by sha256 of the zipcode, density =
    (standard zipcodes in the county / 8)^0.35 clamped to [0.5, 2.5], capped at 6,000; 0 for
    zip types that hold no homes. Tier: a seeded log-normal price around 330k × a state level.
    """
    u1, u2 = _uniforms(zipcode)
    nd = NormalDist()
    level = _PRICE_LEVEL.get(state, 1.0)
    tier = tier_for_price(330_000 * level * math.exp(0.45 * nd.inv_cdf(u2)))
    if zip_type in NO_LISTING_TYPES:
        return 0, tier
    density = min(2.5, max(0.5, (max(county_zipcodes, 1) / 8) ** 0.35))
    return min(6_000, round(90 * density * math.exp(1.0 * nd.inv_cdf(u1)))), tier


def derive_builtin_catalog() -> list[ZipcodeInfo]:
    """Derive the built-in catalog from the ``zipcodes`` package (slow: 2–6 s).

    Every active zipcode with the estimated listing column, sorted by zipcode. This is the
    source of truth of ``BUILTIN_DATA``; ``builtin_catalog`` reads that file instead.
    """
    import zipcodes  # heavy: only when deriving

    raw = [z for z in zipcodes.list_all() if z.get("active")]
    density = Counter(
        (z["state"], z["county"] or "") for z in raw if z["zip_code_type"] == "STANDARD"
    )
    rows = []
    for z in raw:
        county = z["county"] or ""
        expected, tier = estimate_listings(
            z["zip_code"], z["zip_code_type"], z["state"], density[(z["state"], county)]
        )
        rows.append(
            ZipcodeInfo(
                zipcode=z["zip_code"],
                state=z["state"],
                city=z["city"] or "",
                county=county,
                lat=float(z["lat"]),
                lon=float(z["long"]),
                zip_type=z["zip_code_type"],
                expected_listings=expected,
                market_tier=tier,
                region=census_region(z["state"]),
            )
        )
    rows.sort(key=lambda r: r.zipcode)
    return rows


# The derived catalog shipped as package data (regenerate with `python -m resi.epoch.catalog`);
# tests/epoch/test_catalog_data.py fails if it drifts from ``derive_builtin_catalog()``.
BUILTIN_DATA = "data/builtin_catalog.csv.gz"
_DATA_COLUMNS = (
    "zipcode",
    "state",
    "city",
    "county",
    "lat",
    "lon",
    "zip_type",
    "expected_listings",
    "market_tier",
    "region",
)


def encode_catalog_data(rows: Sequence[ZipcodeInfo]) -> bytes:
    """``rows`` as gzipped CSV (floats as ``repr`` so they round-trip exactly; no timestamp)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(_DATA_COLUMNS)
    for z in rows:
        writer.writerow(
            [z.zipcode, z.state, z.city, z.county, repr(float(z.lat)), repr(float(z.lon)),
             z.zip_type, int(z.expected_listings), str(z.market_tier), z.region]
        )  # fmt: skip
    # mtime=0 keeps the file byte-identical across regenerations.
    return gzip.compress(buf.getvalue().encode(), compresslevel=9, mtime=0)


def decode_catalog_data(data: bytes) -> list[ZipcodeInfo]:
    """Rows of ``encode_catalog_data`` output; raises ``CatalogImportError`` if malformed."""
    try:
        lines = gzip.decompress(data).decode().splitlines()
        reader = csv.reader(lines)
        if tuple(next(reader)) != _DATA_COLUMNS:
            raise ValueError("unexpected header")
        tiers = {t.value: t for t in MarketTier}
        # 42k new objects would trigger many cyclic-GC passes that find nothing (≈20% of the
        # load time); these rows hold no cycles, so pause the collector while building them.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            return [
                ZipcodeInfo(
                    zc, st, city, county, float(lat), float(lon), zt, int(n), tiers[tier], reg
                )
                for zc, st, city, county, lat, lon, zt, n, tier, reg in reader
            ]
        finally:
            if gc_was_enabled:
                gc.enable()
    except (OSError, EOFError, ValueError, KeyError, StopIteration) as exc:
        raise CatalogImportError(f"built-in catalog data is corrupt: {exc}") from None


@functools.lru_cache(maxsize=1)
def _builtin() -> tuple[ZipcodeInfo, ...]:
    try:
        data = resources.files("resi.epoch").joinpath(BUILTIN_DATA).read_bytes()
    except OSError:
        # A source tree without the data file still works, just slowly.
        log.warning("built-in catalog data file missing; deriving it from `zipcodes` (slow)")
        return tuple(derive_builtin_catalog())
    return tuple(decode_catalog_data(data))


def builtin_catalog() -> list[ZipcodeInfo]:
    """Every active zipcode of the ``zipcodes`` package with the estimated listing column.

    Read once per process from the shipped package data (≈0.1 s) and cached; the result is a
    fresh list. Identical to ``derive_builtin_catalog()``.
    """
    return list(_builtin())


def write_builtin_data(path: Path | None = None) -> Path:
    """Regenerate the shipped data file from ``zipcodes``; returns the path written."""
    target = path or Path(__file__).with_name("data") / Path(BUILTIN_DATA).name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(encode_catalog_data(derive_builtin_catalog()))
    return target


# --------------------------------------------------------------------------- importers


def _read(source: str | Path | io.TextIOBase) -> list[list[str]]:
    if isinstance(source, io.TextIOBase):
        text = source.read()
    else:
        try:
            text = Path(source).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise CatalogImportError(f"cannot read catalog file {source}: {exc}") from None
    return list(csv.reader(io.StringIO(text)))


def _int(value: str, what: str) -> int:
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{what} {value!r} is not a number") from None
    if not math.isfinite(number) or number < 0 or number != int(number):
        raise ValueError(f"{what} {value!r} must be a whole number ≥ 0")
    return int(number)


def _zipcode(value: str) -> str:
    value = value.strip()
    if value.isdigit() and len(value) <= 5:
        return value.zfill(5)  # spreadsheets drop leading zeros (01001 -> 1001)
    raise ValueError(f"zipcode {value!r} is not a 1-5 digit code")


def _header(rows: list[list[str]], required: Iterable[str]) -> dict[str, int]:
    if not rows:
        raise CatalogImportError("catalog file is empty", [(1, "missing header")])
    index = {name.strip().lower(): i for i, name in enumerate(rows[0])}
    missing = [c for c in required if c not in index]
    if missing:
        raise CatalogImportError(
            f"catalog header lacks {', '.join(missing)}", [(1, f"missing columns {missing}")]
        )
    return index


def _fail_if(problems: list[tuple[int, str]], kind: str) -> None:
    if problems:
        shown = "; ".join(f"line {n}: {msg}" for n, msg in problems[:5])
        more = f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
        raise CatalogImportError(f"{kind} has {len(problems)} bad rows: {shown}{more}", problems)


def parse_plain_csv(
    source: str | Path | io.TextIOBase, base: Sequence[ZipcodeInfo]
) -> list[ZipcodeInfo]:
    """Apply ``zipcode,expected_listings[,market_tier,region]`` rows to ``base``.

    Zipcodes not in the file keep their base values. Returns the new catalog; raises
    ``CatalogImportError`` (with ``(line, message)`` problems) if any row is bad or unknown.
    """
    rows = _read(source)
    col = _header(rows, ("zipcode", "expected_listings"))
    by_zip = {z.zipcode: z for z in base}
    updates: dict[str, ZipcodeInfo] = {}
    problems: list[tuple[int, str]] = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        try:
            cells = {name: row[i].strip() if i < len(row) else "" for name, i in col.items()}
            zipcode = _zipcode(cells["zipcode"])
            if zipcode not in by_zip:
                raise ValueError(f"zipcode {zipcode} is not in the geography catalog")
            if zipcode in updates:
                raise ValueError(f"zipcode {zipcode} appears twice")
            changes: dict[str, object] = {
                "expected_listings": _int(cells["expected_listings"], "expected_listings")
            }
            if cells.get("market_tier"):
                changes["market_tier"] = MarketTier(cells["market_tier"].upper())
            if cells.get("region"):
                changes["region"] = cells["region"]
            updates[zipcode] = replace(by_zip[zipcode], **changes)  # type: ignore[arg-type]
        except ValueError as exc:  # MarketTier(...) raises ValueError too
            problems.append((line, str(exc)))
    _fail_if(problems, "catalog CSV")
    return [updates.get(z.zipcode, z) for z in base]


REALTOR_COLUMNS = (
    "month_date_yyyymm",
    "postal_code",
    "active_listing_count",
    "median_listing_price",
)


@dataclass(frozen=True)
class RealtorRow:
    """One data line of a Realtor.com CSV, judged on its own.

    ``problem`` is None for a usable row; otherwise it says why the row cannot be used (and
    ``zipcode``/``month``/``active_listing_count`` may be None). Blank optional values are None:
    ``median_listing_price`` is optional (the market tier then stays as it was).
    """

    line: int
    zipcode: str | None
    month: int | None
    active_listing_count: int | None
    median_listing_price: float | None
    problem: str | None = None

    @property
    def usable(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class RealtorImport:
    """What a Realtor.com import did: the new catalog and every row's verdict."""

    catalog: list[ZipcodeInfo]
    rows: list[RealtorRow]
    unknown_zipcodes: frozenset[str]

    @property
    def bad_rows(self) -> list[RealtorRow]:
        """Unusable rows, in file order (each has its line number and problem)."""
        return [r for r in self.rows if not r.usable]

    @property
    def applied(self) -> dict[str, RealtorRow]:
        """Zipcode → the row that set it (latest month wins), for zipcodes in the catalog."""
        by_zip: dict[str, RealtorRow] = {}
        for r in self.rows:
            if r.usable and r.zipcode is not None and r.zipcode not in self.unknown_zipcodes:
                held = by_zip.get(r.zipcode)
                if held is None or (r.month or 0) >= (held.month or 0):
                    by_zip[r.zipcode] = r
        return by_zip


def _optional_price(value: str) -> float | None:
    """A median price cell: blank (or ``NA``) is unknown, else it must be a positive number."""
    if value.strip().upper() in ("", "NA", "NAN"):
        return None
    try:
        price = float(value)
    except ValueError:
        raise ValueError(f"median_listing_price {value!r} is not a number") from None
    if not math.isfinite(price) or price <= 0:
        raise ValueError(f"median_listing_price {value!r} must be a positive number")
    return price


def read_realtor_rows(source: str | Path | io.TextIOBase) -> list[RealtorRow]:
    """Judge every data line of a Realtor.com "Inventory Core Metrics by zip" CSV on its own.

    Returns one ``RealtorRow`` per non-blank line (line numbers count the header as line 1);
    raises ``CatalogImportError`` only when the file cannot be read or the header lacks a needed
    column. Zero-inventory zipcodes are rows with ``active_listing_count == 0``.
    """
    rows = _read(source)
    col = _header(rows, REALTOR_COLUMNS)
    out: list[RealtorRow] = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        cells = {name: row[i].strip() if i < len(row) else "" for name, i in col.items()}
        zipcode = month = count = None
        try:
            raw_month = cells["month_date_yyyymm"]
            if not (raw_month.isdigit() and len(raw_month) == 6 and 1 <= int(raw_month[4:]) <= 12):
                raise ValueError(f"month_date_yyyymm {raw_month!r} is not YYYYMM")
            month = int(raw_month)
            zipcode = _zipcode(cells["postal_code"])
            if not cells["active_listing_count"]:
                raise ValueError("active_listing_count is blank")
            count = _int(cells["active_listing_count"], "active_listing_count")
            price = _optional_price(cells["median_listing_price"])
        except ValueError as exc:
            out.append(RealtorRow(line, zipcode, month, count, None, str(exc)))
            continue
        out.append(RealtorRow(line, zipcode, month, count, price))
    return out


def import_realtor_csv(
    source: str | Path | io.TextIOBase, base: Sequence[ZipcodeInfo], *, strict: bool = True
) -> RealtorImport:
    """Apply a Realtor.com "Inventory Core Metrics by zip" CSV to ``base``, judging rows one by one.

    For each ``postal_code`` the usable row with the latest ``month_date_yyyymm`` wins: expected
    listings = ``active_listing_count``; the tier follows ``median_listing_price`` when given and
    stays as it was when that cell is blank. Zipcodes absent from ``base`` are not applied
    (Realtor.com lists some retired codes). An unusable row is reported with its line number:
    ``strict`` raises ``CatalogImportError`` listing every one (nothing imported); otherwise the
    rows are skipped and returned in ``bad_rows``.
    """
    judged = read_realtor_rows(source)
    bad = [(r.line, r.problem or "") for r in judged if not r.usable]
    if strict:
        _fail_if(bad, "Realtor.com CSV")
    for line, problem in bad:
        log.warning("Realtor.com CSV line %d skipped: %s", line, problem)
    known = {z.zipcode for z in base}
    unknown = frozenset(
        r.zipcode for r in judged if r.usable and r.zipcode is not None and r.zipcode not in known
    )
    result = RealtorImport([], judged, unknown)
    latest = result.applied
    out = []
    for z in base:
        r = latest.get(z.zipcode)
        if r is not None and r.active_listing_count is not None:
            changes: dict[str, object] = {"expected_listings": r.active_listing_count}
            if r.median_listing_price is not None:
                changes["market_tier"] = tier_for_price(r.median_listing_price)
            z = replace(z, **changes)  # type: ignore[arg-type]
        out.append(z)
    return RealtorImport(out, judged, unknown)


def parse_realtor_csv(
    source: str | Path | io.TextIOBase, base: Sequence[ZipcodeInfo], *, strict: bool = True
) -> tuple[list[ZipcodeInfo], int]:
    """``import_realtor_csv`` as ``(catalog, unknown_zipcode_count)`` (the original interface)."""
    result = import_realtor_csv(source, base, strict=strict)
    return result.catalog, len(result.unknown_zipcodes)


def write_plain_csv(rows: Sequence[ZipcodeInfo]) -> str:
    """The catalog as plain CSV text (``zipcode,expected_listings,market_tier,region``)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["zipcode", "expected_listings", "market_tier", "region"])
    for z in rows:
        writer.writerow([z.zipcode, z.expected_listings, str(z.market_tier), z.region])
    return buf.getvalue()


# --------------------------------------------------------------------------- calibration


def step_toward(expected: int, observed: int, max_step: float) -> int:
    """``expected`` moved toward ``observed`` by at most ``max_step`` × max(expected, 1).

    The bound is why no single epoch's consensus (a padded file, a colluding minority that
    still reached the median) can swing the shown count more than a fixed factor per epoch.
    """
    if max_step <= 0:
        raise ValueError("max_step must be > 0")
    room = max_step * max(expected, 1)
    # Round half up (not to even), so even a count of 0 can grow.
    return math.floor(expected + max(-room, min(room, observed - expected)) + 0.5)


def calibrate(
    catalog: Sequence[ZipcodeInfo], history: Mapping[str, Sequence[int]], max_step: float = 0.5
) -> list[ZipcodeInfo]:
    """The catalog with expected listings walked through each zipcode's consensus history.

    ``history`` holds the per-epoch consensus counts (stake-weighted medians), oldest first. Each
    epoch moves the count by a bounded step (``step_toward``). An epoch validated *empty* (0)
    leaves the count unchanged: a believed-empty zipcode keeps the count it would show as a real
    pick, so as a honeypot it shows exactly that (docs/honeypots.md). Returns a new list.
    """
    out = []
    for z in catalog:
        counts = history.get(z.zipcode)
        if counts:
            expected = z.expected_listings
            for c in counts:
                if c > 0:
                    expected = step_toward(expected, c, max_step)
            if expected != z.expected_listings:
                z = replace(z, expected_listings=expected)
        out.append(z)
    return out


def validated_empty(history: Mapping[str, Sequence[int]], min_epochs: int = 1) -> set[str]:
    """Zipcodes whose last ``min_epochs`` consensus counts were all 0 (honeypot material).

    A later positive count (listings found, or a honeypot contradicted) ends the belief.
    """
    n = max(1, min_epochs)
    return {z for z, counts in history.items() if len(counts) >= n and not any(counts[-n:])}


def zero_inventory(base: Sequence[ZipcodeInfo], imported: Sequence[ZipcodeInfo]) -> set[str]:
    """STANDARD zipcodes that an inventory import (``parse_realtor_csv``) shows with 0 listings
    while ``base`` expected some: honeypot beliefs from imported data.

    Keep ``base`` as the served catalog for these zipcodes (``keep_shown_counts``): serving the
    imported 0 would take them out of the selectable range, and serving anything else than what
    a real pick would show gives them away.
    """
    before = {z.zipcode: z for z in base}
    return {
        z.zipcode
        for z in imported
        if z.zip_type == "STANDARD"
        and z.expected_listings == 0
        and z.zipcode in before
        and before[z.zipcode].expected_listings > 0
    }


def inventory_beliefs(
    base: Sequence[ZipcodeInfo], imported: Sequence[ZipcodeInfo]
) -> tuple[set[str], list[ZipcodeInfo]]:
    """``(believed-empty zipcodes, catalog to serve)`` of an inventory import: ``zero_inventory``
    then ``keep_shown_counts``."""
    empty = zero_inventory(base, imported)
    return empty, keep_shown_counts(base, imported, empty)


def keep_shown_counts(
    base: Sequence[ZipcodeInfo], imported: Sequence[ZipcodeInfo], empty: Iterable[str]
) -> list[ZipcodeInfo]:
    """``imported`` with the ``base`` expected count restored for the ``empty`` zipcodes."""
    keep = set(empty)
    before = {z.zipcode: z for z in base}
    return [
        replace(z, expected_listings=before[z.zipcode].expected_listings)
        if z.zipcode in keep and z.zipcode in before
        else z
        for z in imported
    ]


if __name__ == "__main__":
    print(write_builtin_data())
