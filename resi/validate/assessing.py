"""Files read and assessed where they are read: in the capped reader workers, a chunk at a time.

A reader worker (``resi.validate.filecheck``) takes a *job*: a chunk of one zipcode's files with
the zipcode's assignment, the epoch's nonce and validation seed, and the scoring settings. It
reads each file under its limits, runs integrity, honeypot and tiers 1–2 on the chunk
(``assess_zipcode``), counts distinct active properties, and answers with the assessments as
JSON. No decoded table leaves the worker, and the workers assess side by side: the validator's
main process only dispatches chunks, records the checkpoint and walks the epoch.

Outcomes do not depend on how files are chunked. Every assessment is per file (the contract of
``assess_zipcode``), and whatever could depend on the company a file was read in makes the
chunk's files go again one by one: running out of memory (the worker's cap covers the chunk),
the time limit (a chunk gets its files' limits added up) and a worker that died. A file that
fails alone gets the reason reading it alone always gave: ``LIMIT_EXCEEDED`` for memory or time,
``UNSUPPORTED_VALUE`` for a dead worker.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from resi.config import ScoringSettings
from resi.score.distinct import with_distinct_active
from resi.score.models import (
    AssignmentInput,
    CommitInput,
    FileAssessment,
    FileOutcome,
    Reason,
    SharedValues,
)
from resi.score.tiers import ASSESS_BATCH_ROWS, assess_zipcode
from resi.scrape.listing import LIMIT_EXCEEDED
from resi.validate.inputs import read_file_outcome, read_limits, reason_of

OK = "OK"
"""Download status of a file that downloaded and matched its commit."""

CHUNK_FILES = 32
"""Most files in one job (with at most ``ASSESS_BATCH_ROWS`` committed rows in all)."""


class Worker(Protocol):
    """What a job runs on: ``FileReader.call`` (a capped worker process)."""

    def call(self, request: dict[str, Any], timeout: float, *, what: str) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Job:
    """One chunk of a zipcode's files, each with its download status (``OK`` or a reason)."""

    assignment: AssignmentInput
    files: tuple[tuple[CommitInput, str, Path], ...]
    epoch_id: str
    nonce: str
    validation_seed: str
    config: ScoringSettings

    def to_request(self) -> dict[str, Any]:
        return {
            "op": "assess",
            "assignment": asdict(self.assignment),
            "files": [
                {"commit": _commit_json(c), "status": status, "path": str(path)}
                for c, status, path in self.files
            ],
            "epoch": [self.epoch_id, self.nonce, self.validation_seed],
            "config": self.config.model_dump(mode="json"),
        }

    @classmethod
    def from_request(cls, request: Mapping[str, Any]) -> Job:
        epoch_id, nonce, validation_seed = request["epoch"]
        return cls(
            assignment=AssignmentInput(**request["assignment"]),
            files=tuple(
                (_commit(f["commit"]), f["status"], Path(f["path"])) for f in request["files"]
            ),
            epoch_id=epoch_id,
            nonce=nonce,
            validation_seed=validation_seed,
            config=_settings(json.dumps(request["config"], sort_keys=True)),
        )

    def alone(self) -> list[Job]:
        """One job per file."""
        return [
            Job(self.assignment, (f,), self.epoch_id, self.nonce, self.validation_seed, self.config)
            for f in self.files
        ]

    def assess(self, outcomes: Sequence[FileOutcome]) -> list[FileAssessment]:
        """The files' assessments given what reading them gave (in file order)."""
        pairs = [(c, o) for (c, _, _), o in zip(self.files, outcomes, strict=True)]
        done = assess_zipcode(
            self.assignment,
            pairs,
            epoch_id=self.epoch_id,
            nonce=self.nonce,
            validation_seed=self.validation_seed,
            config=self.config,
        )
        return with_distinct_active(done, pairs)


def chunks(
    files: Sequence[tuple[CommitInput, str, Path]],
    max_files: int = CHUNK_FILES,
    max_rows: int = ASSESS_BATCH_ROWS,
) -> list[list[tuple[CommitInput, str, Path]]]:
    """Consecutive chunks of at most ``max_files`` files and ``max_rows`` committed rows (or one
    file over that). The rows are what miners committed: the chunking only spreads the work."""
    out: list[list[tuple[CommitInput, str, Path]]] = []
    rows = 0
    for item in files:
        n = max(0, item[0].rows)
        if not out or len(out[-1]) >= max_files or (out[-1] and rows + n > max_rows):
            out.append([])
            rows = 0
        out[-1].append(item)
        rows += n
    return out


# ------------------------------------------------------------------ in the worker


def answer_job(request: Mapping[str, Any]) -> tuple[dict[str, Any], bytes]:
    """The worker's answer to a job and the bytes that follow it.

    Done: ``{"json_bytes": n}`` and the assessments as a JSON array (``FileAssessment.to_json``
    each). Not done: ``{"reason", "detail"}`` and no bytes; the job as a whole could not be
    done here (memory, or something no per-file check caught), so the caller tries its files
    one by one.
    """
    try:
        job = Job.from_request(request)
        limits = read_limits(job.assignment.expected_listings, job.config)
        outcomes = [
            read_file_outcome(path, limits) if status == OK else FileOutcome.failed(Reason(status))
            for _, status, path in job.files
        ]
        payload = _json_array(job.assess(outcomes))
        return {"json_bytes": len(payload)}, payload
    except (MemoryError, pa.ArrowMemoryError) as exc:
        return {"reason": LIMIT_EXCEEDED, "detail": f"out of the read budget: {exc}"}, b""
    except Exception as exc:  # anything else a file provokes is that file's outcome
        return {"reason": "UNSUPPORTED_VALUE", "detail": f"{type(exc).__name__}: {exc}"}, b""


def _json_array(assessments: Sequence[FileAssessment]) -> bytes:
    return json.dumps([a.to_json() for a in assessments]).encode()


# ------------------------------------------------------------------ in the validator


@dataclass(frozen=True)
class Assessed:
    """A job's assessments, in file order, and the same as JSON arrays (for the checkpoint)."""

    assessments: list[FileAssessment]
    json_arrays: list[bytes]


def run_job(
    worker: Worker, job: Job, timeout_per_file: float, shared: SharedValues | None = None
) -> Assessed:
    """The job's assessments from ``worker`` (blocking; never raises for file content). See
    the module docstring for what makes files go again one by one. Jobs decoded with one
    ``shared`` share their sampled rows' equal values (an epoch's draws repeat listings)."""
    n = len(job.files)
    what = f"{n} file(s) of zipcode {job.assignment.zipcode}"
    answer = worker.call(job.to_request(), timeout_per_file * n, what=what)
    if "json" in answer:
        shared = shared or SharedValues()
        done = [FileAssessment.from_json(d, shared) for d in json.loads(answer["json"])]
        if len(done) == n:
            return Assessed(done, [answer["json"]])
        answer = {"reason": "UNSUPPORTED_VALUE", "detail": "file reader answered for other files"}
    if n > 1:
        alone = [run_job(worker, one, timeout_per_file, shared) for one in job.alone()]
        return Assessed(
            [a for r in alone for a in r.assessments], [j for r in alone for j in r.json_arrays]
        )
    status = job.files[0][1]
    if status != OK:  # nothing to read: the download's reason, whatever became of the worker
        failed = FileOutcome.failed(Reason(status))
    else:
        failed = FileOutcome.failed(reason_of(answer["reason"]), answer.get("detail", ""))
    done = job.assess([failed])
    return Assessed(done, [_json_array(done)])


def _commit_json(c: CommitInput) -> dict[str, Any]:
    d = asdict(c)
    d["received_at"] = c.received_at.isoformat()
    return d


def _commit(d: Mapping[str, Any]) -> CommitInput:
    return CommitInput(**{**d, "received_at": datetime.fromisoformat(d["received_at"])})


_settings_cache: dict[str, ScoringSettings] = {}


def _settings(text: str) -> ScoringSettings:
    """The scoring settings a job carries (parsed once per distinct value in a worker)."""
    found = _settings_cache.get(text)
    if found is None:
        _settings_cache.clear()  # a worker serves one validator: one value at a time
        found = _settings_cache[text] = ScoringSettings.model_validate_json(text)
    return found
