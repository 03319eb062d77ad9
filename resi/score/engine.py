"""``validate_epoch``: the deterministic walk of DESIGN §8 over an epoch's recorded inputs.

Per zipcode, candidates are walked in (server receive time, hotkey) order. Every candidate gets
the cheap checks (integrity, honeypot, tiers 1–2, copy detection); tier 3 runs only while a rank
is open. A hotkey that lied anywhere is excluded everywhere; since excluding a liar can open a
rank (and so run tier 3, which can find another liar) the walk repeats until the liar set stops
growing — the set only grows, so this ends after at most one pass per hotkey.

Tier 3 needs lookups. When ``lookups`` lacks some, the result lists them in
``pending_lookups``; the I/O driver fetches them and calls again with the union.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from resi.config import ScoringSettings
from resi.errors import ScoreError
from resi.score.consensus import consensus_hash, decimal_string
from resi.score.models import (
    AssignmentInput,
    CommitInput,
    Decision,
    EpochRecord,
    EpochResult,
    FileAssessment,
    FileOutcome,
    Lookup,
    LookupRequest,
    Reason,
    SpotResult,
)
from resi.score.rewards import epoch_scores
from resi.score.spot import run_spot
from resi.score.tiers import assess_zipcode


@dataclass
class _ZipWalk:
    decisions: list[Decision] = field(default_factory=list)
    winners: list[str] = field(default_factory=list)
    pending: list[LookupRequest] = field(default_factory=list)
    t3_liars: set[str] = field(default_factory=set)


def order_candidates(commits: list[CommitInput]) -> list[CommitInput]:
    """Commits in walk order: server receive time, then hotkey as the tie-break."""
    return sorted(commits, key=lambda c: (c.received_at, c.hotkey))


def assess_record(
    record: EpochRecord, config: ScoringSettings
) -> dict[tuple[str, str], FileAssessment]:
    """Assess every committed file (zipcode by zipcode); given assessments are kept as they are.

    Raises ``ScoreError`` for two commits of one (hotkey, zipcode) or an unassigned zipcode.
    """
    assignments = {a.zipcode: a for a in record.assignments}
    out: dict[tuple[str, str], FileAssessment] = {}
    todo: dict[str, list[tuple[CommitInput, FileOutcome]]] = {}
    seen: set[tuple[str, str]] = set()
    for c in record.commits:
        key = (c.hotkey, c.zipcode)
        if key in seen:
            raise ScoreError(f"two commits by {c.hotkey} for zipcode {c.zipcode}")
        seen.add(key)
        if c.zipcode not in assignments:
            raise ScoreError(f"commit by {c.hotkey} for unassigned zipcode {c.zipcode}")
        given = record.files.get(key) or FileOutcome.failed(Reason.DOWNLOAD_UNVERIFIED)
        if isinstance(given, FileAssessment):
            out[key] = given
        else:
            todo.setdefault(c.zipcode, []).append((c, given))
    for zipcode in sorted(todo):
        subs = todo[zipcode]
        assessed = assess_zipcode(
            assignments[zipcode],
            subs,
            epoch_id=record.epoch_id,
            nonce=record.nonce,
            validation_seed=record.validation_seed,
            config=config,
        )
        for (c, _), a in zip(subs, assessed, strict=True):
            out[(c.hotkey, c.zipcode)] = a
    return out


def _walk_zipcode(
    assignment: AssignmentInput,
    candidates: list[CommitInput],
    assessed: Mapping[tuple[str, str], FileAssessment],
    lookups: Mapping[str, Lookup],
    excluded: set[str],
    rerun: set[tuple[str, str]],
    config: ScoringSettings,
) -> _ZipWalk:
    walk = _ZipWalk()
    open_ranks = len(config.rank_shares)
    seen_sha: dict[str, str] = {}
    seen_fp: dict[str, str] = {}
    blocked = False  # an earlier candidate still waits for lookups
    for position, c in enumerate(candidates):
        a = assessed[(c.hotkey, c.zipcode)]
        reasons = list(a.reasons)
        liar = a.liar
        earlier = seen_sha.get(c.sha256) or (seen_fp.get(a.fingerprint) if a.fingerprint else None)
        if earlier is not None and earlier != c.hotkey:
            reasons.append(Reason.DUPLICATE_COPY)
        seen_sha.setdefault(c.sha256, c.hotkey)
        if a.fingerprint:
            seen_fp.setdefault(a.fingerprint, c.hotkey)
        cheap_ok = not reasons
        spot: SpotResult | None = None
        rank: int | None = None
        is_excluded = c.hotkey in excluded
        if is_excluded and not liar:
            reasons.append(Reason.LIAR_ELSEWHERE)
        wants_t3 = cheap_ok and (not is_excluded or (c.hotkey, c.zipcode) in rerun)
        if wants_t3 and not blocked and len(walk.winners) < open_ranks:
            outcome = run_spot(a, lookups, config)
            if isinstance(outcome, list):
                walk.pending.extend(outcome)
                blocked = True
            else:
                spot = outcome
                reasons.append(spot.reason)
                if spot.reason is Reason.T3_NOT_FOUND:
                    liar = True
                    walk.t3_liars.add(c.hotkey)
                elif spot.reason is Reason.T3_PASS and not is_excluded:
                    walk.winners.append(c.hotkey)
                    rank = len(walk.winners)
                    reasons.append(Reason.RANKED)
        elif wants_t3 and not blocked:
            reasons.append(Reason.T3_SKIPPED)
        walk.decisions.append(
            Decision(
                zipcode=c.zipcode,
                hotkey=c.hotkey,
                position=position,
                received_at=c.received_at,
                sha256=c.sha256,
                rows=c.rows,
                reasons=tuple(reasons),
                liar=liar,
                participant=cheap_ok and not liar and not is_excluded,
                rank=rank,
                metrics=a.metrics,
                spot=spot,
            )
        )
    return walk


def validate_epoch(
    record: EpochRecord, lookups: Mapping[str, Lookup], config: ScoringSettings
) -> EpochResult:
    """Score one epoch; pure and deterministic (input order does not matter).

    Returns an ``EpochResult``; when ``pending_lookups`` is non-empty it is incomplete (no
    scores, no hash). Raises ``ScoreError`` for inconsistent inputs (duplicate commits,
    commits for unassigned zipcodes).
    """
    assessed = assess_record(record, config)
    assignments = {a.zipcode: a for a in record.assignments}
    by_zip: dict[str, list[CommitInput]] = {z: [] for z in sorted(assignments)}
    for c in record.commits:
        by_zip[c.zipcode].append(c)
    ordered = {z: order_candidates(cs) for z, cs in by_zip.items()}

    excluded = {a.hotkey for a in assessed.values() if a.liar}
    rerun: set[tuple[str, str]] = set()
    while True:
        walks = {
            z: _walk_zipcode(assignments[z], ordered[z], assessed, lookups, excluded, rerun, config)
            for z in ordered
        }
        found = {(hk, z) for z, w in walks.items() for hk in w.t3_liars}
        rerun |= found
        new = {hk for hk, _ in found} - excluded
        if not new:
            break
        excluded |= new

    decisions = tuple(d for z in ordered for d in walks[z].decisions)
    pending: dict[str, LookupRequest] = {}
    for z in ordered:
        for req in walks[z].pending:
            pending.setdefault(req.key, req)
    assessments = tuple(assessed[k] for k in sorted(assessed))
    if pending:
        return EpochResult(
            epoch_id=record.epoch_id,
            nonce=record.nonce,
            decisions=decisions,
            winners={},
            validated_counts={},
            zipcode_shares={},
            scores={},
            score_strings={},
            liars=frozenset(excluded),
            consensus_hash=None,
            pending_lookups=tuple(pending[k] for k in sorted(pending)),
            assessments=assessments,
        )

    winners = {z: tuple(w.winners) for z, w in walks.items()}
    rows = {(c.hotkey, c.zipcode): c.rows for c in record.commits}
    counts = {z: (rows[(ws[0], z)] if ws else 0) for z, ws in winners.items()}
    participants = {
        z: [d.hotkey for d in walks[z].decisions if d.participant and d.hotkey not in excluded]
        for z in ordered
    }
    hotkeys = {c.hotkey for c in record.commits}
    exact_scores = epoch_scores(hotkeys, winners, participants, counts, config)
    total = sum(counts.values())
    return EpochResult(
        epoch_id=record.epoch_id,
        nonce=record.nonce,
        decisions=decisions,
        winners=winners,
        validated_counts=counts,
        zipcode_shares={z: (n / total if total else 0.0) for z, n in counts.items()},
        scores={hk: float(v) for hk, v in exact_scores.items()},
        score_strings={hk: decimal_string(v) for hk, v in exact_scores.items()},
        liars=frozenset(excluded),
        consensus_hash=consensus_hash(record.epoch_id, record.nonce, exact_scores, winners),
        assessments=assessments,
    )
