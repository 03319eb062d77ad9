"""Pure scoring of a completed epoch: tiers, spot check, ranking, rewards, consensus hash.

Nothing here does I/O; ``validate_epoch(record, lookups, config)`` is the one entry point and
``resi.validate`` is the driver that feeds it downloaded files and network lookups.
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
