"""Shared fixtures of the epoch tests: the real built-in catalog (built once per session)."""

from __future__ import annotations

import pytest

from resi.epoch.catalog import builtin_catalog
from resi.epoch.models import ZipcodeInfo
from resi.epoch.selector import PreparedCatalog


@pytest.fixture(scope="session")
def real_catalog() -> list[ZipcodeInfo]:
    return builtin_catalog()


@pytest.fixture(scope="session")
def prepared(real_catalog: list[ZipcodeInfo]) -> PreparedCatalog:
    return PreparedCatalog.of(real_catalog)


def small_catalog(n: int = 60) -> list[ZipcodeInfo]:
    """A synthetic catalog: ``n`` STANDARD zipcodes with 50..400 listings plus 10 PO boxes."""
    rows = [
        ZipcodeInfo(f"{10000 + i:05d}", "NY", f"City{i}", "Kings County", 40.0, -73.0,
                    "STANDARD", 50 + (i * 37) % 351, "STANDARD", "Northeast")
        for i in range(n)
    ]  # fmt: skip
    rows += [
        ZipcodeInfo(f"{20000 + i:05d}", "NY", "Box", "Kings County", 40.0, -73.0,
                    "PO BOX", 0, "STANDARD", "Northeast")
        for i in range(10)
    ]  # fmt: skip
    return rows
