"""The miner pipeline: assignment → scrape each zipcode → Parquet file → upload → commit.

The pieces (:func:`scrape_zipcode`, :func:`write_zipcode_file`, :func:`upload_zipcode_file`,
:func:`commit_zipcode`, :func:`upload_and_commit`) are usable alone, e.g. by the devnet to
compose misbehaving miners. :class:`Miner` wires them with bounded concurrency, a per-zipcode
commit as soon as its file is uploaded (earlier commits rank higher), resumable state, retries
through API/S3 outages, and a hard stop at the epoch deadline.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import anyio
import httpx

from resi.api.client import ApiClient
from resi.api.schemas import CommitItem, CurrentAssignment, StatusReceipt, UploadGrant
from resi.errors import (
    ApiError,
    ApiUnavailable,
    ParseError,
    SourceUnavailable,
    StorageError,
    TransferUnavailable,
)
from resi.s3.layout import miner_key
from resi.s3.transfer import upload_file
from resi.scrape.late_commits import flush_queued_commits
from resi.scrape.listing import FileMetadata, Listing, WrittenFile, write_listings
from resi.scrape.miner_state import EpochProgress, StateStore
from resi.scrape.relay_client import RelayFallback
from resi.scrape.source import ListingSource

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
EventKind = Literal[
    "epoch_started",
    "zipcode_scraped",
    "zipcode_uploaded",
    "zipcode_committed",
    "zipcode_failed",
    "epoch_finished",
    "waiting",
    "api_unavailable",
    "epoch_closed",
]


@dataclass(frozen=True)
class MinerEvent:
    """Progress report for UIs and logs (``on_progress`` callback)."""

    kind: EventKind
    epoch_id: str | None = None
    zipcode: str | None = None
    listings: int = 0
    zipcodes_total: int = 0
    detail: str = ""


@dataclass(frozen=True)
class EpochOutcome:
    """How an epoch ended for this miner."""

    epoch_id: str
    zipcodes: int
    committed: int
    listings: int
    deadline_reached: bool


def utc_now() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------- pieces


async def scrape_zipcode(source: ListingSource, zipcode: str) -> list[Listing]:
    """Every listing the source has for ``zipcode`` (other zipcodes' strays dropped), by id.

    Raises ``SourceUnavailable`` / ``ParseError`` from the source.
    """
    listings = await source.search(zipcode)
    unique = {item.listing_id: item for item in listings if item.zipcode == zipcode}
    return [unique[k] for k in sorted(unique)]


async def write_zipcode_file(
    workdir: Path,
    assignment: CurrentAssignment,
    zipcode: str,
    listings: list[Listing],
    hotkey: str,
) -> WrittenFile:
    """Write ``workdir/epochs/{epoch_id}/{zipcode}.parquet`` (in a worker thread)."""
    # expanduser() reads no file; the write itself runs in a worker thread below.
    path = Path(str(workdir)).expanduser() / "epochs" / assignment.epoch_id / f"{zipcode}.parquet"  # noqa: ASYNC240
    meta = FileMetadata(
        epoch_id=assignment.epoch_id, nonce=assignment.nonce, miner_hotkey=hotkey, zipcode=zipcode
    )
    return await anyio.to_thread.run_sync(write_listings, path, listings, meta)


async def upload_zipcode_file(
    http: httpx.AsyncClient,
    grant: UploadGrant,
    assignment: CurrentAssignment,
    zipcode: str,
    written: WrittenFile,
    hotkey: str,
    *,
    renew: Callable[[], Awaitable[UploadGrant]] | None = None,
) -> str:
    """Upload with the presigned POST; returns the object key. Raises ``StorageError``."""
    key = miner_key(hotkey, assignment.epoch_id, zipcode, written.sha256)
    await upload_file(http, grant, key, written.path, renew=renew)
    return key


async def commit_zipcode(
    client: ApiClient, assignment: CurrentAssignment, zipcode: str, key: str, written: WrittenFile
) -> StatusReceipt:
    """Commit one uploaded file (status IN_PROGRESS). Raises ``ApiError`` / ``ApiUnavailable``."""
    item = CommitItem(zipcode=zipcode, key=key, sha256=written.sha256, rows=written.rows)
    return await client.post_status(
        assignment.epoch_id, assignment.nonce, "IN_PROGRESS", commits=[item]
    )


async def upload_and_commit(
    client: ApiClient,
    http: httpx.AsyncClient,
    grant: UploadGrant,
    assignment: CurrentAssignment,
    zipcode: str,
    written: WrittenFile,
    hotkey: str,
    *,
    renew: Callable[[], Awaitable[UploadGrant]] | None = None,
) -> StatusReceipt:
    """Upload then commit one zipcode file; returns the API's receipt."""
    key = await upload_zipcode_file(http, grant, assignment, zipcode, written, hotkey, renew=renew)
    return await commit_zipcode(client, assignment, zipcode, key, written)


def _transient(exc: BaseException) -> bool:
    """Failures worth waiting out: unreachable API/store or server-side trouble."""
    if isinstance(exc, ApiUnavailable | TransferUnavailable | SourceUnavailable):
        return True
    return isinstance(exc, ApiError) and (exc.status >= 500 or exc.status == 429)


def epoch_closed(exc: BaseException) -> bool:
    """The API's ``409 EPOCH_CLOSED``: the epoch takes no more work (not an error, issue 12)."""
    return isinstance(exc, ApiError) and exc.status == 409 and exc.code == "EPOCH_CLOSED"


class _Backoff:
    def __init__(self, initial: float, maximum: float) -> None:
        self.delay, self.maximum = initial, maximum

    def next(self) -> float:
        current, self.delay = self.delay, min(self.delay * 2, self.maximum)
        return current


# --------------------------------------------------------------------------- miner


class Miner:
    """One miner hotkey working through epochs; see the module docstring."""

    def __init__(
        self,
        client: ApiClient,
        source: ListingSource,
        keypair_hotkey: str,
        workdir: Path,
        *,
        concurrency: int = 8,
        now: Clock = utc_now,
        on_progress: Callable[[MinerEvent], None] | None = None,
        poll_seconds: float = 30.0,
        retry_initial: float = 1.0,
        retry_max: float = 30.0,
        scrape_attempts: int = 3,
        commit_grace: float = 30.0,
        http: httpx.AsyncClient | None = None,
        relay: RelayFallback | None = None,
    ) -> None:
        self.client = client
        self.source = source
        self.hotkey = keypair_hotkey
        self.workdir = Path(workdir).expanduser()
        self.store = StateStore(self.workdir)
        self.now = now
        self.poll_seconds = poll_seconds
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.scrape_attempts = scrape_attempts
        self.commit_grace = commit_grace
        self._limiter = anyio.CapacityLimiter(concurrency)
        self._on_progress = on_progress
        self._http = http or httpx.AsyncClient(timeout=httpx.Timeout(120.0))
        # Asked for a signed assignment while the API is unreachable (resi.scrape.relay_client).
        self._relay = relay
        self._learned_epoch: str | None = None
        self._epoch_scopes: dict[str, anyio.CancelScope] = {}

    async def aclose(self) -> None:
        await self._http.aclose()

    def _emit(self, event: MinerEvent) -> None:
        if self._on_progress is not None:
            self._on_progress(event)

    # ------------------------------------------------------------------ loop

    async def run_forever(self) -> None:
        """Work on every epoch as it comes; never returns (cancel to stop)."""
        while True:
            await self.run_once(wait=True)
            await self._wait_for_next_epoch()

    async def run_once(self, *, wait: bool = True) -> EpochOutcome | None:
        """Run the current epoch (unless already finished); ``None`` when there is none."""
        assignment = await self.current_assignment(wait=wait)
        if assignment is None:
            return None
        await self._flush_late_commits()
        state = await self.store.load(assignment.epoch_id)
        if state is not None and state.completed_reported:
            return self._outcome(state, deadline_reached=False)
        return await self.run_epoch(assignment)

    async def current_assignment(self, *, wait: bool = True) -> CurrentAssignment | None:
        """The API's current assignment, or the cached one while the API is unreachable.

        With ``wait``, keeps retrying (with backoff) until something usable is known.
        """
        backoff = _Backoff(self.retry_initial, self.retry_max)
        while True:
            try:
                assignment = await self.client.current_assignment()
            except ApiError as exc:
                if not _transient(exc) and exc.status != 404:
                    raise
                cached = await self.store.cached_assignment()
                if cached is not None and cached.deadline > self.now():
                    log.warning("API unavailable (%s); working from the cached assignment", exc)
                    self._emit(MinerEvent("api_unavailable", cached.epoch_id, detail=str(exc)))
                    return cached
                relayed = await self._relayed(exc)
                if relayed is not None:
                    return relayed
                self._emit(MinerEvent("waiting", detail=f"no assignment yet ({exc.code})"))
                if not wait:
                    return None
                await anyio.sleep(backoff.next())
                continue
            await self.store.save_assignment(assignment)
            if self._relay is not None and self._learned_epoch != assignment.epoch_id:
                # Once per epoch while the API answers: know (and pin) its signing key, so a
                # relayed assignment can be verified in the next outage.
                self._learned_epoch = assignment.epoch_id
                await self._relay.learn(self.client)
            return assignment

    async def _relayed(self, exc: ApiError) -> CurrentAssignment | None:
        """A verified assignment from a validator relay while the API is unreachable, or None."""
        if self._relay is None or not isinstance(exc, ApiUnavailable):
            return None
        relayed = await self._relay()
        if relayed is None or relayed.deadline <= self.now():
            return None
        await self.store.save_assignment(relayed)
        self._emit(MinerEvent("api_unavailable", relayed.epoch_id, detail=f"{exc}; relayed"))
        return relayed

    async def _flush_late_commits(self) -> None:
        """Send commits queued past an earlier deadline; the API's verdicts become events."""
        try:
            verdicts = await flush_queued_commits(self.client, self.store, self.now())
        except ApiError as exc:
            log.warning("queued commits still wait for the API (%s)", exc)
            return
        for v in verdicts:
            kind: EventKind = "zipcode_committed" if v.accepted else "zipcode_failed"
            detail = f"late commit {'accepted' if v.accepted else 'refused'}: {v.status} {v.code}"
            self._emit(MinerEvent(kind, v.epoch_id, v.zipcode, detail=detail))

    async def _wait_for_next_epoch(self) -> None:
        try:
            stats = await self.client.stats()
            delay = min(max(stats.seconds_to_next, 0.5), self.poll_seconds)
        except ApiError as exc:
            log.warning("cannot read API stats (%s)", exc)
            delay = self.poll_seconds
        self._emit(MinerEvent("waiting", detail=f"next check in {delay:.0f}s"))
        await anyio.sleep(delay)

    # ------------------------------------------------------------------ one epoch

    async def run_epoch(self, assignment: CurrentAssignment) -> EpochOutcome:
        """Scrape, upload and commit every zipcode of ``assignment`` until done or the deadline."""
        state = await self.store.load_or_create(assignment)
        remaining = (assignment.deadline - self.now()).total_seconds()
        self._emit(
            MinerEvent("epoch_started", assignment.epoch_id, zipcodes_total=len(state.zipcodes))
        )
        finished = False
        with anyio.move_on_after(max(remaining, 0.0)) as scope:
            # any route answering 409 EPOCH_CLOSED ends this epoch's work (see _closed)
            self._epoch_scopes[assignment.epoch_id] = scope
            await self._report(assignment, "STARTED")
            async with anyio.create_task_group() as tg:
                for progress in state.zipcodes.values():
                    if progress.phase != "committed":
                        tg.start_soon(self._work_zipcode, state, progress.zipcode)
            if state.all_committed() and not state.completed_reported:
                await self._report(assignment, "COMPLETED", persistent=True)
                state.completed_reported = True
                await self.store.save(state)
            finished = True
        self._epoch_scopes.pop(assignment.epoch_id, None)
        outcome = self._outcome(state, deadline_reached=not finished)
        self._emit(
            MinerEvent(
                "epoch_finished",
                assignment.epoch_id,
                listings=outcome.listings,
                zipcodes_total=outcome.zipcodes,
                detail="deadline reached" if outcome.deadline_reached else "done",
            )
        )
        return outcome

    def _outcome(self, state: EpochProgress, *, deadline_reached: bool) -> EpochOutcome:
        committed = [z for z in state.zipcodes.values() if z.phase == "committed"]
        return EpochOutcome(
            epoch_id=state.epoch_id,
            zipcodes=len(state.zipcodes),
            committed=len(committed),
            listings=sum(z.rows or 0 for z in committed),
            deadline_reached=deadline_reached,
        )

    async def _work_zipcode(self, state: EpochProgress, zipcode: str) -> None:
        assignment = state.assignment
        progress = state.zipcodes[zipcode]
        epoch_dir = self.store.epoch_dir(state.epoch_id)
        if progress.phase != "pending" and not (epoch_dir / (progress.file or "")).is_file():
            progress.phase = "pending"  # the file vanished: scrape again
        if progress.phase == "pending":
            written = await self._scrape_and_write(assignment, zipcode)
            if written is None:
                return
            progress.phase, progress.file = "written", written.path.name
            progress.sha256, progress.rows, progress.size = (
                written.sha256,
                written.rows,
                written.size,
            )
            await self.store.save(state)
            self._emit(MinerEvent("zipcode_scraped", state.epoch_id, zipcode, written.rows))
        await self._deliver(state, zipcode)

    async def _scrape_and_write(
        self, assignment: CurrentAssignment, zipcode: str
    ) -> WrittenFile | None:
        backoff = _Backoff(self.retry_initial, self.retry_max)
        parse_failures = 0
        while True:
            try:
                async with self._limiter:
                    listings = await scrape_zipcode(self.source, zipcode)
                return await write_zipcode_file(
                    self.workdir, assignment, zipcode, listings, self.hotkey
                )
            except SourceUnavailable as exc:
                log.warning("zipcode %s: source unavailable (%s); retrying", zipcode, exc)
            except ParseError as exc:
                parse_failures += 1
                if parse_failures >= self.scrape_attempts:
                    log.error("zipcode %s: pages unparseable (%s); giving up", zipcode, exc)
                    self._emit(
                        MinerEvent("zipcode_failed", assignment.epoch_id, zipcode, detail=str(exc))
                    )
                    return None
            await anyio.sleep(backoff.next())

    async def _deliver(self, state: EpochProgress, zipcode: str) -> None:
        """Upload and commit, waiting out outages until the deadline cancels us."""
        assignment = state.assignment
        progress = state.zipcodes[zipcode]
        assert progress.file and progress.sha256 and progress.rows is not None
        written = WrittenFile(
            path=self.store.epoch_dir(state.epoch_id) / progress.file,
            sha256=progress.sha256,
            rows=progress.rows,
            size=progress.size or 0,
        )
        backoff = _Backoff(self.retry_initial, self.retry_max)
        while True:
            try:
                if progress.phase == "written":
                    # One grant per file: the policy names exactly this file's key.
                    grant = await self._grant(assignment.epoch_id, zipcode, written.sha256)
                    progress.key = await upload_zipcode_file(
                        self._http,
                        grant,
                        assignment,
                        zipcode,
                        written,
                        self.hotkey,
                        renew=lambda: self._grant(assignment.epoch_id, zipcode, written.sha256),
                    )
                    progress.phase = "uploaded"
                    await self.store.save(state)
                    self._emit(
                        MinerEvent("zipcode_uploaded", state.epoch_id, zipcode, written.rows)
                    )
                if progress.phase == "uploaded" and not await self._commit(state, zipcode, written):
                    raise ApiUnavailable(0, "COMMIT_TIMEOUT", "commit did not finish in time")
                self._emit(MinerEvent("zipcode_committed", state.epoch_id, zipcode, written.rows))
                return
            except (ApiError, StorageError) as exc:
                if epoch_closed(exc):
                    self._closed(state.epoch_id, zipcode, exc)
                    return
                if not _transient(exc):
                    log.error("zipcode %s: refused (%s); not retrying", zipcode, exc)
                    self._emit(
                        MinerEvent("zipcode_failed", state.epoch_id, zipcode, detail=str(exc))
                    )
                    return
                self._emit(MinerEvent("api_unavailable", state.epoch_id, zipcode, detail=str(exc)))
            await anyio.sleep(backoff.next())

    def _closed(self, epoch_id: str, zipcode: str, exc: BaseException) -> None:
        """The API closed the epoch: log it and stop every task still working on it."""
        log.info("epoch %s is closed (zipcode %s: %s); moving on", epoch_id, zipcode, exc)
        self._emit(MinerEvent("epoch_closed", epoch_id, zipcode, detail=str(exc)))
        scope = self._epoch_scopes.get(epoch_id)
        if scope is not None:
            scope.cancel()

    async def _commit(self, state: EpochProgress, zipcode: str, written: WrittenFile) -> bool:
        """Commit and record it, shielded from cancellation (deadline, shutdown).

        A commit the server has accepted must also land in our state, or a restart would
        commit again and lose the earlier (better-ranked) receive time. The shield is bounded
        by ``commit_grace`` seconds; returns False if that ran out (state unchanged).
        """
        progress = state.zipcodes[zipcode]
        assert progress.key is not None
        with anyio.CancelScope(shield=True), anyio.move_on_after(self.commit_grace):
            receipt = await commit_zipcode(
                self.client, state.assignment, zipcode, progress.key, written
            )
            accepted = {a.zipcode: a for a in receipt.accepted}
            progress.phase = "committed"
            if zipcode in accepted:
                progress.committed_at = accepted[zipcode].received_at
            await self.store.save(state)
            return True
        return False

    async def _grant(self, epoch_id: str, zipcode: str, sha256: str) -> UploadGrant:
        """A fresh one-object upload grant for this file (grants are per key, never shared)."""
        return await self.client.folder_access(epoch_id, zipcode, sha256)

    async def _report(
        self,
        assignment: CurrentAssignment,
        status: Literal["STARTED", "COMPLETED"],
        *,
        persistent: bool = False,
    ) -> None:
        """Send a status report; a transient failure is retried only when ``persistent``."""
        backoff = _Backoff(self.retry_initial, self.retry_max)
        while True:
            try:
                await self.client.post_status(assignment.epoch_id, assignment.nonce, status)
                return
            except ApiError as exc:
                if not (persistent and _transient(exc)):
                    log.warning("status %s not reported: %s", status, exc)
                    return
            await anyio.sleep(backoff.next())
