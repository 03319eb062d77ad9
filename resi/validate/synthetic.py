"""A synthetic epoch written to disk as real listing files (benchmarks and tests).

``M`` miners × ``Z`` zipcodes × ``R`` rows: every miner scrapes the same listings of a zipcode
(with its own scrape time, so fingerprints differ), a few miners pad one zipcode with fabricated
listings the market never had (tier 3 must catch them), and a ``MarketSource`` answers lookups
from the honest listings. Files are zstd Parquet with the metadata miners write, so validating
them exercises the reader, the hash and the checkpoint exactly as ``resi validate`` does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from resi.api.schemas import AssignmentForValidator, CommitForValidator, EpochInputs
from resi.scrape.listing import LISTING_SCHEMA, FileMetadata, Listing, write_listings

EPOCH = "2025-10-01T16-00-00"
NONCE = "ab" * 16
SEED = "5e" * 32
T0 = datetime(2025, 10, 1, 16, 0, tzinfo=UTC)
INPUTS_NAME = "epoch_inputs.json"


def base_table(zipcode: str, n: int, start: int) -> pa.Table:
    """``n`` plausible listings of ``zipcode`` with ids ``start``, ``start + 1``, ..."""
    ids = [str(start + i) for i in range(n)]
    cols = {
        "listing_id": ids,
        "source": ["zillow"] * n,
        "url": [
            f"https://www.zillow.com/homedetails/{i}-Main-St/{z}_zpid/" for i, z in enumerate(ids)
        ],
        "zipcode": [zipcode] * n,
        "address": [f"{i} Main St" for i in range(n)],
        "city": ["Springfield"] * n,
        "state": ["IL"] * n,
        "price": [200_000 + 997 * i for i in range(n)],
        "status": ["FOR_SALE"] * n,
        "property_type": ["SINGLE_FAMILY"] * n,
        "scraped_at": [T0] * n,
        "bedrooms": [1 + i % 5 for i in range(n)],
        "bathrooms": [1.0 + (i % 3) * 0.5 for i in range(n)],
        "living_area_sqft": [800 + 7 * i for i in range(n)],
        "lot_sqft": [5_000] * n,
        "year_built": [1950 + i % 70 for i in range(n)],
        "latitude": [39.78 + 0.0001 * (i % 100) for i in range(n)],
        "longitude": [-89.65] * n,
        "days_on_market": [i % 90 for i in range(n)],
        "listed_at": [T0 - timedelta(days=i % 90) for i in range(n)],
        "broker": ["Acme"] * n,
        "mls_id": [f"M{i}" for i in range(n)],
        "photo_count": [12] * n,
    }
    return pa.Table.from_pydict(cols, schema=LISTING_SCHEMA)


class MarketSource:
    """A ``ListingSource`` answering lookups from a dict of listings (no network)."""

    def __init__(self, market: Mapping[str, Listing]) -> None:
        self.market = market
        self.lookups = 0

    async def search(self, zipcode: str) -> list[Listing]:
        return [v for v in self.market.values() if v.zipcode == zipcode]

    async def lookup(self, listing: Listing) -> Listing | None:
        self.lookups += 1
        return self.market.get(listing.listing_id)

    async def aclose(self) -> None:
        return None


@dataclass(frozen=True)
class SyntheticEpoch:
    """The epoch's inputs as the API would serve them, the files on disk and the market."""

    inputs: EpochInputs
    paths: dict[tuple[str, str], Path]
    market: dict[str, Listing]

    @property
    def total_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.paths.values())


def write_epoch(root: Path, miners: int, zipcodes: int, rows: int) -> SyntheticEpoch:
    """Write the epoch's files under ``root`` and return its inputs (blocking)."""
    assignments: list[AssignmentForValidator] = []
    commits: list[CommitForValidator] = []
    paths: dict[tuple[str, str], Path] = {}
    scraped_idx = LISTING_SCHEMA.get_field_index("scraped_at")
    for z in range(zipcodes):
        zipcode = f"{62701 + z:05d}"
        assignments.append(
            AssignmentForValidator(
                zipcode=zipcode,
                expected_listings=rows,
                state="IL",
                city="Springfield",
                county="Sangamon",
                market_tier="MEDIUM",
                region="Midwest",
                lat=39.78,
                lon=-89.65,
                honeypot=False,
            )
        )
        base = base_table(zipcode, rows, 10_000_000 * (z + 1))
        fake = base_table(zipcode, rows, 900_000_000 + 10_000_000 * (z + 1))
        for m in range(miners):
            hotkey = f"5Miner{m:04d}"
            stamp = pa.array(
                [T0 + timedelta(seconds=m + 1)] * rows, LISTING_SCHEMA.field("scraped_at").type
            )
            padder = m % 50 == 1 and m % zipcodes == z % zipcodes
            table = (fake if padder else base).set_column(
                scraped_idx, LISTING_SCHEMA.field("scraped_at"), stamp
            )
            path = root / hotkey / f"{zipcode}.parquet"
            written = write_listings(path, table, FileMetadata(EPOCH, NONCE, hotkey, zipcode))
            paths[(hotkey, zipcode)] = path
            commits.append(
                CommitForValidator(
                    hotkey=hotkey,
                    zipcode=zipcode,
                    key=f"k/{hotkey}/{zipcode}",
                    sha256=written.sha256,
                    rows=rows,
                    size=written.size,
                    # padders commit first so tier 3 reaches them
                    received_at=T0
                    + timedelta(seconds=-1 if padder else (m * 7919 + z * 31) % 3600),
                    download_url=f"file://{path}",
                )
            )
    inputs = EpochInputs(
        epoch_id=EPOCH,
        start=T0 - timedelta(hours=4),
        end=T0,
        deadline=T0,
        state="COMPLETED",
        nonce=NONCE,
        validation_seed=SEED,
        target=rows * zipcodes,
        tolerance=0.1,
        assignments=assignments,
        commits=commits,
    )
    (root / INPUTS_NAME).write_text(inputs.model_dump_json())
    return SyntheticEpoch(inputs, paths, _market(inputs))


def _market(inputs: EpochInputs) -> dict[str, Listing]:
    market: dict[str, Listing] = {}
    for z, a in enumerate(inputs.assignments):
        for r in base_table(a.zipcode, a.expected_listings, 10_000_000 * (z + 1)).to_pylist():
            market[r["listing_id"]] = Listing(**r)
    return market


def load_inputs(root: Path) -> tuple[EpochInputs, dict[tuple[str, str], Path]]:
    """The inputs and file paths of the epoch ``write_epoch`` wrote under ``root``."""
    inputs = EpochInputs.model_validate_json((root / INPUTS_NAME).read_text())
    paths = {
        (c.hotkey, c.zipcode): root / c.hotkey / f"{c.zipcode}.parquet" for c in inputs.commits
    }
    return inputs, paths


def load_epoch(root: Path) -> SyntheticEpoch:
    """The epoch ``write_epoch`` wrote under ``root`` (inputs, paths, market rebuilt)."""
    inputs, paths = load_inputs(root)
    return SyntheticEpoch(inputs, paths, _market(inputs))
