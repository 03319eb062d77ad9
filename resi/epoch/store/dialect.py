"""The one place that knows how SQLite and PostgreSQL differ: placeholders, types, values.

Store SQL is written once with ``?`` placeholders and ``{ts}``-style type tokens in DDL; a
``Dialect`` turns it into what each backend expects. Timestamps are ``TIMESTAMPTZ`` on
PostgreSQL and fixed-width ISO-8601 UTC text on SQLite (so text order equals time order).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from resi.errors import StoreError

_SQLITE_TYPES = {"ts": "TEXT", "bigint": "INTEGER", "real": "REAL", "bool": "INTEGER"}
_POSTGRES_TYPES = {
    "ts": "TIMESTAMPTZ",
    "bigint": "BIGINT",
    "real": "DOUBLE PRECISION",
    "bool": "BOOLEAN",
}


def _check_aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        # A naive datetime is a bug upstream; refusing it keeps every stored time UTC.
        raise StoreError("naive datetime passed to the store; use timezone-aware UTC")
    return value.astimezone(UTC)


@dataclass(frozen=True)
class Dialect:
    """SQL and value conversions for one backend (``sqlite`` or ``postgresql``)."""

    name: str
    types: Mapping[str, str] = field(repr=False)

    def ddl(self, template: str) -> str:
        """Replace ``{ts}``, ``{bigint}``, ``{real}``, ``{bool}`` tokens with column types."""
        return template.format(**self.types)

    def sql(self, text: str) -> str:
        """Rewrite ``?`` placeholders for the backend (``$1, $2, ...`` on PostgreSQL)."""
        if self.name != "postgresql":
            return text
        parts = text.split("?")
        out = [parts[0]]
        for i, part in enumerate(parts[1:], start=1):
            out.append(f"${i}")
            out.append(part)
        return "".join(out)

    def ts_in(self, value: datetime) -> Any:
        """A datetime as the backend stores it."""
        value = _check_aware(value)
        if self.name == "postgresql":
            return value
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def ts_out(self, value: Any) -> datetime:
        """A stored timestamp back as an aware UTC datetime."""
        if isinstance(value, datetime):
            return value.astimezone(UTC)
        return datetime.fromisoformat(str(value)).astimezone(UTC)

    @staticmethod
    def bool_out(value: Any) -> bool:
        return bool(value)


SQLITE = Dialect("sqlite", _SQLITE_TYPES)
POSTGRESQL = Dialect("postgresql", _POSTGRES_TYPES)
