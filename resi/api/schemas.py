"""Wire schemas of the resi API (`/api/v1`), shared by the server, the typed client and OpenAPI.

JSON is snake_case; datetimes are ISO 8601 UTC. Request bodies forbid unknown fields so a typo
is a 422, not a silently ignored value.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

HEX64 = r"^[0-9a-f]{64}$"
ZIPCODE = r"^[0-9]{5}$"
EPOCH_ID = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}-[0-9]{2}-[0-9]{2}$"


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Response(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ErrorBody(_Response):
    error: str
    message: str


# ----------------------------------------------------------------- miners


class ZipcodeTask(_Response):
    """One zipcode as a miner sees it (no honeypot flag, ever)."""

    zipcode: str
    expected_listings: int
    state: str
    city: str
    county: str
    market_tier: str
    region: str


class CurrentAssignment(_Response):
    """`GET /api/v1/zipcode-assignments/current`."""

    epoch_id: str
    start: datetime
    end: datetime
    deadline: datetime
    nonce: str
    target: int
    tolerance: float
    zipcodes: list[ZipcodeTask]


class CommitItem(_Request):
    zipcode: str = Field(pattern=ZIPCODE)
    key: str = Field(min_length=1, max_length=512)
    sha256: str = Field(pattern=HEX64)
    rows: int = Field(ge=0, le=10_000_000)


MinerStatus = Literal["STARTED", "IN_PROGRESS", "COMPLETED", "FAILED"]


class StatusUpdate(_Request):
    """`POST /api/v1/zipcode-assignments/status`: a status report and/or commits."""

    epoch_id: str = Field(pattern=EPOCH_ID)
    nonce: str = Field(min_length=1, max_length=64)
    status: MinerStatus
    commits: list[CommitItem] = Field(default_factory=list, max_length=500)
    detail: str | None = Field(None, max_length=500)


class CommitAccepted(_Response):
    zipcode: str
    key: str
    received_at: datetime


class StatusReceipt(_Response):
    epoch_id: str
    status: str
    accepted: list[CommitAccepted]


class FolderAccessRequest(_Request):
    """`POST /get-folder-access`: a grant for ONE object, the file of ``zipcode`` with ``sha256``.

    The epoch defaults to the current one.
    """

    epoch_id: str | None = Field(None, pattern=EPOCH_ID)
    zipcode: str = Field(pattern=r"^[0-9]{5}$")
    sha256: str = Field(pattern=HEX64)


class UploadGrant(_Response):
    """A presigned POST for the one object ``key`` (in ``key_prefix``); fields first, file last."""

    url: str
    fields: dict[str, str]
    key_prefix: str
    max_bytes: int
    expires_at: datetime
    key: str | None = None


# ----------------------------------------------------------------- validators


class AssignmentForValidator(ZipcodeTask):
    """One zipcode as a validator sees it: the miner's view plus centre and honeypot flag."""

    lat: float
    lon: float
    honeypot: bool


class CommitForValidator(_Response):
    hotkey: str
    zipcode: str
    key: str
    sha256: str
    rows: int
    size: int
    received_at: datetime
    download_url: str


class EpochInputs(_Response):
    """`GET /api/v1/zipcode-assignments/epoch/{epoch_id}` (validators, COMPLETED epochs only)."""

    epoch_id: str
    start: datetime
    end: datetime
    deadline: datetime
    state: str
    nonce: str
    validation_seed: str
    target: int
    tolerance: float
    assignments: list[AssignmentForValidator]
    commits: list[CommitForValidator]


ReportName = Literal["validated_data.parquet", "validation_report.json", "epoch_metadata.json"]


class ValidatorUploadRequest(_Request):
    """`POST /api/v1/s3-access/validator-upload`: a grant for one report file of a done epoch."""

    epoch_id: str = Field(pattern=EPOCH_ID)
    name: ReportName


class ValidatorResult(_Request):
    """`POST /api/v1/validators/results`."""

    epoch_id: str = Field(pattern=EPOCH_ID)
    consensus_hash: str = Field(pattern=HEX64)
    report_key: str = Field(min_length=1, max_length=512)


class ValidatorResultReceipt(_Response):
    epoch_id: str
    validator: str
    consensus_hash: str
    received_at: datetime


class ConsensusEntry(_Response):
    validator: str
    consensus_hash: str
    report_key: str
    received_at: datetime


class Consensus(_Response):
    """`GET /api/v1/epochs/{epoch_id}/consensus` (public)."""

    epoch_id: str
    validators: list[ConsensusEntry]
    majority_hash: str | None
    agreement: float
    outliers: list[str]


# ----------------------------------------------------------------- public


class EpochSummary(_Response):
    epoch_id: str
    start: datetime
    end: datetime
    deadline: datetime
    state: str
    zipcodes: int
    miners_committed: int
    commits: int


class Stats(_Response):
    """`GET /api/v1/zipcode-assignments/stats` (public)."""

    now: datetime
    current: EpochSummary | None
    next: EpochSummary | None
    seconds_to_next: float
    recent: list[EpochSummary]


class HealthPart(_Response):
    name: str
    ok: bool
    required: bool
    detail: str


class Health(_Response):
    """`GET /health`: ``ok`` is true only when every required part is up."""

    ok: bool
    parts: list[HealthPart]
