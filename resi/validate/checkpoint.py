"""Crash-safe validator progress in ``--workdir``.

``state.json`` (versioned JSON, rewritten atomically; small: one entry per finished epoch) holds
the finished epochs (with their consensus hashes and scores for weights) and the block of the last
weight setting.

``epochs/{epoch_id}/checkpoint.jsonl`` holds one epoch's verified downloads, finished zipcodes'
assessments and every lookup done, so a restart redoes none of them. It is append-only JSON
lines: a header line ``{"schema_version", "epoch_id"}`` then one record per line
(``download``, ``assessment`` of one zipcode, ``lookup``); a later record for the same key wins.
Saving appends only what changed since the last save, so the cost per zipcode does not grow with
the epoch (rewriting one growing JSON document after every zipcode was quadratic). A crash in the
middle of an append leaves a torn last line, which loading drops (that record is redone).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
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


EPOCH_CHECKPOINT_VERSION = 2
CHECKPOINT_NAME = "checkpoint.jsonl"


def _parse_lines(path: Path, data: bytes) -> tuple[list[dict[str, Any]], int]:
    """The records of a JSON-lines checkpoint and the byte length of its intact prefix.

    A torn final line (no newline, or not JSON: a crash while appending) is left out; a bad line
    anywhere else raises ``ConfigError``.
    """
    records: list[dict[str, Any]] = []
    good = 0
    lines = data.split(b"\n")
    for i, line in enumerate(lines):
        last = i == len(lines) - 1  # text after the final newline: torn or empty
        if last:
            break
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            if i == len(lines) - 2 and not lines[-1]:
                break  # the final complete-looking line is torn inside: drop it
            raise ConfigError(f"checkpoint {path} line {i + 1} is corrupt: {exc}") from None
        records.append(rec)
        good += len(line) + 1
    return records, good


@dataclass
class EpochCheckpoint:
    """One epoch's progress. ``downloads`` maps ``hotkey|zipcode`` to ``{sha256, status}``
    (``status`` is ``OK`` or a reason code); ``assessments`` maps a zipcode to its files'
    assessments (JSON); ``lookups`` maps a listing key to its ``Lookup``.

    Mutate ``downloads``/``lookups`` freely and call ``save()``, which appends the changes;
    ``add_assessments`` appends one zipcode at once. ``done`` holds every finished zipcode;
    ``assessments`` only those loaded from disk (the caller holds the ones it adds, so the
    epoch's assessments are not kept twice in memory).
    """

    path: Path
    epoch_id: str
    downloads: dict[str, dict[str, str]] = field(default_factory=dict)
    assessments: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    lookups: dict[str, Lookup] = field(default_factory=dict)
    done: set[str] = field(default_factory=set)
    _saved_downloads: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)
    _saved_lookups: set[str] = field(default_factory=set, repr=False)
    _has_header: bool = field(default=False, repr=False)

    @classmethod
    def load(cls, path: Path, epoch_id: str) -> EpochCheckpoint:
        """The checkpoint at ``path`` (empty if absent). Raises ``ConfigError`` if it is corrupt
        before its last line, of another schema version or of another epoch."""
        ckpt = cls(path=path, epoch_id=epoch_id)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return ckpt
        except OSError as exc:
            raise ConfigError(f"cannot read checkpoint {path}: {exc}") from None
        records, good = _parse_lines(path, data)
        if good < len(data):
            with path.open("r+b") as f:  # drop the torn tail so appends start on a clean line
                f.truncate(good)
        if not records:
            return ckpt
        header = records[0]
        if header.get("schema_version") != EPOCH_CHECKPOINT_VERSION:
            raise ConfigError(
                f"checkpoint {path} has schema version {header.get('schema_version')!r}; "
                f"this resi writes {EPOCH_CHECKPOINT_VERSION} (move the workdir aside)"
            )
        if header.get("epoch_id") != epoch_id:
            raise ConfigError(f"checkpoint {path} is for epoch {header.get('epoch_id')!r}")
        ckpt._has_header = True
        for rec in records[1:]:
            kind = rec.get("kind")
            if kind == "download":
                entry = {"sha256": rec["sha256"], "status": rec["status"]}
                ckpt.downloads[rec["key"]] = entry
                ckpt._saved_downloads[rec["key"]] = dict(entry)
            elif kind == "assessment":
                ckpt.assessments[rec["zipcode"]] = rec["files"]
                ckpt.done.add(rec["zipcode"])
            elif kind == "lookup":
                ckpt.lookups[rec["key"]] = Lookup.from_json(rec["lookup"])
                ckpt._saved_lookups.add(rec["key"])
            else:
                raise ConfigError(f"checkpoint {path}: unknown record kind {kind!r}")
        return ckpt

    def zipcode_assessments(self, zipcode: str) -> list[FileAssessment] | None:
        raw = self.assessments.get(zipcode)
        return None if raw is None else [FileAssessment.from_json(a) for a in raw]

    def _append(self, records: list[dict[str, Any]]) -> None:
        if not records and self._has_header:
            return
        self._append_bytes("".join(json.dumps(r, sort_keys=True) + "\n" for r in records).encode())

    def _append_bytes(self, lines: bytes) -> None:
        if not self._has_header:
            header = {"schema_version": EPOCH_CHECKPOINT_VERSION, "epoch_id": self.epoch_id}
            lines = json.dumps(header, sort_keys=True).encode() + b"\n" + lines
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab") as f:
            f.write(lines)
            f.flush()
            os.fsync(f.fileno())
        self._has_header = True

    def add_assessments(self, zipcode: str, assessments: list[FileAssessment]) -> None:
        """Record (and append) one finished zipcode's assessments."""
        self.add_assessment_arrays(
            zipcode, [json.dumps([a.to_json() for a in assessments]).encode()]
        )

    def add_assessment_arrays(self, zipcode: str, arrays: Sequence[bytes]) -> None:
        """``add_assessments`` for assessments that are JSON already: each of ``arrays`` a JSON
        array of ``FileAssessment.to_json`` values (the reader workers' answers, in file
        order). Written as they are, not decoded and encoded again."""
        if not all(a.startswith(b"[") and a.endswith(b"]") for a in arrays):
            raise ValueError("assessments must come as JSON arrays")
        files = b", ".join(a[1:-1] for a in arrays if len(a) > 2)
        name = json.dumps(zipcode).encode()
        line = b'{"files": [' + files + b'], "kind": "assessment", "zipcode": ' + name + b"}\n"
        self._append_bytes(line)
        self.done.add(zipcode)

    def save(self) -> None:
        """Append the downloads and lookups changed since the last save (cost ∝ the changes,
        plus a scan of the in-memory dicts)."""
        records: list[dict[str, Any]] = []
        for key, entry in self.downloads.items():
            if self._saved_downloads.get(key) != entry:
                records.append({"kind": "download", "key": key, **entry})
                self._saved_downloads[key] = dict(entry)
        for key in sorted(self.lookups.keys() - self._saved_lookups):
            records.append({"kind": "lookup", "key": key, "lookup": self.lookups[key].to_json()})
            self._saved_lookups.add(key)
        self._append(records)


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
