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
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

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
from resi.score.engine import first_lookups, validate_epoch
from resi.score.models import (
    AssignmentInput,
    CommitInput,
    EpochRecord,
    EpochResult,
    FileAssessment,
    Lookup,
    LookupRequest,
    Reason,
    SharedValues,
)
from resi.score.weights import weights_for
from resi.scrape.source import ListingSource
from resi.validate.assessing import OK, Assessed, Job, chunks, run_job
from resi.validate.calibration import zipcode_counts
from resi.validate.checkpoint import CHECKPOINT_NAME, EpochCheckpoint, ValidatorState
from resi.validate.diagnose import check_consensus, recheck_newest
from resi.validate.failures import EpochFailures, write_failure_report
from resi.validate.filecheck import FileReader
from resi.validate.gctune import scoring_gc
from resi.validate.inputs import assignments_of, coldkeys_of, commits_of
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

    async def _score(
        self, inputs: EpochInputs, paths: dict[tuple[str, str], Path], ckpt: EpochCheckpoint
    ) -> tuple[EpochRecord, EpochResult]:
        # the collector's settings for scoring (gctune): undone when the epoch is scored
        with scoring_gc():
            return await self._assess_and_walk(inputs, paths, ckpt)

    async def _assess_in_workers(
        self,
        inputs: EpochInputs,
        todo: list[tuple[AssignmentInput, list[CommitInput]]],
        paths: dict[tuple[str, str], Path],
        ckpt: EpochCheckpoint,
        config: ScoringSettings,
        finished: Callable[[str, list[FileAssessment]], None],
    ) -> None:
        """Assess the zipcodes' files in the reader workers (``resi.validate.assessing``).

        Each zipcode's files are cut into chunks; each chunk goes to whichever worker is free,
        which reads and assesses it, so the workers assess side by side. A zipcode is appended
        to the checkpoint whole once its last chunk is in, then handed to ``finished``.
        """
        jobs: list[tuple[str, int, Job]] = []
        parts: dict[str, list[Assessed | None]] = {}
        for a, commits in todo:
            files = [
                (
                    c,
                    ckpt.downloads[_ckey(c.hotkey, c.zipcode)]["status"],
                    paths[(c.hotkey, c.zipcode)],
                )
                for c in commits
            ]
            split = chunks(files)
            parts[a.zipcode] = [None] * len(split)
            jobs += [
                (a.zipcode, j, Job(a, tuple(part), inputs.epoch_id, inputs.nonce,
                                   inputs.validation_seed, config))
                for j, part in enumerate(split)
            ]  # fmt: skip
        left = {z: len(p) for z, p in parts.items()}
        checkpointing = anyio.Lock()

        async def finish(zipcode: str) -> None:
            done = [p for p in parts.pop(zipcode) if p is not None]
            arrays = [j for p in done for j in p.json_arrays]
            async with checkpointing:  # appended whole, one zipcode at a time
                await anyio.to_thread.run_sync(ckpt.add_assessment_arrays, zipcode, arrays)
            finished(zipcode, [a for p in done for a in p.assessments])

        for zipcode in [z for z, n in left.items() if n == 0]:  # nobody committed
            await finish(zipcode)
        queue = iter(jobs)
        timeout = self.settings.read_timeout_seconds
        shared = SharedValues()  # the epoch's sampled rows share equal values

        async def drive(reader: FileReader) -> None:
            for zipcode, j, job in queue:  # shared: each job goes to one worker
                parts[zipcode][j] = await anyio.to_thread.run_sync(
                    run_job, reader, job, timeout, shared
                )
                left[zipcode] -= 1
                if not left[zipcode]:
                    await finish(zipcode)

        async with anyio.create_task_group() as tg:
            for reader in self.readers:
                tg.start_soon(drive, reader)

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
        files: dict[tuple[str, str], FileAssessment] = {}
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

        # A zipcode's first spot-check lookups are fetched as soon as its files are assessed,
        # while the workers assess the next ones (``first_lookups``).
        early, early_out = anyio.create_memory_object_stream[list[LookupRequest]](math.inf)
        liars: set[str] = set()

        def fetch_early(zipcode: str) -> None:
            honeypot = assignment_of[zipcode].honeypot
            pending = first_lookups(by_zip[zipcode], files, ckpt.lookups, liars, config, honeypot)
            early.send_nowait(pending)

        def finished(zipcode: str, done: list[FileAssessment]) -> None:
            nonlocal n_done
            for a in done:
                files[(a.hotkey, a.zipcode)] = a
            liars.update(a.hotkey for a in done if a.liar)
            fetch_early(zipcode)
            n_done += 1
            self._progress(inputs.epoch_id, "assess", n_done, len(zips))

        async def fetcher() -> None:
            site_down = False
            async with early_out:
                async for pending in early_out:
                    if site_down:
                        continue
                    try:
                        await self._fetch_lookups(pending, ckpt)
                    except SourceOutage:
                        site_down = True  # the walk asks again, and waits for the site if need be

        todo_files = [(assignment_of[z], by_zip[z]) for z in todo]
        async with anyio.create_task_group() as tg:
            tg.start_soon(fetcher)
            async with early:
                liars.update(a.hotkey for a in files.values() if a.liar)  # resumed zipcodes
                for zipcode in zips:
                    if zipcode in ckpt.done:
                        fetch_early(zipcode)
                await self._assess_in_workers(inputs, todo_files, paths, ckpt, config, finished)
        # in commit order, whichever worker finished first
        keys = [(c.hotkey, c.zipcode) for c in commits]
        files = {k: files[k] for k in keys if k in files}

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
            await self._fetch_lookups(result.pending_lookups, ckpt)
        raise ScoreError(f"epoch {inputs.epoch_id}: spot checks did not settle")

    async def _fetch_lookups(self, pending: Sequence[LookupRequest], ckpt: EpochCheckpoint) -> None:
        """Look ``pending`` up (those not in the checkpoint yet) and checkpoint the results."""
        if not pending:
            return
        await fetch_lookups(
            self.source,
            pending,
            ckpt.lookups,
            concurrency=self.settings.lookup_concurrency,
            backoff=self.lookup_backoff,
        )
        ckpt.save()
        self._progress(ckpt.epoch_id, "lookups", len(ckpt.lookups), len(ckpt.lookups))

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
