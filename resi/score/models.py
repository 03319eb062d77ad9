"""Plain values of scoring: an epoch's recorded inputs, spot-check lookups, and the result.

Everything here is a frozen dataclass with no I/O so scoring stays pure and replayable; the
``to_json``/``from_json`` helpers give the report a stable, versioned shape.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from fractions import Fraction
from typing import Any

import pyarrow as pa

BURN_KEY = "<burn>"
"""Score key of the burn entry; mapped to ``ScoringSettings.burn_uid`` at weight time."""


class Reason(StrEnum):
    """Reason codes carried by every decision in the validation report."""

    # integrity (liar unless noted)
    DOWNLOAD_UNVERIFIED = "DOWNLOAD_UNVERIFIED"  # transient download failure: not a liar
    FILE_MISSING = "FILE_MISSING"  # object absent (403/404): ineligible, not a liar
    HASH_MISMATCH = "HASH_MISMATCH"
    PARQUET_UNREADABLE = "PARQUET_UNREADABLE"
    SCHEMA_MISMATCH = "SCHEMA_MISMATCH"
    SCHEMA_VERSION_UNSUPPORTED = "SCHEMA_VERSION_UNSUPPORTED"  # newer writer: ineligible only
    METADATA_MISMATCH = "METADATA_MISMATCH"
    ROWS_MISMATCH = "ROWS_MISMATCH"  # row count differs from the committed ``rows``
    # honeypot
    HONEYPOT = "HONEYPOT"  # listings in a honeypot zipcode: liar
    HONEYPOT_EMPTY = "HONEYPOT_EMPTY"  # correctly empty honeypot file: no reward, no blame
    # tier 1
    T1_TOO_FEW = "T1_TOO_FEW"
    T1_TOO_MANY = "T1_TOO_MANY"
    # tier 2
    T2_INCOMPLETE = "T2_INCOMPLETE"
    T2_IMPLAUSIBLE = "T2_IMPLAUSIBLE"
    T2_INCONSISTENT = "T2_INCONSISTENT"
    T2_DUPLICATES = "T2_DUPLICATES"
    DUPLICATE_COPY = "DUPLICATE_COPY"
    # tier 3
    T3_PASS = "T3_PASS"
    T3_MISMATCH = "T3_MISMATCH"
    T3_NOT_FOUND = "T3_NOT_FOUND"  # a sampled listing provably does not exist: liar
    T3_UNVERIFIABLE = "T3_UNVERIFIABLE"  # validator-side failures: not held against the miner
    T3_SKIPPED = "T3_SKIPPED"  # all ranks already filled
    T3_FABRICATED = "T3_FABRICATED"  # sample match rate below the fabrication floor: liar
    # operators
    SAME_OPERATOR = "SAME_OPERATOR"  # its coldkey is already paid in this zipcode: no pay
    # walk
    LIAR_ELSEWHERE = "LIAR_ELSEWHERE"  # lied in another zipcode of this epoch
    RANKED = "RANKED"
    # hostile files (issue 12): ineligible, not liars
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"  # over a row/size/string/memory/time limit
    UNSUPPORTED_VALUE = "UNSUPPORTED_VALUE"  # values the checks cannot evaluate
    SCRAPED_OUTSIDE_EPOCH = "SCRAPED_OUTSIDE_EPOCH"  # a scraped_at outside the epoch window


LIAR_FILE_REASONS = frozenset(
    {
        Reason.HASH_MISMATCH,
        Reason.PARQUET_UNREADABLE,
        Reason.SCHEMA_MISMATCH,
        Reason.METADATA_MISMATCH,
        Reason.ROWS_MISMATCH,
    }
)
"""File outcomes that make the committing hotkey a liar (transient/missing downloads do not)."""


def exact(value: float) -> Fraction:
    """A configured ratio as the exact decimal the operator wrote (0.85 is 17/20, not binary)."""
    return Fraction(str(value))


class LookupStatus(StrEnum):
    FOUND = "FOUND"
    GONE = "GONE"
    UNVERIFIABLE = "UNVERIFIABLE"


@dataclass(frozen=True)
class AssignmentInput:
    """One zipcode of the epoch as validators see it (honeypot flag and centre included)."""

    zipcode: str
    expected_listings: int
    state: str
    lat: float
    lon: float
    honeypot: bool


@dataclass(frozen=True)
class CommitInput:
    """A miner's commit; ``received_at`` is the API server's receive time (UTC)."""

    hotkey: str
    zipcode: str
    key: str
    sha256: str
    rows: int
    received_at: datetime
    coldkey: str = ""  # the hotkey's coldkey in the metagraph when validated ("" = unknown)

    @property
    def operator(self) -> str:
        """Who runs this hotkey: its coldkey, or the hotkey itself when the coldkey is unknown."""
        return self.coldkey or f"hotkey:{self.hotkey}"


@dataclass(frozen=True)
class FileMeta:
    """The key/value metadata read from a listings file."""

    epoch_id: str
    nonce: str
    miner_hotkey: str
    zipcode: str


@dataclass(frozen=True)
class FileOutcome:
    """What downloading and reading one committed file gave: a table, or a reason code."""

    table: pa.Table | None = None
    meta: FileMeta | None = None
    reason: Reason | None = None
    detail: str = ""

    @classmethod
    def failed(cls, reason: Reason, detail: str = "") -> FileOutcome:
        return cls(reason=reason, detail=detail)

    @classmethod
    def ok(cls, table: pa.Table, meta: FileMeta) -> FileOutcome:
        return cls(table=table, meta=meta)


@dataclass(frozen=True)
class Observed:
    """Fields of a listing as the listing source shows it now (None = not shown)."""

    price: int | None
    bedrooms: float | None
    bathrooms: float | None
    living_area_sqft: float | None
    zipcode: str | None
    status: str | None = None  # the site's status (FOR_SALE, PENDING, SOLD, ...)
    status_changed_at: str | None = None  # ISO time of the site's last status change, if shown


@dataclass(frozen=True)
class Lookup:
    """The recorded result of looking one listing up at the source."""

    status: LookupStatus
    observed: Observed | None = None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "observed": asdict(self.observed) if self.observed else None,
            "detail": self.detail,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Lookup:
        obs = d.get("observed")
        return cls(
            status=LookupStatus(d["status"]),
            observed=Observed(**obs) if obs else None,
            detail=d.get("detail", ""),
        )


class ClaimedRow(Mapping[str, Any]):
    """A sampled row's claimed values, read-only, iterating in column order like a dict.

    Rows of one batch share one name → position index and hold only a tuple of values: an
    epoch keeps up to ``spot_max_draw_factor × k`` draws of every file that reaches tier 3, and
    a dict per draw cost about three times the memory.
    """

    __slots__ = ("_index", "_values")

    def __init__(self, index: Mapping[str, int], values: tuple[Any, ...]) -> None:
        self._index = index
        self._values = values

    def __getitem__(self, key: str) -> Any:
        return self._values[self._index[key]]

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._values)

    def as_dict(self) -> dict[str, Any]:
        """The row as a plain dict, in column order (``dict(row)`` without a call per key)."""
        values = self._values
        return {name: values[i] for name, i in self._index.items()}

    def __repr__(self) -> str:
        return repr(self.as_dict())


def _plain(claimed: Mapping[str, Any]) -> dict[str, Any]:
    return claimed.as_dict() if isinstance(claimed, ClaimedRow) else dict(claimed)


@dataclass(frozen=True, slots=True)
class SampleRow:
    """One seeded draw: the row index, its canonical listing key and the claimed fields.

    Slotted: an epoch holds up to ``spot_max_draw_factor × k`` of them per file.
    """

    index: int
    key: str
    claimed: Mapping[str, Any]


class SharedValues:
    """Sampled rows decoded from JSON, sharing what the live assessment's rows share.

    JSON decoding makes a new object for every value; an epoch keeps every file's draws, and
    a zipcode's files repeat most of them (city, status, the prices of a listing every miner
    scraped). Equal strings, ints and floats become one object, never across types (``1``,
    ``1.0`` and ``True`` stay apart) and never for a zero float (``0.0 == -0.0``, yet they
    print differently; equal non-zero floats are the same bits). Rows with the same columns
    share one name → position index.
    """

    __slots__ = ("_floats", "_indexes", "_ints", "_strs")

    def __init__(self) -> None:
        self._indexes: dict[tuple[str, ...], dict[str, int]] = {}
        self._strs: dict[str, str] = {}
        self._ints: dict[int, int] = {}
        self._floats: dict[float, float] = {}

    def _value(self, v: Any) -> Any:
        t = type(v)
        if t is str:
            return self._strs.setdefault(v, v)
        if t is int:
            return self._ints.setdefault(v, v)
        if t is float and v != 0.0:
            return self._floats.setdefault(v, v)
        return v

    def samples(self, raw: Any) -> tuple[SampleRow, ...]:
        """``SampleRow``s from their JSON form (``FileAssessment.to_json``'s ``sample``)."""
        out = []
        for s in raw:
            claimed = s["claimed"]
            names = tuple(claimed)
            index = self._indexes.get(names)
            if index is None:
                index = self._indexes[names] = {n: i for i, n in enumerate(names)}
            values = tuple(map(self._value, claimed.values()))
            out.append(SampleRow(s["index"], self._value(s["key"]), ClaimedRow(index, values)))
        return tuple(out)


@dataclass(frozen=True)
class LookupRequest:
    """A lookup the walk still needs: ``key`` plus the claimed row to build the query from."""

    key: str
    claimed: Mapping[str, Any]


@dataclass(frozen=True)
class Metrics:
    """Tier 2 row counts of one file; thresholds compare exact fractions of ``rows``."""

    rows: int
    complete: int
    plausible: int
    consistent: int
    duplicates: int

    def share(self, count: int) -> Fraction:
        """``count / rows`` as an exact fraction (0 for an empty file)."""
        return Fraction(count, self.rows) if self.rows else Fraction(0)


@dataclass(frozen=True)
class FileAssessment:
    """Everything the walk needs from one file, computed once (tables can then be dropped).

    ``reasons`` holds the order-independent failures (integrity, honeypot, tiers 1–2);
    ``liar`` says whether any of them is a lie. ``fingerprint`` is the order-insensitive hash
    of every row value, used to catch id-and-value-identical copies; ``sample`` holds the seeded
    draws (up to ``spot_max_draw_factor × k``) and ``k`` the sample size.
    """

    hotkey: str
    zipcode: str
    sha256: str
    rows: int
    reasons: tuple[Reason, ...]
    liar: bool
    metrics: Metrics | None = None
    fingerprint: str | None = None
    k: int = 0
    sample: tuple[SampleRow, ...] = ()
    detail: str = ""
    distinct_active: int | None = None  # distinct active properties (``resi.score.distinct``)

    @property
    def passed_cheap(self) -> bool:
        """Integrity, honeypot and tiers 1–2 all passed (copy detection comes later)."""
        return not self.reasons

    def to_json(self) -> dict[str, Any]:
        # field by field: ``asdict`` would deep-copy every sampled row only to replace it below
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["metrics"] = asdict(self.metrics) if self.metrics is not None else None
        d["reasons"] = [r.value for r in self.reasons]
        d["sample"] = [
            {"index": s.index, "key": s.key, "claimed": _plain(s.claimed)} for s in self.sample
        ]
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any], shared: SharedValues | None = None) -> FileAssessment:
        """The assessment ``to_json`` gave; assessments read with one ``shared`` share their
        sampled rows' equal values and column indexes (as the live assessment's rows do)."""
        return cls(
            hotkey=d["hotkey"],
            zipcode=d["zipcode"],
            sha256=d["sha256"],
            rows=d["rows"],
            reasons=tuple(Reason(r) for r in d["reasons"]),
            liar=d["liar"],
            metrics=Metrics(**d["metrics"]) if d.get("metrics") else None,
            fingerprint=d.get("fingerprint"),
            k=d.get("k", 0),
            sample=(shared or SharedValues()).samples(d.get("sample", ())),
            detail=d.get("detail", ""),
            distinct_active=d.get("distinct_active"),
        )


@dataclass(frozen=True)
class EpochRecord:
    """The recorded inputs of one epoch's validation.

    ``files`` maps ``(hotkey, zipcode)`` to the file outcome (or an already computed assessment);
    a commit with no entry is treated as ``DOWNLOAD_UNVERIFIED``.
    """

    epoch_id: str
    nonce: str
    validation_seed: str
    assignments: tuple[AssignmentInput, ...]
    commits: tuple[CommitInput, ...]
    files: Mapping[tuple[str, str], FileOutcome | FileAssessment] = field(default_factory=dict)


@dataclass(frozen=True)
class SpotEvidence:
    """One sampled listing: what the miner claimed, what the source showed, and the verdict."""

    index: int
    key: str
    claimed: Mapping[str, Any]
    status: LookupStatus
    observed: Observed | None
    match: bool | None
    mismatched: tuple[str, ...] = ()


@dataclass(frozen=True)
class SpotResult:
    reason: Reason
    k: int
    draws: int
    verified: int
    matched: int
    evidence: tuple[SpotEvidence, ...]


@dataclass(frozen=True)
class Decision:
    """The walk's verdict on one candidate, with every reason code that applied."""

    zipcode: str
    hotkey: str
    position: int
    received_at: datetime
    sha256: str
    rows: int
    reasons: tuple[Reason, ...]
    liar: bool
    participant: bool
    rank: int | None
    metrics: Metrics | None
    spot: SpotResult | None


@dataclass(frozen=True)
class EpochResult:
    """The outcome of ``validate_epoch``.

    When ``pending_lookups`` is non-empty the result is incomplete: fetch those lookups and call
    again (``scores``/``winners`` are empty and ``consensus_hash`` is None until then).
    ``score_strings`` are the exact scores rounded to 9 places, as hashed.
    """

    epoch_id: str
    nonce: str
    decisions: tuple[Decision, ...]
    winners: Mapping[str, tuple[str, ...]]
    validated_counts: Mapping[str, int]
    zipcode_shares: Mapping[str, float]
    scores: Mapping[str, float]
    score_strings: Mapping[str, str]
    liars: frozenset[str]
    consensus_hash: str | None
    pending_lookups: tuple[LookupRequest, ...] = ()
    assessments: tuple[FileAssessment, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.pending_lookups
