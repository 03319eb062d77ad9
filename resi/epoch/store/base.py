"""The epoch store interface: one async repository over SQLite or PostgreSQL, chosen by URL.

Every method raises ``StoreError`` when the database is unreachable or a query fails; all
datetimes going in and coming out are timezone-aware UTC. Implementations live in
``resi.epoch.store.sql`` (one SQL implementation over a small per-backend driver).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from resi.epoch.calibration import ZipcodeReport
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
from resi.epoch.store.admission import Admission, AdmissionResult
from resi.errors import StoreError

__all__ = ["Store", "open_store"]


@runtime_checkable
class Store(Protocol):
    """Persistent state of the epoch service, shared by every API replica."""

    backend: str
    """``"sqlite"`` or ``"postgresql"``."""

    async def close(self) -> None:
        """Close connections; the store is unusable afterwards."""

    async def ping(self) -> None:
        """Run a trivial query; raises ``StoreError`` when the database is down."""

    # ------------------------------------------------------------------ catalog

    async def replace_catalog(self, rows: Sequence[ZipcodeInfo]) -> int:
        """Atomically replace the whole catalog; returns the number of rows stored."""

    async def load_catalog(self) -> list[ZipcodeInfo]:
        """The stored catalog ordered by zipcode (empty when none was stored)."""

    # ------------------------------------------------------------------ epochs

    async def insert_epoch(self, epoch: Epoch, assignments: Sequence[Assignment]) -> bool:
        """Insert an epoch and its assignments atomically.

        Returns False (and writes nothing) when ``epoch.epoch_id`` already exists, so replicas
        racing to create the same epoch leave exactly one row.
        """

    async def get_epoch(self, epoch_id: str) -> Epoch | None:
        """The epoch, or None when it does not exist."""

    async def list_epochs(
        self, *, limit: int = 20, states: Collection[EpochState] | None = None
    ) -> list[Epoch]:
        """Up to ``limit`` epochs, newest start first, optionally only in ``states``."""

    async def set_epoch_state(self, epoch_id: str, state: EpochState) -> bool:
        """Move an epoch forward to ``state`` (PENDING→ACTIVE→COMPLETED→ARCHIVED).

        Never moves backwards; returns True if the row changed. Raises ``StoreError`` if the
        epoch does not exist.
        """

    async def get_assignments(self, epoch_id: str) -> list[Assignment]:
        """The epoch's zipcodes ordered by position, honeypot flag included (callers filter)."""

    async def zipcodes_used_since(self, since: datetime, until: datetime | None = None) -> set[str]:
        """Zipcodes assigned (honeypots included) in epochs starting in ``[since, until)``."""

    # ------------------------------------------------------------------ commits

    async def upsert_commits(self, commits: Sequence[Commit]) -> list[Commit]:
        """Store commits, replacing any earlier one for the same (epoch, hotkey, zipcode).

        A re-commit with the same key and sha256 is an idempotent retry and keeps the ORIGINAL
        ``received_at``; any other change takes the new ``received_at``. Returns the stored
        rows in input order.
        """

    async def list_commits(self, epoch_id: str) -> list[Commit]:
        """All commits of an epoch ordered by (received_at, hotkey, zipcode)."""

    async def record_miner_status(
        self, epoch_id: str, hotkey: str, status: str, detail: str | None, at: datetime
    ) -> None:
        """Replace the miner's latest status for the epoch."""

    async def miner_statuses(self, epoch_id: str) -> list[MinerStatusRow]:
        """Latest status of every miner for the epoch, ordered by hotkey."""

    # ------------------------------------------------------------------ validators

    async def record_validator_result(
        self,
        epoch_id: str,
        validator_hotkey: str,
        consensus_hash: str,
        report_key: str,
        at: datetime,
    ) -> None:
        """Store (replace) one validator's result for the epoch."""

    async def validator_results(self, epoch_id: str) -> list[ValidatorResultRow]:
        """Every validator's result for the epoch, ordered by validator hotkey."""

    async def record_result_summary(
        self,
        epoch_id: str,
        validator_hotkey: str,
        consensus_hash: str,
        summary_json: str,
        at: datetime,
    ) -> None:
        """Store (replace) one validator's report summary (JSON text) for the epoch."""

    async def result_summaries(self, epoch_id: str) -> list[ResultSummaryRow]:
        """Every validator's report summary for the epoch, ordered by validator hotkey."""

    # ------------------------------------------------------------------ auth and limits

    async def check_and_store_nonce(self, hotkey: str, nonce_ns: int, expires_at: datetime) -> bool:
        """Remember a btauth nonce; True if it is new, False if it was seen (a replay)."""

    async def prune_archived(self, ended_before: datetime) -> list[str]:
        """Delete ARCHIVED epochs that ended before ``ended_before`` with their assignments,
        commits, miner statuses and validator results (validated counts stay: they are the
        calibration history). Returns the pruned epoch ids, oldest first."""
        ...

    async def purge_expired(self, now: datetime) -> int:
        """Delete nonces expired before ``now`` and rate windows older than an hour.

        Returns the number of rows deleted.
        """

    async def hit_rate_limit(
        self, hotkey: str, route: str, window_start: datetime, limit: int
    ) -> tuple[bool, int]:
        """Atomically count one request in the (hotkey, route, window) bucket.

        Returns ``(allowed, count)`` where ``count`` includes this request and ``allowed`` is
        ``count <= limit``.
        """

    async def admit_requests(self, items: Sequence[Admission]) -> list[AdmissionResult]:
        """Record the nonces of many requests and count their rate hits in ONE transaction.

        Per item, in input order: a nonce already stored (or repeated earlier in ``items``) is a
        replay → ``AdmissionResult(fresh=False)`` and nothing is counted; otherwise the nonce is
        stored and, when ``item.rate`` is given, the request is counted exactly as
        ``hit_rate_limit`` would (``count`` includes it, ``allowed = count <= limit``).
        Equivalent to ``check_and_store_nonce`` then ``hit_rate_limit`` per item, atomically.
        """

    # ------------------------------------------------------------------ validated history

    async def record_validated_counts(self, epoch_id: str, counts: Mapping[str, int]) -> None:
        """Store the validated listing count per zipcode for an epoch (0 = validated empty)."""

    async def validated_history(self) -> dict[str, list[int]]:
        """Validated counts per zipcode, oldest epoch first (for calibration and honeypots)."""

    # ------------------------------------------------------------------ calibration loop

    async def record_zipcode_reports(
        self,
        epoch_id: str,
        validator_hotkey: str,
        stake: float,
        reports: Sequence[tuple[str, int, bool]],
        at: datetime,
    ) -> None:
        """Replace this validator's ``(zipcode, validated count, honeypot contradicted)``
        reports for the epoch, recording the validator's ``stake`` at report time."""

    async def zipcode_reports(self, epoch_id: str) -> list[ZipcodeReport]:
        """Every validator's reports for the epoch, by zipcode then validator."""

    async def fold_calibration(
        self, epoch_id: str, counts: Mapping[str, int], at: datetime
    ) -> bool:
        """Record the epoch's consensus counts into the validated history, once: True if this
        call folded it, False if the epoch was already folded (by this or another replica)."""

    async def folded_epochs(self) -> set[str]:
        """Epoch ids whose reports have been folded."""

    async def record_empty_beliefs(
        self, zipcodes: Collection[str], source: str, at: datetime
    ) -> int:
        """Remember zipcodes believed empty from ``source`` (e.g. an inventory import); returns
        how many were recorded."""

    async def empty_beliefs(self) -> set[str]:
        """Zipcodes believed empty from imported data (validated history can end the belief)."""


async def open_store(url: str) -> Store:
    """Open the store at ``url`` and apply pending schema migrations.

    ``sqlite:///path`` uses aiosqlite (WAL, busy timeout); ``postgresql://...`` (or
    ``postgres://``) uses an asyncpg pool. Raises ``StoreError`` for an unknown scheme or an
    unreachable database and ``SchemaVersionError`` when the schema is newer than this code.
    """
    # Imported here so importing the protocol never pulls in a database driver.
    from resi.epoch.store.sql import open_sql_store

    if not (url.startswith(("sqlite:///", "postgresql://", "postgres://"))):
        raise StoreError("database URL must start with sqlite:/// or postgresql://")
    return await open_sql_store(url)
