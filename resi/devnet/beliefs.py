"""Devnet honeypot beliefs, seeded the way an operator seeds them: from inventory data.

The simulated market exports a Realtor.com-format inventory CSV of the selectable STANDARD
zipcodes; it is parsed with the production importer, and the zipcodes it shows with no active
listings are recorded as believed empty in the API's store before the API starts. So the
devnet's honeypots are STANDARD zipcodes that look like any pick and really are empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import anyio.to_thread

from resi.epoch.catalog import parse_realtor_csv, zero_inventory
from resi.epoch.models import ZipcodeInfo
from resi.epoch.store import open_store
from resi.scrape.sim.market import SimMarketData

INVENTORY_NAME = "sim_inventory.csv"


def inventory_export(
    catalog: Sequence[ZipcodeInfo], seed: int, low: int, high: int, now: datetime
) -> str:
    """The simulated market's inventory CSV for STANDARD zipcodes with expected in [low, high]."""
    data = SimMarketData({z.zipcode: z for z in catalog}, seed)
    zipcodes = [
        z.zipcode
        for z in catalog
        if z.zip_type == "STANDARD" and low <= z.expected_listings <= high
    ]
    return data.inventory_csv(zipcodes, now.strftime("%Y%m"))


async def seed_beliefs(
    db_url: str,
    catalog: Sequence[ZipcodeInfo],
    seed: int,
    low: int,
    high: int,
    data_dir: Path,
    now: datetime | None = None,
) -> int:
    """Write the inventory export under ``data_dir``, import it, and record its zero-inventory
    zipcodes as honeypot beliefs in the store at ``db_url``. Returns how many were recorded."""
    at = now or datetime.now(UTC)
    path = data_dir / INVENTORY_NAME

    def export_and_import() -> set[str]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(inventory_export(catalog, seed, low, high, at), encoding="utf-8")
        imported, _ = parse_realtor_csv(path, catalog)
        return zero_inventory(catalog, imported)

    empty = await anyio.to_thread.run_sync(export_and_import)
    store = await open_store(db_url)
    try:
        return await store.record_empty_beliefs(empty, f"inventory:{INVENTORY_NAME}", at)
    finally:
        await store.close()
