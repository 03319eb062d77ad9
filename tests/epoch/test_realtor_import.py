"""The Realtor.com importer on the real file format (tests/fixtures/real/realtor): rows judged
one by one, blank optional values become unknown, unusable rows are reported by line number and
either skipped or (``strict``) fail the whole import."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from resi.cli.app import app
from resi.epoch.catalog import import_realtor_csv, read_realtor_rows
from resi.epoch.models import MarketTier, ZipcodeInfo
from resi.errors import CatalogImportError

REAL = (
    Path(__file__).resolve().parents[1]
    / "fixtures"
    / "real"
    / "realtor"
    / "RDC_Inventory_Core_Metrics_Zip-202608-excerpt.csv"
)
LINES = REAL.read_text().splitlines()
HEADER = LINES[0].split(",")
REQUIRED = ("month_date_yyyymm", "postal_code", "active_listing_count")
OPTIONAL = [name for name in HEADER if name not in REQUIRED]


def _cells(line: str) -> list[str]:
    return next(csv.reader([line]))


def _line(cells: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(cells)
    return out.getvalue()


def _with(line_no: int, column: str, value: str) -> str:
    """The real file with one cell of data line ``line_no`` (1 = header) replaced."""
    lines = list(LINES)
    cells = _cells(lines[line_no - 1])
    cells[HEADER.index(column)] = value
    lines[line_no - 1] = _line(cells)
    return "\n".join(lines) + "\n"


def test_real_file_imports_every_row(real_catalog: list[ZipcodeInfo]) -> None:
    result = import_realtor_csv(REAL, real_catalog)
    assert [r.line for r in result.rows] == list(range(2, 13))
    assert result.bad_rows == []
    by_zip = {z.zipcode: z for z in result.catalog}
    # Leading zeros stay: the file writes 01515, 05150, 02215 as text.
    assert by_zip["01515"].expected_listings == 6
    assert by_zip["02215"].expected_listings == 45
    assert by_zip["10028"].expected_listings == 109
    assert by_zip["10028"].market_tier == MarketTier.PREMIUM  # $2,345,000
    assert by_zip["63137"].market_tier == MarketTier.EMERGING  # $94,900
    # Zero-inventory zipcodes (honeypot candidates) are rows with a count of 0.
    zero = {z for z, r in result.applied.items() if r.active_listing_count == 0}
    assert zero == {"25193", "33858", "29726"} - result.unknown_zipcodes
    assert all(by_zip[z].expected_listings == 0 for z in zero)
    assert len(result.catalog) == len(real_catalog)


def test_blank_median_price_imports_with_the_tier_unchanged(
    real_catalog: list[ZipcodeInfo],
) -> None:
    # Line 6 is 10028 (New York): its price blanked, as in the report that aborted imports.
    text = _with(6, "median_listing_price", "")
    result = import_realtor_csv(io.StringIO(text), real_catalog, strict=True)
    row = next(r for r in result.rows if r.zipcode == "10028")
    assert row.usable and row.median_listing_price is None and row.active_listing_count == 109
    before = next(z for z in real_catalog if z.zipcode == "10028")
    after = next(z for z in result.catalog if z.zipcode == "10028")
    assert after.expected_listings == 109 and after.market_tier == before.market_tier


@pytest.mark.parametrize(
    ("column", "value", "problem"),
    [
        ("active_listing_count", "", "active_listing_count is blank"),
        ("active_listing_count", "-4", "active_listing_count"),
        ("month_date_yyyymm", "2026-08", "month_date_yyyymm"),
        ("postal_code", "ABCDE", "zipcode"),
        ("median_listing_price", "-1.0", "median_listing_price"),
    ],
)
def test_unusable_row_is_reported_by_line_then_skipped_or_fatal(
    real_catalog: list[ZipcodeInfo], column: str, value: str, problem: str
) -> None:
    text = _with(4, column, value)  # line 4: 01515
    with pytest.raises(CatalogImportError) as err:
        import_realtor_csv(io.StringIO(text), real_catalog, strict=True)
    assert [line for line, _ in err.value.problems] == [4]
    assert "line 4" in str(err.value) and problem in str(err.value)

    lenient = import_realtor_csv(io.StringIO(text), real_catalog, strict=False)
    (bad,) = lenient.bad_rows
    assert bad.line == 4 and problem in (bad.problem or "")
    by_zip = {z.zipcode: z for z in lenient.catalog}
    assert by_zip["02215"].expected_listings == 45  # the other rows still import
    base = next(z for z in real_catalog if z.zipcode == "01515")
    assert by_zip["01515"] == base  # the skipped row changed nothing


@settings(max_examples=80, deadline=None, database=None, derandomize=True)
@given(line=st.integers(2, len(LINES)), column=st.sampled_from(OPTIONAL))
def test_no_blank_optional_cell_makes_a_row_unusable(line: int, column: str) -> None:
    """Whatever optional cell of whatever real row is blank, the row still imports."""
    rows = read_realtor_rows(io.StringIO(_with(line, column, "")))
    target = next(r for r in rows if r.line == line)
    assert target.usable, (column, target.problem)
    assert target.active_listing_count is not None and target.zipcode is not None


@settings(max_examples=40, deadline=None, database=None, derandomize=True)
@given(line=st.integers(2, len(LINES)), column=st.sampled_from(REQUIRED))
def test_a_blank_required_cell_costs_only_its_own_row(line: int, column: str) -> None:
    rows = read_realtor_rows(io.StringIO(_with(line, column, "")))
    assert [r.line for r in rows if not r.usable] == [line]
    assert sum(r.usable for r in rows) == len(LINES) - 2


def test_cli_skips_bad_rows_by_default_and_strict_stores_nothing(tmp_path: Path) -> None:
    csv_path = tmp_path / "rdc.csv"
    csv_path.write_text(_with(4, "active_listing_count", ""))
    db = f"sqlite:///{tmp_path / 'cat.db'}"
    runner = CliRunner()
    strict = runner.invoke(
        app, ["catalog", "import", str(csv_path), "--format", "realtor", "--strict", "--db", db]
    )
    assert strict.exit_code == 1 and "line 4" in strict.output
    shown = runner.invoke(app, ["catalog", "show", "02215", "--db", db])
    assert shown.exit_code == 0
    assert " 45 " not in shown.output  # nothing was stored: the built-in estimate shows

    lenient = runner.invoke(app, ["catalog", "import", str(csv_path), "--format", "realtor",
                                  "--db", db])  # fmt: skip
    assert lenient.exit_code == 0, lenient.output
    assert "line 4: active_listing_count is blank (skipped)" in lenient.output
    assert "1 bad rows skipped" in lenient.output
    shown = runner.invoke(app, ["catalog", "show", "02215", "--db", db])
    assert " 45 " in shown.output
