"""Benchmark: score a synthetic epoch of 250 miners × 25 zipcodes × 400 listings (2.5M rows).

Runs tiers 1–2, ranking and tier 3 with spot checks answered from an in-memory "market" (the
pending-lookup protocol exactly as the validator drives it). Prints wall time and peak RSS.
Target on the reference machine: ≤ 60 s and ≤ 2 GB.

    /work/venv/bin/python bench/bench_score.py [--miners 250] [--zipcodes 25] [--rows 400]
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import sys
import time
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from resi.config import ScoringSettings
from resi.score import (
    AssignmentInput,
    CommitInput,
    EpochRecord,
    FileMeta,
    FileOutcome,
    Lookup,
    LookupStatus,
    Observed,
    validate_epoch,
)
from resi.scrape.listing import LISTING_SCHEMA

EPOCH = "2025-10-01T16-00-00"
NONCE = "ab" * 16
T0 = datetime(2025, 10, 1, 16, 0, tzinfo=UTC)


def _base_table(zipcode: str, n: int, start: int) -> pa.Table:
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


def build(miners: int, zipcodes: int, rows: int) -> tuple[EpochRecord, dict[str, Lookup]]:
    assignments, commits, files, market = [], [], {}, {}
    scraped_idx = LISTING_SCHEMA.get_field_index("scraped_at")
    for z in range(zipcodes):
        zipcode = f"{62701 + z:05d}"
        assignments.append(AssignmentInput(zipcode, rows, "IL", 39.78, -89.65, False))
        base = _base_table(zipcode, rows, 10_000_000 * (z + 1))
        # fabricated listings (ids the market never had): their miners must end up liars
        fake = _base_table(zipcode, rows, 900_000_000 + 10_000_000 * (z + 1))
        for r in base.select(
            ["listing_id", "price", "bedrooms", "bathrooms", "living_area_sqft", "zipcode"]
        ).to_pylist():
            market[r["listing_id"]] = Lookup(
                LookupStatus.FOUND,
                Observed(
                    r["price"], r["bedrooms"], r["bathrooms"], r["living_area_sqft"], r["zipcode"]
                ),
            )
        for m in range(miners):
            hotkey = f"5Miner{m:04d}"
            # each miner's own scrape: same listings, its own scrape time (shares the other buffers)
            stamp = pa.array(
                [T0 + timedelta(seconds=m + 1)] * rows, LISTING_SCHEMA.field("scraped_at").type
            )
            padder = m % 50 == 1 and m % zipcodes == z % zipcodes
            source = fake if padder else base
            table = source.set_column(scraped_idx, LISTING_SCHEMA.field("scraped_at"), stamp)
            sha = hashlib.sha256(f"{hotkey}:{zipcode}".encode()).hexdigest()
            commits.append(
                CommitInput(
                    hotkey,
                    zipcode,
                    f"k/{hotkey}/{zipcode}",
                    sha,
                    rows,
                    # padders commit first so tier 3 reaches them
                    T0 + timedelta(seconds=-1 if padder else (m * 7919 + z * 31) % 3600),
                )
            )
            files[(hotkey, zipcode)] = FileOutcome.ok(
                table, FileMeta(EPOCH, NONCE, hotkey, zipcode)
            )
    record = EpochRecord(EPOCH, NONCE, "5e" * 32, tuple(assignments), tuple(commits), files)
    return record, market


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--miners", type=int, default=250)
    p.add_argument("--zipcodes", type=int, default=25)
    p.add_argument("--rows", type=int, default=400)
    args = p.parse_args()
    t_build = time.perf_counter()
    record, market = build(args.miners, args.zipcodes, args.rows)
    t0 = time.perf_counter()
    config = ScoringSettings()
    lookups: dict[str, Lookup] = {}
    rounds = 0
    from resi.score.engine import assess_record

    assessed = assess_record(record, config)  # once, as the validator does; tables can go now
    t_assess = time.perf_counter() - t0
    record = EpochRecord(
        record.epoch_id,
        record.nonce,
        record.validation_seed,
        record.assignments,
        record.commits,
        assessed,
    )
    while True:
        rounds += 1
        result = validate_epoch(record, lookups, config)
        if result.complete:
            break
        for req in result.pending_lookups:
            lookups[req.key] = market.get(req.key, Lookup(LookupStatus.GONE))
    wall = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    total_rows = args.miners * args.zipcodes * args.rows
    print(
        f"epoch: {args.miners} miners x {args.zipcodes} zipcodes x {args.rows} rows"
        f" = {total_rows:,} rows"
    )
    print(f"build (not timed): {t0 - t_build:.1f} s")
    print(f"tiers 1-2 (assess): {t_assess:.1f} s")
    print(f"score wall time: {wall:.1f} s over {rounds} walk rounds, {len(lookups)} lookups")
    print(f"peak RSS: {peak_mb:.0f} MB")
    print(f"liars found: {len(result.liars)}")
    print(f"consensus hash: {result.consensus_hash}")
    print(f"winners of first zipcode: {next(iter(result.winners.values()))}")
    sys.exit(0 if wall <= 60 and peak_mb <= 2048 else 1)


if __name__ == "__main__":
    main()
