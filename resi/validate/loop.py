"""The validator loop: validate each COMPLETED epoch, publish the results, set weights.

I/O only; every decision is made by ``resi.score.validate_epoch``. For one epoch: fetch the
inputs, download and verify every committed file (bounded concurrency), assess each zipcode's
files in a worker thread, then call the scorer until it needs no more lookups (fetching those
through the listing source), upload ``validated_data.parquet``, ``validation_report.json`` and
``epoch_metadata.json`` to this validator's prefix and post the consensus hash. Progress is
checkpointed in ``workdir`` after every step so a crash resumes where it stopped.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx

from resi.api.client import ApiClient
from resi.api.schemas import CommitForValidator, EpochInputs
from resi.chain.base import Chain, WeightsReceipt
from resi.config import ScoringSettings, ValidatorSettings
from resi.errors import (
    ApiError,
    ApiUnavailable,
    ChainError,
    IntegrityError,
    ScoreError,
    SourceOutage,
    StorageError,
    TransferUnavailable,
)
from resi.s3.layout import validator_key
from resi.s3.transfer import download_file, upload_file
from resi.score.distinct import with_distinct_active
from resi.score.engine import validate_epoch
from resi.score.models import (
    CommitInput,
    EpochRecord,
    EpochResult,
    FileAssessment,
    FileOutcome,
    Lookup,
    Reason,
)
from resi.score.tiers import assess_zipcode
from resi.score.weights import weights_for
from resi.scrape.source import ListingSource
from resi.validate.calibration import zipcode_counts
from resi.validate.checkpoint import CHECKPOINT_NAME, EpochCheckpoint, ValidatorState
from resi.validate.diagnose import check_consensus, recheck_newest
from resi.validate.failures import EpochFailures, write_failure_report
from resi.validate.filecheck import FileReader
from resi.validate.gctune import release_arrow_memory, scoring_gc
from resi.validate.inputs import assignments_of, coldkeys_of, commits_of, read_limits, read_outcome
from resi.validate.lookups import fetch_lookups
from resi.validate.metrics import ValidatorMetrics
from resi.validate.report import (
    DATA_NAME,
    METADATA_NAME,
    REPORT_NAME,
    build_report,
    build_summary,
    epoch_metadata,
    winners_table,
    write_json,
)
from resi.validate.weights_keeper import plan_weights

log = logging.getLogger(__name__)

ProgressFn = Callable[[str, str, int, int], None]
"""``on_progress(epoch_id, stage, done, total)``; stages: download, assess, lookups, upload."""

MAX_WALK_ROUNDS = 100
OK = "OK"


@dataclass(frozen=True)
class EpochOutcome:
    """What validating one epoch produced."""

    epoch_id: str
    consensus_hash: str
    report_key: str
    report_path: Path
    result: EpochResult


@dataclass(frozen=True)
class ScoredEpoch:
    """A scored but unpublished epoch: inputs, result, checkpoint and local file paths."""

    record: EpochRecord
    result: EpochResult
    checkpoint: EpochCheckpoint
    files: dict[tuple[str, str], Path]
    dir: Path


def _ckey(hotkey: str, zipcode: str) -> str:
    return f"{hotkey}|{zipcode}"


class Validator:
    """Validates completed epochs and sets weights; see the module docstring."""

    def __init__(
        self,
        client: ApiClient,
        chain: Chain,
        source: ListingSource,
        keypair_hotkey: str,
        workdir: Path,
        settings: ValidatorSettings,
        http_client: httpx.AsyncClient,
        on_progress: ProgressFn | None = None,
        *,
        download_concurrency: int = 8,
        read_workers: int = 2,
        lookup_backoff: float = 1.0,
        metrics: ValidatorMetrics | None = None,
    ) -> None:
        self.client = client
        self.chain = chain
        self.source = source
        self.hotkey = keypair_hotkey
        self.workdir = Path(workdir).expanduser()
        self.settings = settings
        self.http = http_client
        self.on_progress = on_progress
        self.download_concurrency = download_concurrency
        self.lookup_backoff = lookup_backoff
        self.state = ValidatorState.load(self.workdir / "state.json")
        self.metrics = metrics or ValidatorMetrics()
        self.epoch_seconds = settings.epoch_seconds
        self.failures = EpochFailures.load(self.workdir / "failed_epochs.json")
        # Files are read by ``read_workers`` capped worker processes side by side (each capped
        # at ``read_memory_mib``), so reading keeps pace with assessing on a multi-core machine.
        self.readers = [
            FileReader(settings.read_memory_mib, settings.read_timeout_seconds)
            for _ in range(max(1, read_workers))
        ]

    @property
    def scoring(self) -> ScoringSettings:
        """The scoring subset of the settings (what must agree across validators)."""
        return ScoringSettings(
            **{k: getattr(self.settings, k) for k in ScoringSettings.model_fields}
        )

    def _progress(self, epoch_id: str, stage: str, done: int, total: int) -> None:
        if self.on_progress is not None:
            self.on_progress(epoch_id, stage, done, total)

    def _epoch_dir(self, epoch_id: str) -> Path:
        return self.workdir / "epochs" / epoch_id

    # ------------------------------------------------------------------ top level

    async def pending_epochs(self) -> list[str]:
        """COMPLETED epochs the API lists that this validator has not finished, oldest first."""
        stats = await self.client.stats()
        if stats.current is not None:  # the API's epoch length ages the weights (weights_keeper)
            self.epoch_seconds = int((stats.current.end - stats.current.start).total_seconds())
        return sorted(
            e.epoch_id
            for e in stats.recent
            if e.state == "COMPLETED"
            and e.epoch_id not in self.state.finished
            and e.epoch_id not in self.failures.failed
        )

    async def run_once(self) -> list[EpochOutcome]:
        """Validate every pending epoch, then set weights if due. Returns what was validated.

        An epoch that fails (other than by an API/storage outage, which propagates and is
        retried) counts an attempt; after ``epoch_max_attempts`` it is recorded as failed and
        skipped, so later epochs and weights go on.
        """
        done = await self.validate_pending()
        await self.maybe_set_weights()
        return done

    async def validate_pending(self) -> list[EpochOutcome]:
        """Validate every pending epoch, oldest first, each in isolation.

        Outages (API unreachable or 5xx/429, storage, chain, the listing site) propagate:
        nobody's epoch problem, the round is retried. Any other failure of one epoch (a bug,
        hostile input that got past the per-file checks) counts an attempt for that epoch only;
        after ``epoch_max_attempts`` it is recorded as failed and skipped, so later epochs go on.
        """
        done = []
        for epoch_id in await self.pending_epochs():
            try:
                done.append(await self.validate(epoch_id))
            except ApiError as exc:
                if isinstance(exc, ApiUnavailable) or exc.status >= 500 or exc.status == 429:
                    raise
                self._epoch_failed(epoch_id, exc)
            except (StorageError, ChainError, SourceOutage):
                raise
            except Exception as exc:  # a bug or hostile input must not stop every later epoch
                self._epoch_failed(epoch_id, exc)
        return done

    def _epoch_failed(self, epoch_id: str, exc: Exception) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        given_up = self.failures.record(epoch_id, reason, self.settings.epoch_max_attempts)
        log.error("epoch %s: validation failed (%s)", epoch_id, reason, exc_info=exc)
        if given_up:
            self.metrics.epochs.inc("given_up")
            entry = self.failures.failed[epoch_id]
            path = write_failure_report(self._epoch_dir(epoch_id) / "out", epoch_id, entry)
            log.error(
                "epoch %s recorded as FAILED after %s attempts: %s",
                epoch_id,
                entry["attempts"],
                path,
            )

    async def run_forever(self) -> None:
        """Validate and set weights every ``poll_seconds``, forever.

        Weights run in their own task, so they never wait on (or stop with) a validation round
        stuck on an unreachable API or S3 (DESIGN §9). Transient failures are retried.
        """
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._weights_forever)
            while True:
                try:
                    await self.validate_pending()
                    await recheck_newest(self)
                # coldkeys need the metagraph; tier 3 needs the listing site (SourceOutage)
                except (ApiError, StorageError, ChainError, SourceOutage) as exc:
                    self.metrics.api_errors.inc(type(exc).__name__)
                    log.warning("validator round failed, retrying later: %s", exc)
                await anyio.sleep(self.settings.poll_seconds)

    async def _weights_forever(self) -> None:
        while True:
            try:
                await self.maybe_set_weights()
            except ChainError as exc:
                self.metrics.chain_errors.inc("set_weights")
                log.warning("setting weights failed, retrying later: %s", exc)
            await anyio.sleep(self.settings.poll_seconds)

    # ------------------------------------------------------------------ one epoch

    async def score_epoch(
        self, epoch_id: str, *, known_lookups: Mapping[str, Lookup] | None = None
    ) -> ScoredEpoch:
        """Download, verify and score one epoch without publishing anything (resumable).

        ``known_lookups`` (e.g. from a published report) are used instead of asking the source.
        """
        inputs = await self.client.epoch_inputs(epoch_id)
        edir = self._epoch_dir(epoch_id)
        ckpt = EpochCheckpoint.load(edir / CHECKPOINT_NAME, epoch_id)
        for key, lookup in (known_lookups or {}).items():
            ckpt.lookups.setdefault(key, lookup)
        files = await self._download_all(inputs, edir, ckpt)
        record, result = await self._score(inputs, files, ckpt)
        return ScoredEpoch(record, result, ckpt, files, edir)

    async def score_local(
        self, inputs: EpochInputs, paths: Mapping[tuple[str, str], Path]
    ) -> ScoredEpoch:
        """Score an epoch whose files are already on disk and verified (benchmarks, tests).

        Runs the same checkpointed assessment and lookup walk as ``score_epoch``; only the
        downloads are skipped (each file counts as a verified download).
        """
        edir = self._epoch_dir(inputs.epoch_id)
        ckpt = EpochCheckpoint.load(edir / CHECKPOINT_NAME, inputs.epoch_id)
        for c in inputs.commits:
            ckpt.downloads.setdefault(
                _ckey(c.hotkey, c.zipcode), {"sha256": c.sha256, "status": OK}
            )
        ckpt.save()
        files = dict(paths)
        record, result = await self._score(inputs, files, ckpt)
        return ScoredEpoch(record, result, ckpt, files, edir)

    async def validate(self, epoch_id: str) -> EpochOutcome:
        """Validate one COMPLETED epoch end to end (resumable). Raises ApiError/StorageError."""
        try:
            with self.metrics.phase("score"):
                scored = await self.score_epoch(epoch_id)
            record, result = scored.record, scored.result
            with self.metrics.phase("publish"):
                outcome = await self._publish(
                    record, result, scored.checkpoint, scored.files, scored.dir
                )
        except Exception:  # counted, then handled as before (cancellation is not a failure)
            self.metrics.epochs.inc("failed")
            raise
        self.metrics.epochs.inc("validated")
        self.metrics.record_result(result)
        self.state.finished[epoch_id] = {
            "consensus_hash": outcome.consensus_hash,
            "report_key": outcome.report_key,
            "scores": dict(result.scores),
            "submissions": len(record.commits),  # 0: a void epoch (weights_keeper)
        }
        self.state.save()
        await check_consensus(self, epoch_id, outcome.consensus_hash, outcome.report_path)
        self.failures.succeeded(epoch_id)
        return outcome

    async def _download_all(
        self, inputs: EpochInputs, edir: Path, ckpt: EpochCheckpoint
    ) -> dict[tuple[str, str], Path]:
        limiter = anyio.CapacityLimiter(self.download_concurrency)
        total, done = len(inputs.commits), 0
        paths: dict[tuple[str, str], Path] = {}

        async def one(c: CommitForValidator) -> None:
            nonlocal done
            dest = edir / "files" / c.hotkey / f"{c.zipcode}-{c.sha256}.parquet"
            paths[(c.hotkey, c.zipcode)] = dest
            known = ckpt.downloads.get(_ckey(c.hotkey, c.zipcode))
            resumable = (
                known is not None
                and known["sha256"] == c.sha256
                and known["status"] != Reason.DOWNLOAD_UNVERIFIED.value  # transient: try again
                and (known["status"] != OK or dest.exists())
            )
            if resumable:
                pass  # verified (or judged) before the crash
            else:
                async with limiter:
                    status = await self._download(c, dest)
                ckpt.downloads[_ckey(c.hotkey, c.zipcode)] = {"sha256": c.sha256, "status": status}
            done += 1
            self._progress(inputs.epoch_id, "download", done, total)

        async with anyio.create_task_group() as tg:
            for c in inputs.commits:
                tg.start_soon(one, c)
        ckpt.save()
        return paths

    async def _download(self, c: CommitForValidator, dest: Path) -> str:
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            await download_file(
                self.http,
                c.download_url,
                dest,
                expected_sha256=c.sha256,
                max_bytes=self.settings.max_file_bytes,
            )
        except IntegrityError:
            return Reason.HASH_MISMATCH.value
        except TransferUnavailable:
            # transient: unverified (never held against the miner)
            return Reason.DOWNLOAD_UNVERIFIED.value
        except StorageError:
            return Reason.FILE_MISSING.value
        return OK

    def _outcome(self, status: str, path: Path, expected: int, reader: FileReader) -> FileOutcome:
        if status != OK:
            return FileOutcome.failed(Reason(status))
        return read_outcome(path, read_limits(expected, self.scoring), reader)

    async def _score(
        self, inputs: EpochInputs, paths: dict[tuple[str, str], Path], ckpt: EpochCheckpoint
    ) -> tuple[EpochRecord, EpochResult]:
        # the collector's settings for scoring (gctune): undone when the epoch is scored
        with scoring_gc():
            return await self._assess_and_walk(inputs, paths, ckpt)

    async def _assess_and_walk(
        self, inputs: EpochInputs, paths: dict[tuple[str, str], Path], ckpt: EpochCheckpoint
    ) -> tuple[EpochRecord, EpochResult]:
        assignments = assignments_of(inputs)
        # Coldkeys (one paid file per operator per zipcode) come from the metagraph and are
        # recorded with the commits, so replay needs no chain.
        # (``score_local`` in benchmarks runs without a chain: every hotkey is its own operator.)
        coldkeys = coldkeys_of(await self.chain.metagraph()) if self.chain is not None else {}
        commits = commits_of(inputs, coldkeys)
        config = self.scoring
        files: dict[tuple[str, str], FileOutcome | FileAssessment] = {}
        by_zip: dict[str, list[CommitInput]] = {a.zipcode: [] for a in assignments}
        for c in commits:
            by_zip.setdefault(c.zipcode, []).append(c)
        assignment_of = {a.zipcode: a for a in assignments}
        zips = sorted(assignment_of)
        todo = [z for z in zips if z not in ckpt.done]
        n_done = 0
        for zipcode in zips:
            if zipcode in ckpt.done:
                for a in ckpt.zipcode_assessments(zipcode) or []:
                    files[(a.hotkey, a.zipcode)] = a
                n_done += 1
                self._progress(inputs.epoch_id, "assess", n_done, len(zips))

        def read_part(
            part: list[CommitInput], reader: FileReader
        ) -> list[tuple[CommitInput, FileOutcome]]:
            return [
                (
                    c,
                    self._outcome(
                        ckpt.downloads[_ckey(c.hotkey, c.zipcode)]["status"],
                        paths[(c.hotkey, c.zipcode)],
                        assignment_of[c.zipcode].expected_listings,
                        reader,
                    ),
                )
                for c in part
            ]

        async def read_zip(zipcode: str) -> list[tuple[CommitInput, FileOutcome]]:
            """The zipcode's files read by every worker at once (file i by worker i mod n)."""
            subs, n = by_zip[zipcode], len(self.readers)
            parts: list[list[tuple[CommitInput, FileOutcome]]] = [[] for _ in range(n)]

            async def part(j: int) -> None:
                parts[j] = await anyio.to_thread.run_sync(read_part, subs[j::n], self.readers[j])

            async with anyio.create_task_group() as tg:
                for j in range(n):
                    tg.start_soon(part, j)
            # back in commit order: outcomes do not depend on which worker read the file
            return [parts[i % n][i // n] for i in range(len(subs))]

        def assess(zipcode: str, pairs: list[tuple[CommitInput, FileOutcome]]) -> Any:
            done = assess_zipcode(
                assignment_of[zipcode],
                pairs,
                epoch_id=inputs.epoch_id,
                nonce=inputs.nonce,
                validation_seed=inputs.validation_seed,
                config=config,
            )
            done = with_distinct_active(done, pairs)
            ckpt.add_assessments(zipcode, done)  # appended before the next zipcode starts
            return done

        # Reading the next zipcode's files overlaps assessing this one (both mostly release the
        # GIL); the unbuffered stream bounds memory to two zipcodes' tables at a time.
        send, recv = anyio.create_memory_object_stream[
            tuple[str, list[tuple[CommitInput, FileOutcome]]]
        ](max_buffer_size=0)

        async def reader() -> None:
            async with send:
                for zipcode in todo:
                    pairs = await read_zip(zipcode)
                    await send.send((zipcode, pairs))

        async with anyio.create_task_group() as tg:
            tg.start_soon(reader)
            async with recv:
                async for zipcode, pairs in recv:
                    done = await anyio.to_thread.run_sync(assess, zipcode, pairs)
                    del pairs  # the tables can go now
                    release_arrow_memory()
                    for a in done:
                        files[(a.hotkey, a.zipcode)] = a
                    n_done += 1
                    self._progress(inputs.epoch_id, "assess", n_done, len(zips))

        record = EpochRecord(
            epoch_id=inputs.epoch_id,
            nonce=inputs.nonce,
            validation_seed=inputs.validation_seed,
            assignments=assignments,
            commits=commits,
            files=files,
        )
        for _ in range(MAX_WALK_ROUNDS):
            result = await anyio.to_thread.run_sync(validate_epoch, record, ckpt.lookups, config)
            if result.complete:
                return record, result
            await fetch_lookups(
                self.source,
                result.pending_lookups,
                ckpt.lookups,
                concurrency=self.settings.lookup_concurrency,
                backoff=self.lookup_backoff,
            )
            ckpt.save()
            self._progress(inputs.epoch_id, "lookups", len(ckpt.lookups), len(ckpt.lookups))
        raise ScoreError(f"epoch {inputs.epoch_id}: spot checks did not settle")

    async def _publish(
        self,
        record: EpochRecord,
        result: EpochResult,
        ckpt: EpochCheckpoint,
        paths: dict[tuple[str, str], Path],
        edir: Path,
    ) -> EpochOutcome:
        assert result.consensus_hash is not None
        out = edir / "out"
        out.mkdir(parents=True, exist_ok=True)
        report = build_report(record, result, ckpt.lookups, self.scoring, self.hotkey)

        def write_all() -> None:
            import pyarrow.parquet as pq

            pq.write_table(winners_table(result, paths), out / DATA_NAME, compression="zstd")
            write_json(out / REPORT_NAME, report)
            write_json(out / METADATA_NAME, epoch_metadata(record, result, self.hotkey))

        await anyio.to_thread.run_sync(write_all)
        epoch_id = record.epoch_id
        names = (DATA_NAME, REPORT_NAME, METADATA_NAME)
        for i, name in enumerate(names, start=1):
            # One grant per report file: the policy names exactly that key.
            renew = functools.partial(self.client.validator_upload_access, epoch_id, name)
            await upload_file(
                self.http,
                await renew(),
                validator_key(self.hotkey, epoch_id, name),
                out / name,
                renew=renew,
            )
            self._progress(epoch_id, "upload", i, len(names))
        report_key = validator_key(self.hotkey, epoch_id, REPORT_NAME)
        try:
            await self.client.post_result(
                epoch_id,
                result.consensus_hash,
                report_key,
                summary=build_summary(result),
                zipcode_counts=zipcode_counts(record.assignments, result),  # calibration
            )
        except ApiError as exc:
            if exc.status != 409:  # 409: already posted before a crash
                raise
        return EpochOutcome(epoch_id, result.consensus_hash, report_key, out / REPORT_NAME, result)

    # ------------------------------------------------------------------ weights

    async def maybe_set_weights(self, *, force: bool = False) -> WeightsReceipt | None:
        """Set weights if ``weights_interval`` blocks passed: from the newest validated epoch, or
        to the burn uid once that is more than ``weights_stale_epochs`` old (weights_keeper).
        Returns the chain's receipt, or None when not due / nothing validated yet."""
        plan = plan_weights(
            self.state.finished,
            datetime.now(UTC),
            epoch_seconds=self.epoch_seconds,
            stale_epochs=self.settings.weights_stale_epochs,
        )
        if plan is None:
            return None
        block = await self.chain.current_block()
        last = self.state.last_weights_block
        if not force and last is not None and block - last < self.settings.weights_interval:
            return None
        metagraph = await self.chain.metagraph()
        uids, weights = weights_for(plan.scores, metagraph, self.settings.burn_uid)
        receipt = await self.chain.set_weights(uids, weights)
        if receipt.ok:
            self.state.last_weights_block = block
            self.state.save()
            self.metrics.record_weights(block, plan)
            log.info(
                "weights set at block %d from %s %s (%s epochs old)",
                block,
                plan.source,
                plan.epoch_id,
                plan.age_epochs,
            )
        else:
            self.metrics.chain_errors.inc("set_weights_refused")
            log.warning("chain refused weights: %s", receipt.message)
        return receipt
