"""Crash-safe validator progress in ``--workdir`` (versioned JSON, written atomically).

``state.json`` holds the finished epochs (with their consensus hashes and scores for weights) and
the block of the last weight setting; ``epochs/{epoch_id}/checkpoint.json`` holds one epoch's
verified downloads, finished zipcodes' assessments and every lookup done, so a restart redoes
none of them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resi.errors import ConfigError
from resi.score.models import FileAssessment, Lookup

CHECKPOINT_SCHEMA_VERSION = 1


def _read(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read checkpoint {path}: {exc}") from None
    if doc.get("schema_version") != CHECKPOINT_SCHEMA_VERSION:
        raise ConfigError(
            f"checkpoint {path} has schema version {doc.get('schema_version')!r}; "
            f"this resi writes {CHECKPOINT_SCHEMA_VERSION} (move the workdir aside)"
        )
    return doc


def _write(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, sort_keys=True))
    tmp.replace(path)


@dataclass
class EpochCheckpoint:
    """One epoch's progress. ``downloads`` maps ``hotkey|zipcode`` to ``OK`` or a reason code."""

    path: Path
    epoch_id: str
    downloads: dict[str, dict[str, str]] = field(default_factory=dict)
    assessments: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    lookups: dict[str, Lookup] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, epoch_id: str) -> EpochCheckpoint:
        doc = _read(path)
        if doc is None:
            return cls(path=path, epoch_id=epoch_id)
        return cls(
            path=path,
            epoch_id=epoch_id,
            downloads=doc.get("downloads", {}),
            assessments=doc.get("assessments", {}),
            lookups={k: Lookup.from_json(v) for k, v in doc.get("lookups", {}).items()},
        )

    def zipcode_assessments(self, zipcode: str) -> list[FileAssessment] | None:
        raw = self.assessments.get(zipcode)
        return None if raw is None else [FileAssessment.from_json(a) for a in raw]

    def save(self) -> None:
        _write(
            self.path,
            {
                "schema_version": CHECKPOINT_SCHEMA_VERSION,
                "epoch_id": self.epoch_id,
                "downloads": self.downloads,
                "assessments": self.assessments,
                "lookups": {k: v.to_json() for k, v in sorted(self.lookups.items())},
            },
        )


@dataclass
class ValidatorState:
    """Finished epochs (hash, scores, report key) and the last weights block."""

    path: Path
    finished: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_weights_block: int | None = None

    @classmethod
    def load(cls, path: Path) -> ValidatorState:
        doc = _read(path)
        if doc is None:
            return cls(path=path)
        return cls(
            path=path,
            finished=doc.get("finished", {}),
            last_weights_block=doc.get("last_weights_block"),
        )

    def newest(self) -> tuple[str, dict[str, Any]] | None:
        """The newest finished epoch (epoch ids sort chronologically)."""
        if not self.finished:
            return None
        epoch_id = max(self.finished)
        return epoch_id, self.finished[epoch_id]

    def save(self) -> None:
        _write(
            self.path,
            {
                "schema_version": CHECKPOINT_SCHEMA_VERSION,
                "finished": self.finished,
                "last_weights_block": self.last_weights_block,
            },
        )
