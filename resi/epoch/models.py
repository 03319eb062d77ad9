"""Plain values of the epoch service: catalog rows, epochs, assignments, commits.

These cross module lines (store, API, validator), so they are frozen dataclasses with no I/O.
All datetimes are timezone-aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class EpochState(StrEnum):
    PENDING = "PENDING"
    ACTIVE = "ACTIVE"
    COMPLETED = "COMPLETED"
    ARCHIVED = "ARCHIVED"


class MarketTier(StrEnum):
    PREMIUM = "PREMIUM"
    STANDARD = "STANDARD"
    EMERGING = "EMERGING"


@dataclass(frozen=True)
class ZipcodeInfo:
    """One catalog row."""

    zipcode: str
    state: str
    city: str
    county: str
    lat: float
    lon: float
    zip_type: str  # STANDARD / PO BOX / UNIQUE / MILITARY
    expected_listings: int
    market_tier: str = MarketTier.STANDARD
    region: str = ""


@dataclass(frozen=True)
class Epoch:
    epoch_id: str
    start: datetime
    end: datetime
    deadline: datetime
    state: EpochState
    nonce: str
    target: int
    tolerance: float
    achieved_sum: int


@dataclass(frozen=True)
class Assignment:
    """One zipcode of an epoch. ``honeypot`` must never reach a miner."""

    epoch_id: str
    position: int
    zipcode: str
    expected_listings: int
    state: str
    city: str
    county: str
    market_tier: str
    region: str
    lat: float
    lon: float
    honeypot: bool


@dataclass(frozen=True)
class Commit:
    """A miner's commit of one zipcode file; ``received_at`` is the server's receive time."""

    epoch_id: str
    hotkey: str
    zipcode: str
    key: str
    sha256: str
    rows: int
    size: int
    received_at: datetime


@dataclass(frozen=True)
class MinerStatusRow:
    """The latest status a miner reported for an epoch (``at`` is the server time)."""

    epoch_id: str
    hotkey: str
    status: str
    detail: str | None
    at: datetime


@dataclass(frozen=True)
class ValidatorResultRow:
    """One validator's published result for an epoch (one row per epoch and validator)."""

    epoch_id: str
    validator_hotkey: str
    consensus_hash: str
    report_key: str
    at: datetime


@dataclass(frozen=True)
class ResultSummaryRow:
    """One validator's report summary for an epoch (JSON text of ``ResultSummary``)."""

    epoch_id: str
    validator_hotkey: str
    consensus_hash: str
    summary_json: str
    at: datetime
