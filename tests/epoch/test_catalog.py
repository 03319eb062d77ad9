"""Catalog: built-in geography, importers (real-format fixtures, line-numbered errors), EWMA."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from resi.epoch.catalog import (
    census_region,
    parse_plain_csv,
    parse_realtor_csv,
    write_plain_csv,
)
from resi.epoch.models import MarketTier, ZipcodeInfo
from resi.errors import CatalogImportError

DATA = Path(__file__).parent / "data"


def test_builtin_catalog_has_geography_and_estimates(real_catalog: list[ZipcodeInfo]) -> None:
    by_zip = {z.zipcode: z for z in real_catalog}
    assert len(real_catalog) > 40_000
    nyc = by_zip["10001"]
    assert (nyc.state, nyc.zip_type, nyc.region) == ("NY", "STANDARD", "Northeast")
    assert nyc.expected_listings > 0
    assert all(z.expected_listings == 0 for z in real_catalog if z.zip_type == "PO BOX")
    assert census_region("tx") == "South" and census_region("ZZ") == ""


def test_realtor_import_latest_month_wins(real_catalog: list[ZipcodeInfo]) -> None:
    rows, skipped = parse_realtor_csv(DATA / "realtor_zip_sample.csv", real_catalog)
    by_zip = {z.zipcode: z for z in rows}
    assert by_zip["10001"].expected_listings == 412
    assert by_zip["10001"].market_tier == MarketTier.PREMIUM
    assert by_zip["01001"].expected_listings == 55  # leading zero restored, latest month
    assert by_zip["38614"].market_tier == MarketTier.EMERGING
    assert skipped == 1  # 99999 is not a real zipcode
    assert len(rows) == len(real_catalog)


def test_realtor_import_reports_bad_lines_and_imports_nothing(
    real_catalog: list[ZipcodeInfo],
) -> None:
    text = (DATA / "realtor_zip_sample.csv").read_text()
    text += (
        "2025x9,10002,x,1,0,5,0,1,0\n202509,10003,x,abc,0,5,0,1,0\n202509,10004,x,1,0,-3,0,1,0\n"
    )
    with pytest.raises(CatalogImportError) as err:
        parse_realtor_csv(io.StringIO(text), real_catalog)
    assert [line for line, _ in err.value.problems] == [8, 9, 10]
    assert "line 8" in str(err.value)


def test_plain_csv_import_and_errors(real_catalog: list[ZipcodeInfo]) -> None:
    good = "zipcode,expected_listings,market_tier,region\n10001,321,premium,\n1001,12,,\n"
    rows = parse_plain_csv(io.StringIO(good), real_catalog)
    by_zip = {z.zipcode: z for z in rows}
    assert by_zip["10001"].expected_listings == 321
    assert by_zip["01001"].expected_listings == 12
    bad = (
        "zipcode,expected_listings,market_tier\n"
        "10001,5,\n99999,5,\n10002,x,\n10003,4,LUXURY\n10001,1,\n"
    )
    with pytest.raises(CatalogImportError) as err:
        parse_plain_csv(io.StringIO(bad), real_catalog)
    assert [line for line, _ in err.value.problems] == [3, 4, 5, 6]


def test_plain_csv_missing_header_column(real_catalog: list[ZipcodeInfo]) -> None:
    with pytest.raises(CatalogImportError) as err:
        parse_plain_csv(io.StringIO("zip,count\n10001,5\n"), real_catalog)
    assert err.value.problems[0][0] == 1


def test_export_then_import_is_identity(real_catalog: list[ZipcodeInfo]) -> None:
    text = write_plain_csv(real_catalog[:200])
    assert parse_plain_csv(io.StringIO(text), real_catalog)[:200] == real_catalog[:200]
