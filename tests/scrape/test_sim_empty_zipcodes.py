"""The simulated market's genuinely empty STANDARD zipcodes and its inventory export (issue 14):
deterministic, at the stated rate, and the export's zero rows are exactly the empty zipcodes, so
the devnet's honeypot beliefs are true."""

from __future__ import annotations

import csv
import io

from resi.epoch.catalog import builtin_catalog
from resi.scrape.sim.market import EMPTY_STANDARD_RATE, SimMarketData
from tests.fixtures.market import SIM_START

STANDARD = [z for z in builtin_catalog() if z.zip_type == "STANDARD"][:3_000]
CATALOG = {z.zipcode: z for z in STANDARD}


def test_empty_share_is_near_the_rate_and_deterministic() -> None:
    a, b = SimMarketData(CATALOG, 7), SimMarketData(CATALOG, 7)
    empty = [z.zipcode for z in STANDARD if a.is_empty(z.zipcode)]
    assert empty == [z.zipcode for z in STANDARD if b.is_empty(z.zipcode)]
    share = len(empty) / len(STANDARD)
    # Binomial(3000, 0.08): standard deviation 0.005; allow 4 of them.
    assert abs(share - EMPTY_STANDARD_RATE) < 0.02
    for zipcode in empty[:5]:
        assert a.active(zipcode, SIM_START) == []
    assert SimMarketData(CATALOG, 7, empty_rate=0.0).is_empty(empty[0]) is False


def test_inventory_export_is_realtor_format_and_true() -> None:
    data = SimMarketData(CATALOG, 7)
    sample = [z.zipcode for z in STANDARD[:300]]
    rows = list(csv.DictReader(io.StringIO(data.inventory_csv(sample, "202401"))))
    assert set(rows[0]) == {
        "month_date_yyyymm",
        "postal_code",
        "active_listing_count",
        "median_listing_price",
    }
    assert [r["postal_code"] for r in rows] == sorted(sample)
    for r in rows:
        count = int(r["active_listing_count"])
        assert count == len(data.active(r["postal_code"], SIM_START))
        assert (count == 0) == data.is_empty(r["postal_code"])
