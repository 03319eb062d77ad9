"""Epochs a validator could not finish: attempts, the failed set, and a readable counter state.

An epoch whose validation keeps failing for a reason other than an API or storage outage (which
is retried forever, since it is nobody's epoch problem) is tried ``epoch_max_attempts`` times,
then recorded as failed with its reason: in ``failed_epochs.json`` in the workdir, in a
``validation_failed.json`` report beside the epoch's outputs, and in the log. Later epochs go on
and weights keep coming from the newest validated epoch. ``EpochFailures`` is also the state a
metrics endpoint reads (``attempts_total``, ``failed_total``, ``failed``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FAILURE_REPORT_NAME = "validation_failed.json"


@dataclass
class EpochFailures:
    """Failed attempts per epoch and the epochs given up on (persisted at ``path``)."""

    path: Path
    attempts: dict[str, int] = field(default_factory=dict)
    failed: dict[str, dict[str, Any]] = field(default_factory=dict)
    attempts_total: int = 0  # failed attempts since start (counter)

    @property
    def failed_total(self) -> int:
        """How many epochs were given up on (all time)."""
        return len(self.failed)

    @classmethod
    def load(cls, path: Path) -> EpochFailures:
        try:
            doc = json.loads(Path(path).read_text())
        except (OSError, ValueError):
            return cls(path=Path(path))
        return cls(
            path=Path(path),
            attempts={str(k): int(v) for k, v in doc.get("attempts", {}).items()},
            failed=dict(doc.get("failed", {})),
        )

    def record(self, epoch_id: str, reason: str, max_attempts: int) -> bool:
        """Count one failed attempt; returns True when the epoch is now given up on."""
        self.attempts_total += 1
        n = self.attempts.get(epoch_id, 0) + 1
        self.attempts[epoch_id] = n
        if n >= max_attempts:
            self.failed[epoch_id] = {
                "reason": reason,
                "attempts": n,
                "failed_at": datetime.now(UTC).isoformat(),
            }
            self.attempts.pop(epoch_id, None)
        self.save()
        return epoch_id in self.failed

    def succeeded(self, epoch_id: str) -> None:
        """Forget the failed attempts of an epoch that was finished after all."""
        if self.attempts.pop(epoch_id, None) is not None:
            self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(json.dumps({"attempts": self.attempts, "failed": self.failed}, indent=1))
        os.replace(tmp, self.path)


def write_failure_report(out_dir: Path, epoch_id: str, entry: dict[str, Any]) -> Path:
    """Write the failed epoch's report (``validation_failed.json``); returns its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / FAILURE_REPORT_NAME
    path.write_text(json.dumps({"epoch_id": epoch_id, "state": "FAILED", **entry}, indent=1))
    return path
