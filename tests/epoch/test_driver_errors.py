"""Every error the PostgreSQL/SQLite drivers can raise leaves the store as ``StoreError``.

Regression: during a PostgreSQL restart under load asyncpg raised ``InternalClientError``
("cannot switch to state 12; another operation is in progress"), which was not translated, so
the API answered 500 instead of 503 STORE_UNAVAILABLE. The class of the bug is "a driver
exception family missing from the translation", so the test walks every exception class that
asyncpg and sqlite3 export, rather than the one that was seen.
"""

from __future__ import annotations

import inspect
import sqlite3

import asyncpg
import asyncpg.exceptions
import pytest

from resi.epoch.store.drivers import translate_errors
from resi.errors import StoreError


def _driver_exception_classes() -> list[type[BaseException]]:
    found: set[type[BaseException]] = set()
    for module in (asyncpg.exceptions, asyncpg.exceptions._base, sqlite3):
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Exception) and not issubclass(cls, Warning):
                if cls.__module__.startswith(("asyncpg", "sqlite3")):
                    found.add(cls)
    return sorted(found, key=lambda c: c.__qualname__)


CLASSES = _driver_exception_classes()


def test_the_walk_finds_the_families() -> None:
    names = {c.__name__ for c in CLASSES}
    assert {"InternalClientError", "InterfaceError", "PostgresError", "OperationalError"} <= names
    assert len(CLASSES) > 100  # asyncpg has one class per SQLSTATE


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_driver_exception_becomes_store_error(cls: type[BaseException]) -> None:
    with pytest.raises(StoreError) as info, translate_errors("PostgreSQL query"):
        raise cls("boom")
    assert "PostgreSQL query failed" in str(info.value)
    assert isinstance(info.value.__cause__, cls)
