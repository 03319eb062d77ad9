"""A local chain in one SQLite file, shared by every process of a devnet.

The block number comes from the wall clock: ``(now - genesis) // block_time``, with the genesis
time (and block time) written into the file by whichever process creates it first. Neurons are
registered through the sync admin API (``register``); ``set_weights`` enforces registration, a
validator permit and a per-validator rate limit, and stores the u16 values produced by
bittensor's own ``normalize`` (see ``resi.chain.conform``), so what the devnet records is what a
real chain would receive. Every SQLite call runs in a worker thread (``anyio.to_thread``).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import anyio
import anyio.to_thread

from resi.chain.base import MetagraphSnapshot, Neuron, WeightsReceipt, WeightsRecord
from resi.chain.conform import U16_MAX, WeightsRejected, conform_weights
from resi.errors import ChainError, ChainTimeout

SCHEMA_VERSION = 1
DEFAULT_TEMPO = 360

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS neurons (
    netuid INTEGER NOT NULL,
    uid INTEGER NOT NULL,
    hotkey TEXT NOT NULL,
    coldkey TEXT NOT NULL,
    stake REAL NOT NULL,
    validator_permit INTEGER NOT NULL,
    registered_block INTEGER NOT NULL,
    PRIMARY KEY (netuid, uid),
    UNIQUE (netuid, hotkey)
);
CREATE TABLE IF NOT EXISTS weights (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    netuid INTEGER NOT NULL,
    block INTEGER NOT NULL,
    validator_hotkey TEXT NOT NULL,
    validator_uid INTEGER NOT NULL,
    uids TEXT NOT NULL,
    weights_u16 TEXT NOT NULL,
    time REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS axons (
    netuid INTEGER NOT NULL,
    hotkey TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    block INTEGER NOT NULL,
    PRIMARY KEY (netuid, hotkey)
);
CREATE INDEX IF NOT EXISTS weights_by_validator ON weights (netuid, validator_hotkey, block);
"""


class DevnetChain:
    """The ``Chain`` protocol over a SQLite file; several instances (processes) share one file.

    ``signer_hotkey`` is the ss58 address this process sets weights as (None for read-only
    users such as the API server). Hyperparameters (``tempo``, ``weights_rate_limit``,
    ``max_weight_limit``, ``min_allowed_weights``) belong to this instance's configuration;
    genesis time and block time belong to the file.
    """

    def __init__(
        self,
        path: Path,
        *,
        netuid: int,
        block_time: float,
        signer_hotkey: str | None = None,
        weights_rate_limit: int = 100,
        tempo: int = DEFAULT_TEMPO,
        max_weight_limit: int = U16_MAX,
        min_allowed_weights: int = 0,
        timeout: float = 20.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if block_time <= 0:
            raise ValueError("block_time must be positive")
        self.path = Path(path).expanduser()
        self.netuid = netuid
        self.block_time = float(block_time)
        self.signer_hotkey = signer_hotkey
        self.weights_rate_limit = weights_rate_limit
        self.tempo = tempo
        self.max_weight_limit = max_weight_limit
        self.min_allowed_weights = min_allowed_weights
        self.timeout = timeout
        self._clock = clock
        self._genesis: float | None = None

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A short-lived connection (one per call, so any worker thread may use it)."""
        try:
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise ChainError(f"cannot open devnet chain file {self.path}: {exc}") from None
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            yield conn
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise ChainTimeout(
                    f"devnet chain file {self.path} stayed locked for {self.timeout}s"
                ) from None
            raise ChainError(f"devnet chain file {self.path}: {exc}") from None
        except sqlite3.Error as exc:
            raise ChainError(f"devnet chain file {self.path}: {exc}") from None
        finally:
            conn.close()

    def _ensure(self) -> float:
        """Create the schema and genesis once (idempotent across processes); the genesis time."""
        if self._genesis is not None:
            return self._genesis
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ChainError(
                f"cannot create the devnet chain's folder {self.path.parent}: {exc}"
            ) from None
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                for key, value in (
                    ("schema_version", str(SCHEMA_VERSION)),
                    ("genesis", repr(float(self._clock()))),
                    ("block_time", repr(self.block_time)),
                ):
                    conn.execute(
                        "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (key, value)
                    )
                meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        if int(meta["schema_version"]) > SCHEMA_VERSION:
            raise ChainError(
                f"devnet chain file {self.path} has schema {meta['schema_version']}, "
                f"newer than this resi understands ({SCHEMA_VERSION})"
            )
        if float(meta["block_time"]) != self.block_time:
            raise ChainError(
                f"devnet chain file {self.path} was created with block_time "
                f"{float(meta['block_time'])}s, not {self.block_time}s; use the same value "
                "in every process (or a fresh file)"
            )
        self._genesis = float(meta["genesis"])
        return self._genesis

    def _block_now(self) -> int:
        genesis = self._ensure()
        return max(0, int((self._clock() - genesis) // self.block_time))

    async def _run(self, fn: Callable[[], T]) -> T:
        """Run blocking SQLite work in a thread, bounded by the configured timeout."""
        try:
            with anyio.fail_after(self.timeout):
                return await anyio.to_thread.run_sync(fn)
        except TimeoutError:
            raise ChainTimeout(f"devnet chain call timed out after {self.timeout}s") from None

    # ------------------------------------------------------------------ sync admin API

    @property
    def genesis(self) -> float:
        """Unix time of block 0 (creates the file on first use)."""
        return self._ensure()

    def block_sync(self) -> int:
        """The current block number (blocking)."""
        return self._block_now()

    def register(
        self, hotkey: str, coldkey: str, stake: float = 0.0, validator_permit: bool = False
    ) -> int:
        """Register ``hotkey`` (blocking); returns its uid.

        Idempotent: registering a known hotkey again keeps its uid and updates coldkey, stake
        and permit to the given values.
        """
        block = self._block_now()
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute(
                    "SELECT uid FROM neurons WHERE netuid = ? AND hotkey = ?",
                    (self.netuid, hotkey),
                ).fetchone()
                if row is not None:
                    uid = int(row[0])
                    conn.execute(
                        "UPDATE neurons SET coldkey = ?, stake = ?, validator_permit = ? "
                        "WHERE netuid = ? AND uid = ?",
                        (coldkey, float(stake), int(validator_permit), self.netuid, uid),
                    )
                else:
                    (uid,) = conn.execute(
                        "SELECT COALESCE(MAX(uid) + 1, 0) FROM neurons WHERE netuid = ?",
                        (self.netuid,),
                    ).fetchone()
                    conn.execute(
                        "INSERT INTO neurons (netuid, uid, hotkey, coldkey, stake, "
                        "validator_permit, registered_block) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (
                            self.netuid,
                            uid,
                            hotkey,
                            coldkey,
                            float(stake),
                            int(validator_permit),
                            block,
                        ),
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return int(uid)

    def metagraph_sync(self) -> MetagraphSnapshot:
        """The subnet snapshot (blocking)."""
        block = self._block_now()
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT n.uid, n.hotkey, n.coldkey, n.stake, n.validator_permit, a.endpoint "
                "FROM neurons n LEFT JOIN axons a ON a.netuid = n.netuid AND a.hotkey = n.hotkey "
                "WHERE n.netuid = ? ORDER BY n.uid",
                (self.netuid,),
            ).fetchall()
        neurons = tuple(
            Neuron(
                uid=int(uid),
                hotkey=hotkey,
                coldkey=coldkey,
                stake=float(stake),
                validator_permit=bool(permit),
                axon=endpoint,
            )
            for uid, hotkey, coldkey, stake, permit, endpoint in rows
        )
        return MetagraphSnapshot(netuid=self.netuid, block=block, tempo=self.tempo, neurons=neurons)

    def set_weights_sync(
        self, uids: Sequence[int], weights: Sequence[float], *, hotkey: str | None = None
    ) -> WeightsReceipt:
        """Set weights as ``hotkey`` (default: this instance's signer), blocking.

        Refusals come back as ``ok=False`` with a message starting ``no_signer:``,
        ``not_registered:``, ``no_permit:``, ``rate_limited:`` or ``invalid_weights:``.
        """
        signer = hotkey or self.signer_hotkey
        if signer is None:
            return WeightsReceipt(False, "no_signer: this devnet chain has no signer hotkey")
        block = self._block_now()
        with self._connect() as conn:
            # IMMEDIATE: the rate-limit check and the insert form one atomic step, so two
            # processes racing with the same hotkey cannot both pass the check.
            conn.execute("BEGIN IMMEDIATE")
            try:
                receipt = self._set_weights_tx(conn, signer, block, uids, weights)
                conn.execute("COMMIT" if receipt.ok else "ROLLBACK")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return receipt

    def _set_weights_tx(
        self,
        conn: sqlite3.Connection,
        signer: str,
        block: int,
        uids: Sequence[int],
        weights: Sequence[float],
    ) -> WeightsReceipt:
        row = conn.execute(
            "SELECT uid, validator_permit FROM neurons WHERE netuid = ? AND hotkey = ?",
            (self.netuid, signer),
        ).fetchone()
        if row is None:
            return WeightsReceipt(
                False, f"not_registered: hotkey {signer} is not registered on netuid {self.netuid}"
            )
        self_uid, permit = int(row[0]), bool(row[1])
        if not permit:
            return WeightsReceipt(
                False, f"no_permit: hotkey {signer} (uid {self_uid}) has no validator permit"
            )
        (last,) = conn.execute(
            "SELECT MAX(block) FROM weights WHERE netuid = ? AND validator_hotkey = ?",
            (self.netuid, signer),
        ).fetchone()
        if last is not None and block - int(last) < self.weights_rate_limit:
            since = block - int(last)
            remaining = self.weights_rate_limit - since
            return WeightsReceipt(
                False,
                f"rate_limited: weights were last set {since} blocks ago; the rate limit is "
                f"{self.weights_rate_limit} blocks. Retry in ~{remaining} blocks "
                f"(~{int(remaining * self.block_time)}s).",
            )
        try:
            conformed = conform_weights(
                uids,
                weights,
                self_uid=self_uid,
                max_weight_limit=self.max_weight_limit,
                min_allowed_weights=self.min_allowed_weights,
            )
        except WeightsRejected as exc:
            return WeightsReceipt(False, f"{exc.code}: {exc.message}")
        registered = {
            int(u)
            for (u,) in conn.execute("SELECT uid FROM neurons WHERE netuid = ?", (self.netuid,))
        }
        unknown = sorted(set(conformed.uids) - registered)
        if unknown:
            return WeightsReceipt(False, f"invalid_weights: uids {unknown} are not registered")
        conn.execute(
            "INSERT INTO weights (netuid, block, validator_hotkey, validator_uid, uids, "
            "weights_u16, time) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                self.netuid,
                block,
                signer,
                self_uid,
                json.dumps(list(conformed.uids)),
                json.dumps(list(conformed.weights_u16)),
                float(self._clock()),
            ),
        )
        return WeightsReceipt(
            True,
            f"ok: {len(conformed.uids)} weights set at block {block}",
            block_hash=f"devnet:{self.netuid}:{block}",
            uids=conformed.uids,
            weights_u16=conformed.weights_u16,
        )

    def serve_axon_sync(self, host: str, port: int, *, hotkey: str | None = None) -> None:
        """Publish ``host:port`` as the axon of ``hotkey`` (default: the signer), blocking.

        Raises ``ChainError`` without a signer or for an unregistered hotkey, as the chain does.
        """
        signer = hotkey or self.signer_hotkey
        if signer is None:
            raise ChainError("no_signer: this devnet chain has no signer hotkey")
        if not 0 < port < 65_536:
            raise ChainError(f"invalid_argument: port {port} out of range")
        block = self._block_now()
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                known = conn.execute(
                    "SELECT 1 FROM neurons WHERE netuid = ? AND hotkey = ?", (self.netuid, signer)
                ).fetchone()
                if known is None:
                    raise ChainError(
                        f"not_registered: hotkey {signer} is not registered on netuid {self.netuid}"
                    )
                conn.execute(
                    "INSERT INTO axons (netuid, hotkey, endpoint, block) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (netuid, hotkey) DO UPDATE SET endpoint = excluded.endpoint, "
                    "block = excluded.block",
                    (self.netuid, signer, f"{host}:{port}", block),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def weights_history_sync(self, validator_hotkey: str | None = None) -> list[WeightsRecord]:
        """Every accepted weight setting, oldest first, optionally for one validator."""
        self._ensure()
        sql = (
            "SELECT netuid, block, validator_hotkey, validator_uid, uids, weights_u16, time "
            "FROM weights WHERE netuid = ?"
        )
        params: tuple[object, ...] = (self.netuid,)
        if validator_hotkey is not None:
            sql += " AND validator_hotkey = ?"
            params += (validator_hotkey,)
        with self._connect() as conn:
            rows = conn.execute(sql + " ORDER BY id", params).fetchall()
        return [
            WeightsRecord(
                netuid=int(netuid),
                block=int(block),
                validator_hotkey=hk,
                validator_uid=int(vuid),
                uids=tuple(json.loads(u)),
                weights_u16=tuple(json.loads(w)),
                time=float(t),
            )
            for netuid, block, hk, vuid, u, w, t in rows
        ]

    # ------------------------------------------------------------------ Chain protocol

    async def metagraph(self) -> MetagraphSnapshot:
        """A fresh snapshot of the subnet. Raises ``ChainError`` / ``ChainTimeout``."""
        return await self._run(self.metagraph_sync)

    async def current_block(self) -> int:
        """The block number derived from the wall clock and the file's genesis."""
        return await self._run(self._block_now)

    async def set_weights(self, uids: Sequence[int], weights: Sequence[float]) -> WeightsReceipt:
        """Set weights as this instance's signer; refusals come back as ``ok=False``."""
        return await self._run(lambda: self.set_weights_sync(uids, weights))

    async def serve_axon(self, host: str, port: int) -> None:
        """Publish this signer's endpoint; raises ``ChainError`` when refused."""
        await self._run(lambda: self.serve_axon_sync(host, port))

    async def weights_history(self, validator_hotkey: str | None = None) -> list[WeightsRecord]:
        """Accepted weight settings, oldest first (all validators, or one)."""
        return await self._run(lambda: self.weights_history_sync(validator_hotkey))

    async def latest_weights(self, validator_hotkey: str) -> WeightsRecord | None:
        """The newest weights set by ``validator_hotkey``, or None."""
        history = await self.weights_history(validator_hotkey)
        return history[-1] if history else None

    async def close(self) -> None:
        """Nothing to release (connections are per call); safe to call twice."""

    def __repr__(self) -> str:
        return f"DevnetChain(path={str(self.path)!r}, netuid={self.netuid})"
