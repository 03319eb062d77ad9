"""Pure scoring of a completed epoch: tiers, spot check, ranking, rewards, consensus hash.

Nothing here does I/O; ``validate_epoch(record, lookups, config)`` is the one entry point and
``resi.validate`` is the driver that feeds it downloaded files and network lookups.

Choices DESIGN §8 leaves open, decided here (details in each module's docstring):

- Integrity: hash/Parquet/schema/metadata/row-count failures make a liar; a transient download
  failure is *unverified* and a missing object (403/404) is ineligible, neither is a lie.
- Honeypot: any row → liar (``HONEYPOT``); an empty file is fine but earns nothing.
- Copies: same sha256 as an earlier commit by another hotkey, or the same *fingerprint* (every
  value of every row, ``scraped_at`` included, row order ignored) → ``DUPLICATE_COPY``:
  ineligible, not a liar. ``scraped_at`` is included so two honest scrapes do not collide.
- Tier 3 runs on every file that passed the cheap checks. ``T3_NOT_FOUND`` (a sampled listing
  is gone) or ``T3_FABRICATED`` (match rate below the fabrication floor) → liar; ``T3_MISMATCH``
  (between the floor and 80%) and ``T3_UNVERIFIABLE`` → not paid, not a liar. Only ``T3_PASS``
  files are paid (rank or participant), at most one per coldkey per zipcode.
- A liar anywhere is excluded everywhere *before* ranking, so its ranks go to the next honest
  candidate and it scores exactly 0.
- Validated count of a zipcode = distinct active properties of its rank-1 file × its sample
  match rate, capped at a multiple of expected (``engine.verified_count``).
- Scores are exact fractions; the consensus hash covers every committing hotkey (0 included)
  and the burn entry ``<burn>``.
"""

from __future__ import annotations

from resi.score.consensus import consensus_hash
from resi.score.engine import validate_epoch
from resi.score.models import (
    BURN_KEY,
    AssignmentInput,
    CommitInput,
    EpochRecord,
    EpochResult,
    FileAssessment,
    FileMeta,
    FileOutcome,
    Lookup,
    LookupRequest,
    LookupStatus,
    Observed,
    Reason,
)
from resi.score.tiers import assess_file
from resi.score.weights import weights_for

__all__ = [
    "BURN_KEY",
    "AssignmentInput",
    "CommitInput",
    "EpochRecord",
    "EpochResult",
    "FileAssessment",
    "FileMeta",
    "FileOutcome",
    "Lookup",
    "LookupRequest",
    "LookupStatus",
    "Observed",
    "Reason",
    "assess_file",
    "consensus_hash",
    "validate_epoch",
    "weights_for",
]
