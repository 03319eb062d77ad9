"""Benchmark: tier 3 on every file costs distinct listings, not files (issue 14, DESIGN §8).

Scores the synthetic epoch of ``bench_score.py`` (every miner scrapes the same market; a few
padders commit invented listings) at several miner counts and prints, for each: files spot-checked,
sampled draws (what an uncached validator would look up), distinct lookups actually made, and the
scoring wall time. The distinct lookups are bounded by the listings that exist, so they flatten
while files grow.

    .venv/bin/python bench/bench_lookups.py [--miners 10,50,200] [--zipcodes 10] [--rows 300]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_score import build

from resi.config import ScoringSettings
from resi.score import EpochRecord, Lookup, LookupStatus, validate_epoch
from resi.score.engine import assess_record


def run(miners: int, zipcodes: int, rows: int) -> tuple[int, int, int, int, float]:
    """(files, files spot-checked, sampled draws, distinct lookups, seconds) for one epoch."""
    record, market = build(miners, zipcodes, rows)
    config = ScoringSettings()
    t0 = time.perf_counter()
    assessed = assess_record(record, config)
    record = EpochRecord(
        record.epoch_id,
        record.nonce,
        record.validation_seed,
        record.assignments,
        record.commits,
        assessed,
    )
    lookups: dict[str, Lookup] = {}
    while True:
        result = validate_epoch(record, lookups, config)
        if result.complete:
            break
        for req in result.pending_lookups:
            lookups[req.key] = market.get(req.key, Lookup(LookupStatus.GONE))
    wall = time.perf_counter() - t0
    checked = [d for d in result.decisions if d.spot is not None]
    draws = sum(d.spot.draws for d in checked if d.spot is not None)
    return len(result.decisions), len(checked), draws, len(lookups), wall


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--miners", default="10,50,200")
    p.add_argument("--zipcodes", type=int, default=10)
    p.add_argument("--rows", type=int, default=300)
    args = p.parse_args()
    print(f"{args.zipcodes} zipcodes x {args.rows} listings; every eligible file spot-checked")
    print("| miners | files | spot-checked | sampled draws | distinct lookups | draws/lookup | s |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for miners in (int(m) for m in args.miners.split(",")):
        files, checked, draws, distinct, wall = run(miners, args.zipcodes, args.rows)
        ratio = draws / distinct if distinct else 0.0
        print(
            f"| {miners} | {files} | {checked} | {draws} | {distinct} | {ratio:.1f} | {wall:.1f} |"
        )


if __name__ == "__main__":
    main()
