"""examples/custom_source.py stays a working ListingSource."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from resi.scrape.source import ListingSource

EXAMPLE = Path(__file__).parents[2] / "examples" / "custom_source.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("custom_source_example", EXAMPLE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.anyio
async def test_csv_source_is_a_listing_source(tmp_path: Path) -> None:
    (tmp_path / "10001.csv").write_text(
        "listing_id,url,zipcode,address,city,state,price,bedrooms\n"
        "7,https://www.zillow.com/homedetails/7_zpid/,10001,1 A St,New York,NY,650000,2\n"
    )
    source = load_example().CsvDirectorySource(tmp_path)
    assert isinstance(source, ListingSource)
    found = await source.search("10001")
    assert [(x.listing_id, x.price, x.bedrooms) for x in found] == [("7", 650_000, 2)]
    assert await source.search("60614") == []
    again = await source.lookup(found[0])
    assert again is not None and (again.listing_id, again.price) == ("7", 650_000)
    missing = found[0].__class__(**{**found[0].__dict__, "listing_id": "8"})
    assert await source.lookup(missing) is None
