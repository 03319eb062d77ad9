"""Disagreement diagnosis: where this validator's report and the majority's part ways.

After posting its hash a validator reads the consensus view. In the minority, it fetches the
majority's ``validation_report.json`` (through the API's presigned link) and re-derives its result
once: its own files' assessments and rules with the majority's spot-check lookups. It then logs
and exports the first differing decisions (zipcode, miner, tier, reason and the values on each
side) to ``epochs/{id}/out/consensus_diff.json``. ``cause`` is ``lookups`` when the re-derivation
reproduces the majority (the listing source answered it differently: transient) and ``rules``
when it does not (its settings, files or code differ: look at the diff). A validator never
copies another's weights: nothing here touches the scores it sets.

``diff_reports`` is pure, and `resi replay-epoch ID --compare HOTKEY` prints the same diff.
"""

from __future__ import annotations

import json
import logging
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from resi.validate.metrics import tier_of

log = logging.getLogger(__name__)

DIFF_NAME = "consensus_diff.json"
MAJORITY_NAME = "majority_report.json"
DEFAULT_LIMIT = 20
# The decision fields whose values must agree (the ones that move scores).
_FIELDS = ("reasons", "liar", "participant", "rank", "rows", "sha256")
_SPOT_FIELDS = ("reason", "k", "draws", "verified", "matched")


def _key(d: Mapping[str, Any]) -> tuple[str, str]:
    return str(d["zipcode"]), str(d["hotkey"])


def _values(d: Mapping[str, Any] | None) -> dict[str, Any]:
    if d is None:
        return {}
    out = {f: d.get(f) for f in _FIELDS}
    spot = d.get("spot") or {}
    out.update({f"spot.{f}": spot.get(f) for f in _SPOT_FIELDS})
    return out


def _first_reason(own: list[str], other: list[str]) -> str | None:
    """The first reason code present on one side only (in the order the walk applied them)."""
    for reason in [*own, *other]:
        if (reason in own) != (reason in other):
            return reason
    return None


def decision_diffs(
    own: Mapping[str, Any], other: Mapping[str, Any], *, limit: int = DEFAULT_LIMIT
) -> list[dict[str, Any]]:
    """The first ``limit`` decisions that differ, ordered by (zipcode, commit position, miner).

    Each entry: ``zipcode``, ``miner``, ``tier`` and ``reason`` (the first reason code found on
    one side only, else the tier of the first differing field), and ``own``/``other`` holding
    only the differing values (a decision missing on one side shows as ``null``).
    """
    mine = {_key(d): d for d in own.get("decisions", [])}
    theirs = {_key(d): d for d in other.get("decisions", [])}
    position = {k: int(d.get("position", 0)) for k, d in {**theirs, **mine}.items()}
    out: list[dict[str, Any]] = []
    for key in sorted(mine.keys() | theirs.keys(), key=lambda k: (k[0], position[k], k[1])):
        a, b = mine.get(key), theirs.get(key)
        va, vb = _values(a), _values(b)
        changed = sorted(f for f in va.keys() | vb.keys() if va.get(f) != vb.get(f))
        if a is not None and b is not None and not changed:
            continue
        reasons_a = list(a.get("reasons", [])) if a else []
        reasons_b = list(b.get("reasons", [])) if b else []
        reason = _first_reason(reasons_a, reasons_b)
        if reason is None:
            reason = ((b or a or {}).get("spot") or {}).get("reason") or (
                reasons_b or reasons_a or ["?"]
            )[-1]
        out.append(
            {
                "zipcode": key[0],
                "miner": key[1],
                "tier": tier_of(str(reason)),
                "reason": reason,
                "own": None if a is None else {f: va.get(f) for f in changed},
                "other": None if b is None else {f: vb.get(f) for f in changed},
            }
        )
        if len(out) >= limit:
            break
    return out


def _mapping_diff(
    own: Mapping[str, Any], other: Mapping[str, Any], limit: int
) -> dict[str, list[Any]]:
    keys = sorted(k for k in own.keys() | other.keys() if own.get(k) != other.get(k))
    return {k: [own.get(k), other.get(k)] for k in keys[:limit]}


def diff_reports(
    own: Mapping[str, Any], other: Mapping[str, Any], *, limit: int = DEFAULT_LIMIT
) -> dict[str, Any]:
    """Where two validation reports of one epoch differ (JSON-ready; pure).

    ``scoring``: settings whose values differ (``[own, other]``); ``decisions``: see
    ``decision_diffs``; ``lookups``: spot-check lookups recorded differently; ``scores``: miners
    scored differently. Each list is cut at ``limit`` entries.
    """
    return {
        "epoch_id": own.get("epoch_id"),
        "own_validator": own.get("validator"),
        "other_validator": other.get("validator"),
        "own_hash": own.get("consensus_hash"),
        "other_hash": other.get("consensus_hash"),
        "scoring": _mapping_diff(own.get("scoring", {}), other.get("scoring", {}), limit),
        "decisions": decision_diffs(own, other, limit=limit),
        "lookups": _mapping_diff(
            own.get("inputs", {}).get("lookups", {}),
            other.get("inputs", {}).get("lookups", {}),
            limit,
        ),
        "scores": _mapping_diff(own.get("scores", {}), other.get("scores", {}), limit),
    }


def _j(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def format_diff(diff: Mapping[str, Any]) -> list[str]:
    """The diff as plain lines for a log or a terminal."""
    lines = [
        f"epoch {diff['epoch_id']}: {diff['own_validator']} ({str(diff['own_hash'])[:12]}) vs "
        f"{diff['other_validator']} ({str(diff['other_hash'])[:12]})"
    ]
    if diff.get("cause"):
        lines.append(
            f"cause: {diff['cause']} (own files and rules with their lookups give "
            f"{str(diff.get('rederived_hash'))[:12]})"
        )
    for name, (a, b) in diff["scoring"].items():
        lines.append(f"setting {name}: own={a!r} other={b!r}")
    for d in diff["decisions"]:
        lines.append(
            f"zipcode {d['zipcode']} miner {d['miner']} tier {d['tier']} reason {d['reason']}: "
            f"own={_j(d['own'])} other={_j(d['other'])}"
        )
    for key, (a, b) in diff["lookups"].items():
        lines.append(f"lookup {key}: own={_j(a)} other={_j(b)}")
    if len(lines) == 1:
        lines.append("no decision, setting or lookup differs (the hashes differ elsewhere)")
    return lines


def write_diff(path: Path, diff: Mapping[str, Any]) -> Path:
    """Write ``diff`` as JSON to ``path`` (parents created); returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(diff, indent=2, sort_keys=True, default=str))
    return path


async def fetch_report(
    client: Any, http: Any, epoch_id: str, hotkey: str, dest: Path, *, max_bytes: int
) -> tuple[dict[str, Any], str]:
    """Download ``hotkey``'s posted report of ``epoch_id`` to ``dest`` through the API's link.

    Returns (report, its S3 key). Raises ``ApiError`` (e.g. 404 ``NO_REPORT``),
    ``StorageError`` when the object cannot be read, ``ScoreError`` when it is not a report.
    """
    from resi.s3.transfer import download_file
    from resi.validate.report import load_report

    link = await client.report_link(epoch_id, hotkey)
    await download_file(http, link.url, dest, expected_sha256=None, max_bytes=max_bytes)
    return load_report(dest), link.report_key


async def recheck_newest(validator: Any) -> dict[str, Any] | None:
    """Check the consensus of the newest validated epoch again, diagnosing only when the view
    changed since the last check (validators post at different times: the first to post cannot
    know it will end in the minority). Returns the diff when one was exported."""
    from resi.validate.report import REPORT_NAME

    newest = validator.state.newest()
    if newest is None:
        return None
    epoch_id, info = newest
    report = Path(validator.workdir) / "epochs" / epoch_id / "out" / REPORT_NAME
    if not report.exists():
        return None
    return await check_consensus(
        validator, epoch_id, str(info["consensus_hash"]), report, only_if_changed=True
    )


# Per validator object: epoch id → (validators counted, majority hash) at the last check.
_SEEN: weakref.WeakKeyDictionary[Any, dict[str, tuple[int, str | None]]] = (
    weakref.WeakKeyDictionary()
)


async def check_consensus(
    validator: Any,
    epoch_id: str,
    own_hash: str,
    own_report: Path,
    *,
    only_if_changed: bool = False,
) -> dict[str, Any] | None:
    """Read the consensus view after posting; in the minority, diagnose (see module docstring).

    ``validator`` is a ``resi.validate.loop.Validator``. Returns the exported diff, or None when
    this validator agrees, no majority exists yet, the view is unchanged (``only_if_changed``),
    or the check could not run (logged: a failed diagnosis never fails the validation it follows).
    """
    import anyio

    from resi.errors import ApiError, ScoreError, StorageError
    from resi.score.engine import validate_epoch
    from resi.validate.report import load_report, record_from_report

    try:
        consensus = await validator.client.consensus(epoch_id)
        seen = _SEEN.setdefault(validator, {})
        view = (len(consensus.validators), consensus.majority_hash)
        if only_if_changed and seen.get(epoch_id) == view:
            return None
        seen[epoch_id] = view
        validator.metrics.record_consensus(own_hash, consensus)
        log.info(
            "epoch %s: agreement %.0f%% of %d validators, quorum %s, this validator %s",
            epoch_id,
            100 * consensus.agreement,
            len(consensus.validators),
            "reached" if consensus.quorum else "not reached",
            "agrees" if consensus.majority_hash == own_hash else "differs",
        )
        majority = consensus.majority_hash
        if majority is None or majority == own_hash:
            return None
        holder = next(e for e in consensus.validators if e.consensus_hash == majority)
        other, _ = await fetch_report(
            validator.client,
            validator.http,
            epoch_id,
            holder.validator,
            own_report.parent / MAJORITY_NAME,
            max_bytes=validator.settings.max_file_bytes,
        )
        own = load_report(own_report)
        # Re-derive once: own files' assessments and own rules, the majority's lookups.
        record, own_lookups, _ = record_from_report(own)
        lookups = {**own_lookups, **record_from_report(other)[1]}
        rederived = await anyio.to_thread.run_sync(
            lambda: validate_epoch(record, lookups, validator.scoring).consensus_hash
        )
    except (ApiError, StorageError, ScoreError, KeyError, TypeError, ValueError) as exc:
        log.warning("epoch %s: consensus check failed: %s", epoch_id, exc)
        return None
    diff = diff_reports(own, other)
    diff["majority_hash"] = majority
    diff["rederived_hash"] = rederived
    diff["cause"] = "lookups" if rederived == majority else "rules"
    path = write_diff(own_report.parent / DIFF_NAME, diff)
    validator.metrics.diffs.inc(diff["cause"])
    for line in format_diff(diff):
        log.warning("consensus diff: %s", line)
    log.warning("epoch %s: this validator is in the minority; diff written to %s", epoch_id, path)
    return diff
