"""Benchmark: zipcode selection over the full catalog, and epoch creation on SQLite and PostgreSQL.

Run: ``/work/venv/bin/python bench/bench_epoch.py [--pg postgresql://postgres@127.0.0.1:5432/postgres]``
Prints figures only (nothing is asserted).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta

import anyio
import asyncpg

from resi.config import EpochSettings
from resi.epoch.catalog import builtin_catalog
from resi.epoch.manager import EpochManager
from resi.epoch.selector import PreparedCatalog, SelectionParams, select_zipcodes
from resi.epoch.store import open_store


def bench_selection(runs: int = 50) -> None:
    t = time.perf_counter()
    catalog = builtin_catalog()
    print(f"built-in catalog: {len(catalog)} zipcodes in {time.perf_counter() - t:.2f} s")
    t = time.perf_counter()
    prepared = PreparedCatalog.of(catalog)
    print(f"prepare catalog: {(time.perf_counter() - t) * 1000:.1f} ms")
    for name, params in {
        "mainnet 10000±10% [200,3000]": SelectionParams(10_000, 0.1, 200, 3_000),
        "devnet 600±10% [50,400]": SelectionParams(600, 0.1, 50, 400),
    }.items():
        times = []
        for seed in range(runs):
            t = time.perf_counter()
            select_zipcodes(prepared, params, seed)
            times.append((time.perf_counter() - t) * 1000)
        print(
            f"select {name}: median {statistics.median(times):.1f} ms, "
            f"max {max(times):.1f} ms over {runs} seeds"
        )


async def bench_creation(url: str, label: str, epochs: int = 20) -> None:
    store = await open_store(url)
    try:
        catalog = builtin_catalog()
        t = time.perf_counter()
        await store.replace_catalog(catalog)
        print(f"{label}: replace_catalog({len(catalog)}) {time.perf_counter() - t:.2f} s")
        settings = EpochSettings()
        manager = EpochManager(store, settings, "bench-secret", catalog)
        start = datetime(2025, 1, 1, tzinfo=UTC)
        times = []
        for i in range(epochs):
            epoch_id = manager.clock.epoch_id_at(start + i * manager.clock.length)
            t = time.perf_counter()
            await manager.create(epoch_id, start)
            times.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        await manager.ensure(start + timedelta(hours=1))
        again = (time.perf_counter() - t) * 1000
        print(
            f"{label}: create epoch median {statistics.median(times):.1f} ms, "
            f"max {max(times):.1f} ms over {epochs}; idle ensure() {again:.1f} ms"
        )
    finally:
        await store.close()


async def main(pg_admin: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        await bench_creation(f"sqlite:///{tmp}/bench.db", "sqlite")
    if pg_admin:
        name = f"resi_bench_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(pg_admin)
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            await bench_creation(f"{pg_admin.rpartition('/')[0]}/{name}", "postgresql")
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--no-pg", action="store_true")
    args = parser.parse_args()
    bench_selection()
    anyio.run(main, None if args.no_pg else args.pg)
