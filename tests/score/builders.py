"""Small in-test builders of listing tables and epoch records for the pure scoring tests."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from resi.config import ScoringSettings
from resi.score.models import (
    AssignmentInput,
    CommitInput,
    EpochRecord,
    FileMeta,
    FileOutcome,
    Lookup,
    LookupStatus,
    Observed,
)
from resi.scrape.listing import LISTING_SCHEMA

EPOCH = "2025-10-01T16-00-00"
NONCE = "0123456789abcdef0123456789abcdef"
SEED = "f" * 64
T0 = datetime(2025, 10, 1, 16, 5, tzinfo=UTC)
CONFIG = ScoringSettings()


def assignment(
    zipcode: str = "10001", expected: int = 20, honeypot: bool = False, state: str = "NY"
) -> AssignmentInput:
    return AssignmentInput(
        zipcode=zipcode,
        expected_listings=expected,
        state=state,
        lat=40.75,
        lon=-73.99,
        honeypot=honeypot,
    )


def rows(
    n: int,
    zipcode: str = "10001",
    *,
    start_id: int = 1000,
    scraped_at: datetime = T0,
    state: str = "NY",
) -> list[dict[str, Any]]:
    """``n`` plausible, complete, consistent listings of ``zipcode``."""
    out = []
    for i in range(n):
        zpid = start_id + i
        out.append(
            {
                "listing_id": str(zpid),
                "source": "sim",
                "url": f"http://sim/homedetails/{i}-Main-St/{zpid}_zpid/",
                "zipcode": zipcode,
                "address": f"{i} Main St",
                "city": "New York",
                "state": state,
                "price": 500_000 + 1_000 * i,
                "status": "FOR_SALE",
                "property_type": "CONDO",
                "scraped_at": scraped_at,
                "bedrooms": 2,
                "bathrooms": 1.5,
                "living_area_sqft": 900 + i,
                "lot_sqft": None,
                "year_built": 1990,
                "latitude": 40.75 + 0.001 * (i % 10),
                "longitude": -73.99,
                "days_on_market": 3,
                "listed_at": None,
                "broker": "B",
                "mls_id": None,
                "photo_count": 10,
            }
        )
    return out


def table(records: Sequence[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(list(records), schema=LISTING_SCHEMA)


def fake_sha(tag: str) -> str:
    return hashlib.sha256(tag.encode()).hexdigest()


def submission(
    hotkey: str,
    records: Sequence[dict[str, Any]],
    *,
    zipcode: str = "10001",
    at: int = 0,
    sha: str | None = None,
    meta: FileMeta | None = None,
) -> tuple[CommitInput, FileOutcome]:
    """A commit received ``at`` seconds after T0 and its readable file."""
    t = table(records)
    commit = CommitInput(
        hotkey=hotkey,
        zipcode=zipcode,
        key=f"data/hotkey={hotkey}/epoch={EPOCH}/zipcode={zipcode}/x.parquet",
        sha256=sha or fake_sha(f"{hotkey}:{zipcode}:{at}:{len(records)}"),
        rows=t.num_rows,
        received_at=T0 + timedelta(seconds=at),
    )
    meta = meta or FileMeta(epoch_id=EPOCH, nonce=NONCE, miner_hotkey=hotkey, zipcode=zipcode)
    return commit, FileOutcome.ok(t, meta)


def record(
    assignments: Sequence[AssignmentInput],
    subs: Sequence[tuple[CommitInput, FileOutcome]],
) -> EpochRecord:
    return EpochRecord(
        epoch_id=EPOCH,
        nonce=NONCE,
        validation_seed=SEED,
        assignments=tuple(assignments),
        commits=tuple(c for c, _ in subs),
        files={(c.hotkey, c.zipcode): f for c, f in subs},
    )


def truthful_lookups(records: Sequence[dict[str, Any]]) -> dict[str, Lookup]:
    """Lookups that confirm every record exactly as claimed."""
    return {
        r["listing_id"].lstrip("0"): Lookup(
            LookupStatus.FOUND,
            Observed(
                price=r["price"],
                bedrooms=r["bedrooms"],
                bathrooms=r["bathrooms"],
                living_area_sqft=r["living_area_sqft"],
                zipcode=r["zipcode"],
            ),
        )
        for r in records
    }
