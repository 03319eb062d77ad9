"""The validator's published files and their replay: report JSON, winners Parquet, metadata.

``validation_report.json`` records every decision with its reason codes and spot-check evidence,
the scores and consensus hash, and the inputs needed to recompute them offline: the epoch's
assignments and commits, each file's assessment (tiers 1–2 and its seeded draws) and every lookup.
``replay_report`` feeds those back into ``validate_epoch`` without any network.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from resi.config import ScoringSettings
from resi.errors import ScoreError
from resi.score.engine import validate_epoch
from resi.score.models import (
    AssignmentInput,
    CommitInput,
    Decision,
    EpochRecord,
    EpochResult,
    FileAssessment,
    Lookup,
    SpotEvidence,
)
from resi.scrape.listing import read_listings

REPORT_SCHEMA_VERSION = 1
REPORT_NAME = "validation_report.json"
DATA_NAME = "validated_data.parquet"
METADATA_NAME = "epoch_metadata.json"


def evidence_json(e: SpotEvidence) -> dict[str, Any]:
    """One sampled listing's spot-check evidence as JSON-ready data (claimed vs observed)."""
    return {
        "index": e.index,
        "key": e.key,
        "status": e.status.value,
        "match": e.match,
        "mismatched": list(e.mismatched),
        "claimed": dict(e.claimed),
        "observed": asdict(e.observed) if e.observed else None,
    }


def _decision_json(d: Decision) -> dict[str, Any]:
    out: dict[str, Any] = {
        "zipcode": d.zipcode,
        "hotkey": d.hotkey,
        "position": d.position,
        "received_at": d.received_at.isoformat(),
        "sha256": d.sha256,
        "rows": d.rows,
        "reasons": [r.value for r in d.reasons],
        "liar": d.liar,
        "participant": d.participant,
        "rank": d.rank,
        "metrics": asdict(d.metrics) if d.metrics else None,
        "spot": None,
    }
    if d.spot is not None:
        out["spot"] = {
            "reason": d.spot.reason.value,
            "k": d.spot.k,
            "draws": d.spot.draws,
            "verified": d.spot.verified,
            "matched": d.spot.matched,
            "evidence": [evidence_json(e) for e in d.spot.evidence],
        }
    return out


def build_report(
    record: EpochRecord,
    result: EpochResult,
    lookups: Mapping[str, Lookup],
    config: ScoringSettings,
    validator: str,
) -> dict[str, Any]:
    """The full report document (JSON-ready)."""
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "epoch_id": record.epoch_id,
        "nonce": record.nonce,
        "validator": validator,
        "consensus_hash": result.consensus_hash,
        "scores": dict(sorted(result.score_strings.items())),
        "winners": {z: list(hks) for z, hks in sorted(result.winners.items())},
        "validated_counts": dict(sorted(result.validated_counts.items())),
        "liars": sorted(result.liars),
        "decisions": [_decision_json(d) for d in result.decisions],
        "scoring": config.model_dump(mode="json"),
        "inputs": {
            "validation_seed": record.validation_seed,
            "assignments": [asdict(a) for a in record.assignments],
            "commits": [
                {**asdict(c), "received_at": c.received_at.isoformat()} for c in record.commits
            ],
            "assessments": [a.to_json() for a in result.assessments],
            "lookups": {k: lookups[k].to_json() for k in sorted(lookups)},
        },
    }


def write_json(path: Path, doc: Mapping[str, Any]) -> None:
    """Write JSON atomically (temp file + rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True, default=str))
    tmp.replace(path)


def load_report(path: Path) -> dict[str, Any]:
    """Read a report; raises ``ScoreError`` if it is not a report this code understands."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ScoreError(f"cannot read report {path}: {exc}") from None
    if not isinstance(doc, dict) or doc.get("schema_version") != REPORT_SCHEMA_VERSION:
        raise ScoreError(f"{path} is not a version-{REPORT_SCHEMA_VERSION} validation report")
    return doc


def record_from_report(
    doc: Mapping[str, Any],
) -> tuple[EpochRecord, dict[str, Lookup], ScoringSettings]:
    """The recorded inputs, lookups and scoring settings of a report."""
    inputs = doc["inputs"]
    assessments = [FileAssessment.from_json(a) for a in inputs["assessments"]]
    record = EpochRecord(
        epoch_id=doc["epoch_id"],
        nonce=doc["nonce"],
        validation_seed=inputs["validation_seed"],
        assignments=tuple(AssignmentInput(**a) for a in inputs["assignments"]),
        commits=tuple(
            CommitInput(**{**c, "received_at": datetime.fromisoformat(c["received_at"])})
            for c in inputs["commits"]
        ),
        files={(a.hotkey, a.zipcode): a for a in assessments},
    )
    lookups = {k: Lookup.from_json(v) for k, v in inputs["lookups"].items()}
    return record, lookups, ScoringSettings(**doc["scoring"])


def replay_report(doc: Mapping[str, Any]) -> EpochResult:
    """Recompute a report's result offline from its recorded inputs and lookups."""
    record, lookups, config = record_from_report(doc)
    return validate_epoch(record, lookups, config)


def winners_table(result: EpochResult, files: Mapping[tuple[str, str], Path]) -> pa.Table:
    """The winners' rows with ``rank`` and ``miner_hotkey`` (blocking: reads Parquet)."""
    parts: list[pa.Table] = []
    for zipcode, hotkeys in sorted(result.winners.items()):
        for rank, hotkey in enumerate(hotkeys, start=1):
            table, _ = read_listings(files[(hotkey, zipcode)])
            table = table.replace_schema_metadata(None)
            n = table.num_rows
            table = table.append_column("rank", pa.array([rank] * n, pa.int8()))
            table = table.append_column("miner_hotkey", pa.array([hotkey] * n, pa.string()))
            parts.append(table)
    if not parts:
        from resi.scrape.listing import LISTING_SCHEMA

        schema = LISTING_SCHEMA.append(pa.field("rank", pa.int8())).append(
            pa.field("miner_hotkey", pa.string())
        )
        return schema.empty_table()
    return pa.concat_tables(parts)


def epoch_metadata(record: EpochRecord, result: EpochResult, validator: str) -> dict[str, Any]:
    """A small summary document next to the report."""
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "epoch_id": record.epoch_id,
        "validator": validator,
        "consensus_hash": result.consensus_hash,
        "zipcodes": len(record.assignments),
        "commits": len(record.commits),
        "miners": len({c.hotkey for c in record.commits}),
        "winners": {z: list(hks) for z, hks in sorted(result.winners.items())},
        "liars": sorted(result.liars),
    }


# ----------------------------------------------------------------- result summary (issue 18)

SUMMARY_MAX_BYTES = 512 * 1024
"""Default bound of a posted result summary (the API's ``max_result_summary_bytes``)."""
_SPOT_FIELDS = 16


def _scalar(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value if not isinstance(value, str) else value[:200]
    return str(value)[:200]


def _spot_rows(spot: Any) -> list[Any]:
    from resi.api.schemas import SpotRowSummary

    rows = []
    for e in spot.evidence[:20]:
        claimed = {k: _scalar(v) for k, v in list(dict(e.claimed).items())[:_SPOT_FIELDS]}
        observed = None
        if e.observed is not None:
            observed = {k: _scalar(v) for k, v in asdict(e.observed).items()}
        rows.append(
            SpotRowSummary(
                key=e.key[:128],
                status=e.status.value,
                match=e.match,
                mismatched=list(e.mismatched)[:_SPOT_FIELDS],
                claimed=claimed,
                observed=observed,
            )
        )
    return rows


def build_summary(result: EpochResult, *, max_bytes: int = SUMMARY_MAX_BYTES) -> Any | None:
    """The compact ``ResultSummary`` of a complete result, posted with the consensus hash.

    Carries the hashed scores and winners (so the API can recompute the hash), validated counts,
    and per miner its rank and reason codes per zipcode with the sampled spot-check rows. When the
    JSON exceeds ``max_bytes`` the spot rows are dropped; returns None if it is still too large.
    """
    from resi.api.schemas import MinerZipcodeSummary, ResultSummary, ZipcodeSummary

    zipcodes = {
        z: ZipcodeSummary(winners=list(hks), validated=int(result.validated_counts.get(z, 0)))
        for z, hks in sorted(result.winners.items())
    }
    for with_spot in (True, False):
        miners: dict[str, list[MinerZipcodeSummary]] = {}
        for d in result.decisions:
            spot = _spot_rows(d.spot) if with_spot and d.spot is not None else None
            miners.setdefault(d.hotkey, []).append(
                MinerZipcodeSummary(
                    zipcode=d.zipcode,
                    rank=d.rank,
                    reasons=[r.value for r in d.reasons][:8],
                    liar=d.liar,
                    spot=spot,
                )
            )
        summary = ResultSummary(
            epoch_id=result.epoch_id,
            scores=dict(sorted(result.score_strings.items())),
            zipcodes=zipcodes,
            miners=miners,
        )
        if len(summary.model_dump_json()) <= max_bytes:
            return summary
    return None
