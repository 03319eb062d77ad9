"""The ``Store`` implementation: one set of parameterised SQL over the SQLite/Postgres drivers.

Upserts use ``INSERT ... ON CONFLICT`` with ``RETURNING``, which both backends understand, so
the same statement gives replica-safe idempotency on each.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from resi.epoch.models import (
    Assignment,
    Commit,
    Epoch,
    EpochState,
    MinerStatusRow,
    ResultSummaryRow,
    ValidatorResultRow,
    ZipcodeInfo,
)
from resi.epoch.store.admission import (
    Admission,
    AdmissionPlan,
    AdmissionResult,
    BucketKey,
    NonceKey,
    bucket_hits,
    hand_out,
    plan_admissions,
)
from resi.epoch.store.calibration import CalibrationSql
from resi.epoch.store.drivers import Driver, PostgresDriver, Row, SqliteDriver
from resi.epoch.store.migrations import LATEST, MIGRATIONS
from resi.errors import SchemaVersionError, StoreError

_STATE_ORDER = [EpochState.PENDING, EpochState.ACTIVE, EpochState.COMPLETED, EpochState.ARCHIVED]
_MIGRATION_LOCK_KEY = 0x7265_7369  # "resi": advisory lock serialising migrations on Postgres
_RATE_WINDOW_KEEP = timedelta(hours=1)
# 4 parameters a row keeps a statement far below SQLite's variable limit (32766 since 3.32).
_SQLITE_ROWS_PER_STATEMENT = 500

_EPOCH_COLUMNS = (
    "epoch_id, start_at, end_at, deadline_at, state, nonce, target, tolerance, achieved_sum"
)
_ASSIGNMENT_COLUMNS = (
    "epoch_id, slot, zipcode, expected_listings, state, city, county, market_tier, region, "
    "lat, lon, honeypot"
)
_CATALOG_COLUMNS = (
    "zipcode, state, city, county, lat, lon, zip_type, expected_listings, market_tier, region"
)
_COMMIT_COLUMNS = (
    "epoch_id, hotkey, zipcode, object_key, sha256, row_count, size_bytes, received_at"
)


def _chunks(seq: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [seq[i : i + size] for i in range(0, len(seq), size)]


async def open_sql_store(url: str) -> SqlStore:
    """Open a driver for ``url``, migrate the schema, and wrap it in a ``SqlStore``."""
    driver: Driver
    if url.startswith("sqlite:///"):
        driver = await SqliteDriver.open(url[len("sqlite:///") :])
    else:
        driver = await PostgresDriver.open(url)
    store = SqlStore(driver)
    try:
        await store.migrate()
    except BaseException:
        await driver.close()
        raise
    return store


class SqlStore(CalibrationSql):
    """``Store`` over a driver; see ``resi.epoch.store.base.Store`` for each method's contract."""

    def __init__(self, driver: Driver) -> None:
        self._driver = driver
        self._d = driver.dialect
        self.backend = driver.dialect.name

    # ------------------------------------------------------------------ lifecycle

    async def migrate(self) -> int:
        """Apply pending migrations under a lock; returns the schema version afterwards."""
        async with self._driver.transaction() as c:
            if self.backend == "postgresql":
                await c.execute("SELECT pg_advisory_xact_lock(?)", _MIGRATION_LOCK_KEY)
            await c.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            rows = await c.fetch("SELECT MAX(version) AS v FROM schema_version")
            current = int(rows[0]["v"] or 0)
            if current > LATEST:
                raise SchemaVersionError(
                    f"database schema version {current} is newer than this resi ({LATEST})"
                )
            for version in range(current + 1, LATEST + 1):
                for statement in MIGRATIONS[version]:
                    await c.execute(self._d.ddl(statement))
                await c.execute("INSERT INTO schema_version (version) VALUES (?)", version)
        return LATEST

    async def schema_version(self) -> int:
        """The schema version recorded in the database."""
        rows = await self._fetch("SELECT MAX(version) AS v FROM schema_version")
        return int(rows[0]["v"] or 0)

    async def close(self) -> None:
        await self._driver.close()

    async def ping(self) -> None:
        await self._fetch("SELECT 1 AS one")

    async def _fetch(self, sql: str, *args: Any) -> list[Row]:
        async with self._driver.connection() as c:
            rows: list[Row] = await c.fetch(sql, *args)
            return rows

    # ------------------------------------------------------------------ catalog

    async def replace_catalog(self, rows: Sequence[ZipcodeInfo]) -> int:
        values = [
            (
                z.zipcode,
                z.state,
                z.city,
                z.county,
                float(z.lat),
                float(z.lon),
                z.zip_type,
                int(z.expected_listings),
                str(z.market_tier),
                z.region,
            )
            for z in rows
        ]
        async with self._driver.transaction() as c:
            await c.execute("DELETE FROM catalog")
            await c.executemany(
                f"INSERT INTO catalog ({_CATALOG_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608 (constant column list)
                values,
            )
        return len(values)

    async def load_catalog(self) -> list[ZipcodeInfo]:
        rows = await self._fetch(f"SELECT {_CATALOG_COLUMNS} FROM catalog ORDER BY zipcode")  # noqa: S608
        return [
            ZipcodeInfo(
                zipcode=r["zipcode"],
                state=r["state"],
                city=r["city"],
                county=r["county"],
                lat=float(r["lat"]),
                lon=float(r["lon"]),
                zip_type=r["zip_type"],
                expected_listings=int(r["expected_listings"]),
                market_tier=r["market_tier"],
                region=r["region"],
            )
            for r in rows
        ]

    # ------------------------------------------------------------------ epochs

    def _epoch(self, r: Row) -> Epoch:
        return Epoch(
            epoch_id=r["epoch_id"],
            start=self._d.ts_out(r["start_at"]),
            end=self._d.ts_out(r["end_at"]),
            deadline=self._d.ts_out(r["deadline_at"]),
            state=EpochState(r["state"]),
            nonce=r["nonce"],
            target=int(r["target"]),
            tolerance=float(r["tolerance"]),
            achieved_sum=int(r["achieved_sum"]),
        )

    async def insert_epoch(self, epoch: Epoch, assignments: Sequence[Assignment]) -> bool:
        if any(a.epoch_id != epoch.epoch_id for a in assignments):
            raise StoreError("assignments belong to a different epoch")
        ts = self._d.ts_in
        async with self._driver.transaction() as c:
            inserted = await c.fetch(
                f"INSERT INTO epochs ({_EPOCH_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "  # noqa: S608 (constant column list)
                "ON CONFLICT (epoch_id) DO NOTHING RETURNING epoch_id",
                epoch.epoch_id,
                ts(epoch.start),
                ts(epoch.end),
                ts(epoch.deadline),
                str(epoch.state),
                epoch.nonce,
                int(epoch.target),
                float(epoch.tolerance),
                int(epoch.achieved_sum),
            )
            if not inserted:
                return False
            await c.executemany(
                f"INSERT INTO assignments ({_ASSIGNMENT_COLUMNS}) "  # noqa: S608 (constant column list)
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        a.epoch_id,
                        int(a.position),
                        a.zipcode,
                        int(a.expected_listings),
                        a.state,
                        a.city,
                        a.county,
                        str(a.market_tier),
                        a.region,
                        float(a.lat),
                        float(a.lon),
                        bool(a.honeypot),
                    )
                    for a in assignments
                ],
            )
        return True

    async def get_epoch(self, epoch_id: str) -> Epoch | None:
        rows = await self._fetch(
            f"SELECT {_EPOCH_COLUMNS} FROM epochs WHERE epoch_id = ?",  # noqa: S608
            epoch_id,
        )
        return self._epoch(rows[0]) if rows else None

    async def list_epochs(
        self, *, limit: int = 20, states: Collection[EpochState] | None = None
    ) -> list[Epoch]:
        if states is not None and not states:
            return []
        # A fixed four-slot IN list (padded with repeats) keeps the SQL static.
        wanted = [str(s) for s in (states if states is not None else _STATE_ORDER)]
        wanted = (wanted * 4)[:4]
        rows = await self._fetch(
            f"SELECT {_EPOCH_COLUMNS} FROM epochs WHERE state IN (?, ?, ?, ?) "  # noqa: S608
            "ORDER BY start_at DESC LIMIT ?",
            *wanted,
            int(limit),
        )
        return [self._epoch(r) for r in rows]

    async def set_epoch_state(self, epoch_id: str, state: EpochState) -> bool:
        earlier = [str(s) for s in _STATE_ORDER[: _STATE_ORDER.index(EpochState(state))]]
        if not earlier:
            earlier = ["-"]  # nothing precedes PENDING: matches no row
        earlier = (earlier * 3)[:3]
        async with self._driver.transaction() as c:
            changed = await c.fetch(
                "UPDATE epochs SET state = ? WHERE epoch_id = ? AND state IN (?, ?, ?) "
                "RETURNING epoch_id",
                str(state),
                epoch_id,
                *earlier,
            )
            if not changed:
                exists = await c.fetch("SELECT 1 AS one FROM epochs WHERE epoch_id = ?", epoch_id)
                if not exists:
                    raise StoreError(f"epoch {epoch_id} does not exist")
        return bool(changed)

    async def get_assignments(self, epoch_id: str) -> list[Assignment]:
        rows = await self._fetch(
            f"SELECT {_ASSIGNMENT_COLUMNS} FROM assignments WHERE epoch_id = ? ORDER BY slot",  # noqa: S608
            epoch_id,
        )
        return [
            Assignment(
                epoch_id=r["epoch_id"],
                position=int(r["slot"]),
                zipcode=r["zipcode"],
                expected_listings=int(r["expected_listings"]),
                state=r["state"],
                city=r["city"],
                county=r["county"],
                market_tier=r["market_tier"],
                region=r["region"],
                lat=float(r["lat"]),
                lon=float(r["lon"]),
                honeypot=self._d.bool_out(r["honeypot"]),
            )
            for r in rows
        ]

    async def zipcodes_used_since(self, since: datetime, until: datetime | None = None) -> set[str]:
        ts = self._d.ts_in
        if until is None:
            rows = await self._fetch(
                "SELECT DISTINCT a.zipcode FROM assignments a "
                "JOIN epochs e ON e.epoch_id = a.epoch_id WHERE e.start_at >= ?",
                ts(since),
            )
        else:
            rows = await self._fetch(
                "SELECT DISTINCT a.zipcode FROM assignments a "
                "JOIN epochs e ON e.epoch_id = a.epoch_id WHERE e.start_at >= ? AND e.start_at < ?",
                ts(since),
                ts(until),
            )
        return {r["zipcode"] for r in rows}

    # ------------------------------------------------------------------ commits

    def _commit(self, r: Row) -> Commit:
        return Commit(
            epoch_id=r["epoch_id"],
            hotkey=r["hotkey"],
            zipcode=r["zipcode"],
            key=r["object_key"],
            sha256=r["sha256"],
            rows=int(r["row_count"]),
            size=int(r["size_bytes"]),
            received_at=self._d.ts_out(r["received_at"]),
        )

    async def upsert_commits(self, commits: Sequence[Commit]) -> list[Commit]:
        stored: list[Commit] = []
        async with self._driver.transaction() as c:
            for cm in commits:
                rows = await c.fetch(
                    f"INSERT INTO commits ({_COMMIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "  # noqa: S608 (constant column list)
                    "ON CONFLICT (epoch_id, hotkey, zipcode) DO UPDATE SET "
                    # An identical retry (same key and hash) keeps its original receive time,
                    # so a network retry cannot cost a miner its rank; any change re-times it.
                    "received_at = CASE WHEN commits.object_key = excluded.object_key "
                    "AND commits.sha256 = excluded.sha256 "
                    "THEN commits.received_at ELSE excluded.received_at END, "
                    "object_key = excluded.object_key, sha256 = excluded.sha256, "
                    "row_count = excluded.row_count, size_bytes = excluded.size_bytes "
                    f"RETURNING {_COMMIT_COLUMNS}",
                    cm.epoch_id,
                    cm.hotkey,
                    cm.zipcode,
                    cm.key,
                    cm.sha256,
                    int(cm.rows),
                    int(cm.size),
                    self._d.ts_in(cm.received_at),
                )
                stored.append(self._commit(rows[0]))
        return stored

    async def list_commits(self, epoch_id: str) -> list[Commit]:
        rows = await self._fetch(
            f"SELECT {_COMMIT_COLUMNS} FROM commits WHERE epoch_id = ? "  # noqa: S608
            "ORDER BY received_at, hotkey, zipcode",
            epoch_id,
        )
        return [self._commit(r) for r in rows]

    async def record_miner_status(
        self, epoch_id: str, hotkey: str, status: str, detail: str | None, at: datetime
    ) -> None:
        async with self._driver.transaction() as c:
            await c.execute(
                "INSERT INTO miner_status (epoch_id, hotkey, status, detail, reported_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (epoch_id, hotkey) DO UPDATE SET "
                "status = excluded.status, detail = excluded.detail, "
                "reported_at = excluded.reported_at",
                epoch_id,
                hotkey,
                status,
                detail,
                self._d.ts_in(at),
            )

    async def miner_statuses(self, epoch_id: str) -> list[MinerStatusRow]:
        rows = await self._fetch(
            "SELECT epoch_id, hotkey, status, detail, reported_at FROM miner_status "
            "WHERE epoch_id = ? ORDER BY hotkey",
            epoch_id,
        )
        return [
            MinerStatusRow(
                epoch_id=r["epoch_id"],
                hotkey=r["hotkey"],
                status=r["status"],
                detail=r["detail"],
                at=self._d.ts_out(r["reported_at"]),
            )
            for r in rows
        ]

    # ------------------------------------------------------------------ validators

    async def record_validator_result(
        self,
        epoch_id: str,
        validator_hotkey: str,
        consensus_hash: str,
        report_key: str,
        at: datetime,
    ) -> None:
        async with self._driver.transaction() as c:
            await c.execute(
                "INSERT INTO validator_results "
                "(epoch_id, validator_hotkey, consensus_hash, report_key, reported_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (epoch_id, validator_hotkey) DO UPDATE SET "
                "consensus_hash = excluded.consensus_hash, report_key = excluded.report_key, "
                "reported_at = excluded.reported_at",
                epoch_id,
                validator_hotkey,
                consensus_hash,
                report_key,
                self._d.ts_in(at),
            )

    async def validator_results(self, epoch_id: str) -> list[ValidatorResultRow]:
        rows = await self._fetch(
            "SELECT epoch_id, validator_hotkey, consensus_hash, report_key, reported_at "
            "FROM validator_results WHERE epoch_id = ? ORDER BY validator_hotkey",
            epoch_id,
        )
        return [
            ValidatorResultRow(
                epoch_id=r["epoch_id"],
                validator_hotkey=r["validator_hotkey"],
                consensus_hash=r["consensus_hash"],
                report_key=r["report_key"],
                at=self._d.ts_out(r["reported_at"]),
            )
            for r in rows
        ]

    async def record_result_summary(
        self,
        epoch_id: str,
        validator_hotkey: str,
        consensus_hash: str,
        summary_json: str,
        at: datetime,
    ) -> None:
        async with self._driver.transaction() as c:
            await c.execute(
                "INSERT INTO result_summaries "
                "(epoch_id, validator_hotkey, consensus_hash, summary_json, reported_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (epoch_id, validator_hotkey) DO UPDATE SET "
                "consensus_hash = excluded.consensus_hash, "
                "summary_json = excluded.summary_json, reported_at = excluded.reported_at",
                epoch_id,
                validator_hotkey,
                consensus_hash,
                summary_json,
                self._d.ts_in(at),
            )

    async def result_summaries(self, epoch_id: str) -> list[ResultSummaryRow]:
        rows = await self._fetch(
            "SELECT epoch_id, validator_hotkey, consensus_hash, summary_json, reported_at "
            "FROM result_summaries WHERE epoch_id = ? ORDER BY validator_hotkey",
            epoch_id,
        )
        return [
            ResultSummaryRow(
                epoch_id=r["epoch_id"],
                validator_hotkey=r["validator_hotkey"],
                consensus_hash=r["consensus_hash"],
                summary_json=r["summary_json"],
                at=self._d.ts_out(r["reported_at"]),
            )
            for r in rows
        ]

    # ------------------------------------------------------------------ auth and limits

    async def check_and_store_nonce(self, hotkey: str, nonce_ns: int, expires_at: datetime) -> bool:
        async with self._driver.transaction() as c:
            rows = await c.fetch(
                "INSERT INTO auth_nonces (hotkey, nonce_ns, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (hotkey, nonce_ns) DO NOTHING RETURNING nonce_ns",
                hotkey,
                int(nonce_ns),
                self._d.ts_in(expires_at),
            )
        return bool(rows)

    async def prune_archived(self, ended_before: datetime) -> list[str]:
        cutoff = self._d.ts_in(ended_before)
        doomed = "SELECT epoch_id FROM epochs WHERE state = ? AND end_at < ?"
        archived = str(EpochState.ARCHIVED)
        async with self._driver.transaction() as c:
            for table in ("commits", "miner_status", "validator_results", "assignments"):
                await c.execute(
                    f"DELETE FROM {table} WHERE epoch_id IN ({doomed})",  # noqa: S608 (fixed names)
                    archived,
                    cutoff,
                )
            rows = await c.fetch(
                "DELETE FROM epochs WHERE state = ? AND end_at < ? RETURNING epoch_id",
                archived,
                cutoff,
            )
        return sorted(r["epoch_id"] for r in rows)

    async def purge_expired(self, now: datetime) -> int:
        async with self._driver.transaction() as c:
            nonces = await c.fetch(
                "DELETE FROM auth_nonces WHERE expires_at < ? RETURNING nonce_ns",
                self._d.ts_in(now),
            )
            windows = await c.fetch(
                "DELETE FROM rate_limits WHERE window_start < ? RETURNING hits",
                self._d.ts_in(now - _RATE_WINDOW_KEEP),
            )
        return len(nonces) + len(windows)

    async def hit_rate_limit(
        self, hotkey: str, route: str, window_start: datetime, limit: int
    ) -> tuple[bool, int]:
        async with self._driver.transaction() as c:
            rows = await c.fetch(
                "INSERT INTO rate_limits (hotkey, route, window_start, hits) VALUES (?, ?, ?, 1) "
                "ON CONFLICT (hotkey, route, window_start) "
                "DO UPDATE SET hits = rate_limits.hits + 1 RETURNING hits",
                hotkey,
                route,
                self._d.ts_in(window_start),
            )
        count = int(rows[0]["hits"])
        return count <= limit, count

    async def admit_requests(self, items: Sequence[Admission]) -> list[AdmissionResult]:
        if not items:
            return []
        plan = plan_admissions(items)
        if self.backend == "postgresql":
            return await self._admit_postgres(plan)
        async with self._driver.transaction() as c:
            fresh = await self._insert_nonces(c, plan)
            hits = bucket_hits(plan, fresh)
            totals = await self._count_hits(c, hits) if hits else {}
        return hand_out(plan, fresh, totals)

    async def _admit_postgres(self, plan: AdmissionPlan) -> list[AdmissionResult]:
        """The whole batch as ONE statement (one round trip; a statement is atomic by itself).

        Data-modifying CTEs: insert the nonces, count the fresh ones that carry a rate hit per
        bucket, upsert the buckets. Each candidate is sent once (route and window NULL when it is
        not counted) and only the replays come back, with the buckets' totals: the usual batch
        of fresh requests returns one row per bucket.
        """
        firsts = [plan.items[plan.first_index[k]] for k in plan.candidates]
        ts_in = self._d.ts_in
        async with self._driver.connection() as c:
            rows = await c.fetch(
                "WITH q AS ("
                " SELECT * FROM unnest(?::text[], ?::bigint[], ?::timestamptz[], ?::text[],"
                " ?::timestamptz[]) AS q(hotkey, nonce_ns, expires_at, route, window_start)"
                "), fresh AS ("
                " INSERT INTO auth_nonces (hotkey, nonce_ns, expires_at)"
                " SELECT hotkey, nonce_ns, expires_at FROM q"
                " ON CONFLICT (hotkey, nonce_ns) DO NOTHING RETURNING hotkey, nonce_ns"
                "), hits AS ("
                " SELECT q.hotkey, q.route, q.window_start, count(*) AS n"
                " FROM q JOIN fresh f ON f.hotkey = q.hotkey AND f.nonce_ns = q.nonce_ns"
                " WHERE q.route IS NOT NULL"
                " GROUP BY q.hotkey, q.route, q.window_start"
                "), counted AS ("
                " INSERT INTO rate_limits (hotkey, route, window_start, hits)"
                " SELECT hotkey, route, window_start, n FROM hits"
                " ORDER BY hotkey, route, window_start"  # one lock order across replicas
                " ON CONFLICT (hotkey, route, window_start)"
                " DO UPDATE SET hits = rate_limits.hits + excluded.hits"
                " RETURNING hotkey, route, window_start, hits"
                ") SELECT hotkey, nonce_ns, NULL::text AS route,"
                " NULL::timestamptz AS window_start, NULL::bigint AS hits FROM q"
                " WHERE NOT EXISTS (SELECT 1 FROM fresh f"
                " WHERE f.hotkey = q.hotkey AND f.nonce_ns = q.nonce_ns)"
                " UNION ALL SELECT hotkey, NULL, route, window_start, hits FROM counted",
                [k[0] for k in plan.candidates],
                [k[1] for k in plan.candidates],
                [ts_in(item.expires_at) for item in firsts],
                [None if item.rate is None else item.rate.route for item in firsts],
                [None if item.rate is None else ts_in(item.rate.window_start) for item in firsts],
            )
        replays = {(r["hotkey"], int(r["nonce_ns"])) for r in rows if r["route"] is None}
        fresh = set(plan.candidates) - replays
        totals = {
            (r["hotkey"], r["route"], self._d.ts_out(r["window_start"])): int(r["hits"])
            for r in rows
            if r["route"] is not None
        }
        return hand_out(plan, fresh, totals)

    async def _insert_nonces(self, c: Any, plan: AdmissionPlan) -> set[NonceKey]:
        """SQLite: insert the batch's candidate nonces; returns those that were new."""
        expires: dict[NonceKey, datetime] = {}
        for item in plan.items:
            expires.setdefault((item.hotkey, int(item.nonce_ns)), item.expires_at)
        rows: list[Row] = []
        for chunk in _chunks(plan.candidates, _SQLITE_ROWS_PER_STATEMENT):
            args = [v for k in chunk for v in (k[0], k[1], self._d.ts_in(expires[k]))]
            rows += await c.fetch(
                "INSERT INTO auth_nonces (hotkey, nonce_ns, expires_at) VALUES "  # noqa: S608 (only placeholders are joined)
                + ", ".join(["(?, ?, ?)"] * len(chunk))
                + " ON CONFLICT (hotkey, nonce_ns) DO NOTHING RETURNING hotkey, nonce_ns",
                *args,
            )
        return {(r["hotkey"], int(r["nonce_ns"])) for r in rows}

    async def _count_hits(self, c: Any, hits: dict[BucketKey, int]) -> dict[BucketKey, int]:
        """SQLite: add ``hits`` to their buckets atomically; returns each bucket's new total."""
        rows: list[Row] = []
        for chunk in _chunks(sorted(hits), _SQLITE_ROWS_PER_STATEMENT):
            args = [v for b in chunk for v in (b[0], b[1], self._d.ts_in(b[2]), hits[b])]
            rows += await c.fetch(
                "INSERT INTO rate_limits (hotkey, route, window_start, hits) VALUES "  # noqa: S608 (only placeholders are joined)
                + ", ".join(["(?, ?, ?, ?)"] * len(chunk))
                + " ON CONFLICT (hotkey, route, window_start) "
                "DO UPDATE SET hits = rate_limits.hits + excluded.hits "
                "RETURNING hotkey, route, window_start, hits",
                *args,
            )
        # Equal aware datetimes hash alike, so stored windows find the callers' keys.
        return {
            (r["hotkey"], r["route"], self._d.ts_out(r["window_start"])): int(r["hits"])
            for r in rows
        }

    # ------------------------------------------------------------------ validated history

    async def record_validated_counts(self, epoch_id: str, counts: Mapping[str, int]) -> None:
        async with self._driver.transaction() as c:
            await c.executemany(
                "INSERT INTO validated_counts (epoch_id, zipcode, listing_count) VALUES (?, ?, ?) "
                "ON CONFLICT (epoch_id, zipcode) DO UPDATE SET "
                "listing_count = excluded.listing_count",
                [(epoch_id, z, int(n)) for z, n in sorted(counts.items())],
            )

    async def validated_history(self) -> dict[str, list[int]]:
        # epoch ids are zero-padded UTC start times, so text order is time order.
        rows = await self._fetch(
            "SELECT zipcode, listing_count FROM validated_counts ORDER BY zipcode, epoch_id"
        )
        history: dict[str, list[int]] = {}
        for r in rows:
            history.setdefault(r["zipcode"], []).append(int(r["listing_count"]))
        return history
