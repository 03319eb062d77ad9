"""Wire schemas of the resi API (`/api/v1`), shared by the server, the typed client and OpenAPI.

JSON is snake_case; datetimes are ISO 8601 UTC. Request bodies forbid unknown fields so a typo
is a 422, not a silently ignored value.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

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


SCORE_DECIMAL = r"^[0-9]{1,3}\.[0-9]{9}$"
ScoreDecimal = Annotated[str, Field(pattern=SCORE_DECIMAL)]
Scalar = str | int | float | bool | None


class SpotRowSummary(_Request):
    """One sampled listing of a spot check: what the miner claimed against what was observed."""

    key: str = Field(max_length=128)
    status: str = Field(max_length=32)
    match: bool | None
    mismatched: list[str] = Field(default_factory=list, max_length=16)
    claimed: dict[str, Scalar] = Field(default_factory=dict, max_length=16)
    observed: dict[str, Scalar] | None = Field(None, max_length=16)


class MinerZipcodeSummary(_Request):
    """One miner's outcome in one zipcode as a validator decided it."""

    zipcode: str = Field(pattern=ZIPCODE)
    rank: int | None = Field(None, ge=1, le=3)
    reasons: list[str] = Field(default_factory=list, max_length=8)
    liar: bool = False
    spot: list[SpotRowSummary] | None = Field(None, max_length=20)


class ZipcodeSummary(_Request):
    winners: list[str] = Field(default_factory=list, max_length=3)
    validated: int = Field(0, ge=0)


class ResultSummary(_Request):
    """A compact summary of a validator's report, posted with its result (issue 18).

    ``scores`` (decimal strings, as hashed) and ``zipcodes[*].winners`` recompute the consensus
    hash, so the API refuses a summary that does not describe the posted result.
    """

    epoch_id: str = Field(pattern=EPOCH_ID)
    scores: dict[str, ScoreDecimal] = Field(default_factory=dict)
    zipcodes: dict[str, ZipcodeSummary] = Field(default_factory=dict)
    miners: dict[str, list[MinerZipcodeSummary]] = Field(default_factory=dict)


class ZipcodeCount(_Request):
    """A validator's validated listing count for one zipcode of the epoch (calibration)."""

    zipcode: str = Field(pattern=ZIPCODE)
    validated_count: int = Field(ge=0, le=10_000_000)
    honeypot_contradicted: bool = Field(
        False, description="A honeypot whose sampled listings really exist there."
    )


class ValidatorResult(_Request):
    """`POST /api/v1/validators/results`."""

    epoch_id: str = Field(pattern=EPOCH_ID)
    consensus_hash: str = Field(pattern=HEX64)
    report_key: str = Field(min_length=1, max_length=512)
    summary: ResultSummary | None = None
    # Additive (issue 14): the counts feed the API's stake-weighted calibration consensus.
    zipcode_counts: list[ZipcodeCount] = Field(default_factory=list, max_length=5_000)


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
    majority_stake_share: float = 0.0
    quorum: bool = False


class ReportLink(_Response):
    """`GET /api/v1/epochs/{epoch_id}/reports/{hotkey}` (validators): a posted report's URL."""

    epoch_id: str
    validator: str
    consensus_hash: str
    report_key: str
    url: str


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


# ----------------------------------------------------------------- miners' own report


class MinerReportZipcode(_Response):
    """One zipcode of a miner's report: each validator's verdict (rank, reasons, spot rows)."""

    zipcode: str
    validator: str
    rank: int | None
    reasons: list[str]
    liar: bool
    spot: list[SpotRowSummary] | None


class MinerReport(_Response):
    """`GET /api/v1/miners/report/{epoch_id}` (signed by the miner: its own outcome only)."""

    epoch_id: str
    miner: str
    validators: list[str]
    scores: dict[str, str]
    zipcodes: list[MinerReportZipcode]
