"""`resi catalog import --format realtor` records zero-inventory STANDARD zipcodes as honeypot
beliefs and keeps their served count (issue 14)."""

from __future__ import annotations

from pathlib import Path

import anyio
from typer.testing import CliRunner

from resi.cli.app import app
from resi.epoch.models import ZipcodeInfo
from resi.epoch.store import open_store


def test_realtor_import_records_beliefs(tmp_path: Path, real_catalog: list[ZipcodeInfo]) -> None:
    standard = [z for z in real_catalog if z.zip_type == "STANDARD" and z.expected_listings > 0]
    empty, full = standard[10], standard[11]
    csv_path = tmp_path / "inventory.csv"
    csv_path.write_text(
        "month_date_yyyymm,postal_code,active_listing_count,median_listing_price\n"
        f"202401,{empty.zipcode},0,250000\n202401,{full.zipcode},77,250000\n"
    )
    db = f"sqlite:///{tmp_path / 'api.db'}"
    result = CliRunner().invoke(app, ["catalog", "import", str(csv_path), "--format", "realtor",
                                      "--db", db])  # fmt: skip
    assert result.exit_code == 0, result.output

    async def read() -> tuple[set[str], dict[str, int]]:
        store = await open_store(db)
        try:
            rows = await store.load_catalog()
            return await store.empty_beliefs(), {z.zipcode: z.expected_listings for z in rows}
        finally:
            await store.close()

    beliefs, counts = anyio.run(read)
    assert beliefs == {empty.zipcode}
    assert counts[empty.zipcode] == empty.expected_listings  # not the imported 0
    assert counts[full.zipcode] == 77
