"""The shipped built-in catalog file equals what the generator derives from ``zipcodes``.

``builtin_catalog()`` reads ``resi/epoch/data/builtin_catalog.csv.gz`` for a fast start-up; this
test keeps that file from drifting from ``derive_builtin_catalog()`` (regenerate it with
``python -m resi.epoch.catalog`` after changing the estimate or upgrading ``zipcodes``).
"""

from __future__ import annotations

from importlib import resources

import pytest

from resi.epoch.catalog import (
    BUILTIN_DATA,
    builtin_catalog,
    decode_catalog_data,
    derive_builtin_catalog,
    encode_catalog_data,
)
from resi.epoch.models import MarketTier, ZipcodeInfo
from resi.errors import CatalogImportError


def test_shipped_catalog_file_equals_the_derivation_from_zipcodes(
    real_catalog: list[ZipcodeInfo],
) -> None:
    derived = derive_builtin_catalog()
    assert real_catalog == derived
    assert [type(z.market_tier) for z in real_catalog[:50]] == [MarketTier] * 50
    shipped = resources.files("resi.epoch").joinpath(BUILTIN_DATA).read_bytes()
    assert shipped == encode_catalog_data(derived), "run `python -m resi.epoch.catalog`"


def test_builtin_catalog_returns_a_fresh_list_each_call() -> None:
    first = builtin_catalog()
    first.clear()
    assert len(builtin_catalog()) > 40_000


def test_catalog_data_round_trips_awkward_values() -> None:
    rows = [
        ZipcodeInfo("00501", "NY", 'Holts, "ville"', "", 40.8154, -73.0451, "UNIQUE", 0,
                    MarketTier.EMERGING, "Northeast"),
        ZipcodeInfo("99999", "AK", "Ünïcode", "Nome Census Area", 0.1 + 0.2, -1e-7, "STANDARD",
                    6000, MarketTier.PREMIUM, ""),
    ]  # fmt: skip
    assert decode_catalog_data(encode_catalog_data(rows)) == rows


def test_corrupt_catalog_data_is_a_catalog_import_error() -> None:
    with pytest.raises(CatalogImportError):
        decode_catalog_data(b"not gzip")
    with pytest.raises(CatalogImportError):
        decode_catalog_data(encode_catalog_data([])[:-4])
