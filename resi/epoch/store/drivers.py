"""Thin async drivers (aiosqlite, asyncpg) behind one small interface, with error translation.

A driver hands out a ``Conn`` for plain reads (``connection()``) or for an atomic write
(``transaction()``). Every database or OS error leaving here is a ``StoreError``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, Protocol

import aiosqlite
import anyio
import asyncpg

from resi.epoch.store.dialect import POSTGRESQL, SQLITE, Dialect
from resi.errors import StoreError

Row = dict[str, Any]

_DB_ERRORS: tuple[type[BaseException], ...] = (
    sqlite3.Error,
    sqlite3.Warning,  # DB-API's Warning is an Exception, not a warnings.Warning
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    # Raised when a connection breaks mid-operation (e.g. PostgreSQL restarted under load):
    # "cannot switch to state 12; another operation is in progress".
    asyncpg.InternalClientError,
    OSError,
    ValueError,  # aiosqlite raises ValueError on a closed connection
)


@contextmanager
def translate_errors(what: str) -> Iterator[None]:
    """Re-raise database/driver errors as ``StoreError`` naming the operation."""
    try:
        yield
    except StoreError:
        raise
    except _DB_ERRORS as exc:
        raise StoreError(f"{what} failed: {type(exc).__name__}: {exc}") from exc


class Conn(Protocol):
    """One connection (possibly inside a transaction); SQL uses ``?`` placeholders."""

    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

    async def execute(self, sql: str, *args: Any) -> None: ...

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...


class Driver(Protocol):
    dialect: Dialect

    def connection(self) -> Any: ...  # async context manager yielding Conn

    def transaction(self) -> Any: ...  # async context manager yielding Conn (atomic)

    async def close(self) -> None: ...


# --------------------------------------------------------------------------- SQLite


def _make_parent(path: str) -> None:
    Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)


class _SqliteConn:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        # One hop to the connection's thread (a cursor costs three: execute, fetch, close);
        # rows are sqlite3.Row (set at open), so they carry their column names.
        rows = await self._db.execute_fetchall(sql, args)
        return [dict(r) for r in rows]

    async def execute(self, sql: str, *args: Any) -> None:
        await self._db.execute(sql, args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._db.executemany(sql, rows)


class SqliteDriver:
    """One aiosqlite connection per store; a lock keeps transactions of tasks apart.

    Writes use ``BEGIN IMMEDIATE`` so concurrent processes queue on the busy timeout instead
    of failing when a read transaction upgrades to a write.
    """

    dialect = SQLITE

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db
        self._lock = anyio.Lock()

    @classmethod
    async def open(cls, path: str, busy_timeout_ms: int = 30_000) -> SqliteDriver:
        with translate_errors("opening SQLite database"):
            if path != ":memory:":
                await anyio.to_thread.run_sync(_make_parent, path)
            db = await aiosqlite.connect(path, isolation_level=None)
            db.row_factory = sqlite3.Row
            try:
                await db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
                await db.execute("PRAGMA journal_mode = WAL")
                await db.execute("PRAGMA synchronous = NORMAL")
                await db.execute("PRAGMA foreign_keys = ON")
            except BaseException:
                await db.close()
                raise
        return cls(db)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[_SqliteConn]:
        async with self._lock:
            with translate_errors("SQLite query"):
                yield _SqliteConn(self._db)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_SqliteConn]:
        async with self._lock:
            with translate_errors("SQLite transaction"):
                await self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield _SqliteConn(self._db)
                except BaseException:
                    with anyio.CancelScope(shield=True):
                        await self._db.execute("ROLLBACK")
                    raise
                await self._db.execute("COMMIT")

    async def close(self) -> None:
        with translate_errors("closing SQLite database"):
            await self._db.close()


# --------------------------------------------------------------------------- PostgreSQL


class _PgConn:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        rows = await self._conn.fetch(POSTGRESQL.sql(sql), *args)
        return [dict(r.items()) for r in rows]

    async def execute(self, sql: str, *args: Any) -> None:
        await self._conn.execute(POSTGRESQL.sql(sql), *args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._conn.executemany(POSTGRESQL.sql(sql), rows)


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """Pool ``reset``: nothing beyond asyncpg's own rollback of an open transaction.

    asyncpg's default reset is one more round trip per release (``RESET ALL``, ``UNLISTEN *``,
    ``CLOSE ALL``, advisory unlock), i.e. a second query per admission batch. The store never
    changes session state: no ``SET``, ``LISTEN``, session advisory locks or open cursors (the
    migration lock is transaction-scoped), so there is nothing to reset.
    """


class PostgresDriver:
    """An asyncpg pool; each transaction runs on one pooled connection."""

    dialect = POSTGRESQL

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, url: str, min_size: int = 0, max_size: int = 10) -> PostgresDriver:
        # No idle-connection floor by default: while PostgreSQL is down asyncpg would log a
        # traceback every second trying to restore it. Connections open on demand; migrations
        # run right after open, so a bad URL still fails at start-up.
        with translate_errors("connecting to PostgreSQL"):
            pool = await asyncpg.create_pool(
                url, min_size=min_size, max_size=max_size, reset=_keep_session
            )
        return cls(pool)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[_PgConn]:
        with translate_errors("PostgreSQL query"):
            async with self._pool.acquire() as conn:
                yield _PgConn(conn)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_PgConn]:
        with translate_errors("PostgreSQL transaction"):
            async with self._pool.acquire() as conn, conn.transaction():
                yield _PgConn(conn)

    async def close(self) -> None:
        with translate_errors("closing PostgreSQL pool"):
            await self._pool.close()
