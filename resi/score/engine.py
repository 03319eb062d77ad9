"""``validate_epoch``: the deterministic walk of DESIGN §8 over an epoch's recorded inputs.

Per zipcode, candidates are walked in (server receive time, hotkey) order. Every candidate gets
the cheap checks (integrity, honeypot, tiers 1–2, copy detection) and every one that passes them
gets tier 3, so nothing is paid unverified. Liars (integrity lies, honeypot listings, a gone
listing or a match rate below the fabrication floor) are then known, and are excluded everywhere
before ranking: paid files are those that passed tier 3 by never-lying hotkeys, one per operator
(coldkey) per zipcode; the first three rank, the rest are participants. A zipcode's validated
count is its rank-1 file's distinct active properties × its sample match rate, capped
(``verified_count``).

Tier 3 needs lookups. When ``lookups`` lacks some, the result lists them in
``pending_lookups``; the I/O driver fetches them and calls again with the union.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from resi.config import ScoringSettings
from resi.errors import ScoreError
from resi.score.consensus import consensus_hash, decimal_string
from resi.score.distinct import with_distinct_active
from resi.score.models import (
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
    exact,
)
from resi.score.rewards import epoch_scores
from resi.score.spot import run_spot
from resi.score.tiers import assess_zipcode

# Tier-3 outcomes that make the miner a liar (for the whole epoch).
T3_LIAR_REASONS = frozenset({Reason.T3_NOT_FOUND, Reason.T3_FABRICATED})


@dataclass(frozen=True)
class _Checked:
    """One candidate after copies and tier 3 (ranking comes once every liar is known)."""

    position: int
    commit: CommitInput
    assessment: FileAssessment
    reasons: tuple[Reason, ...]
    liar: bool
    spot: SpotResult | None


@dataclass
class _ZipWalk:
    checked: list[_Checked] = field(default_factory=list)
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
        for (c, _), a in zip(subs, with_distinct_active(assessed, subs), strict=True):
            out[(c.hotkey, c.zipcode)] = a
    return out


def _check_zipcode(
    candidates: list[CommitInput],
    assessed: Mapping[tuple[str, str], FileAssessment],
    lookups: Mapping[str, Lookup],
    cheap_liars: set[str],
    config: ScoringSettings,
    honeypot: bool = False,
) -> _ZipWalk:
    """Copy detection and tier 3 for every candidate that passed the cheap checks.

    In a ``honeypot`` zipcode a spot check that makes a liar also carries ``HONEYPOT``.

    Tier 3 runs on every such file (not only while a rank is open), so nothing is paid unchecked;
    lookups are keyed by canonical listing, so files sharing listings share lookups. Hotkeys that
    already lied in integrity/honeypot checks are not spot-checked (they get 0 anyway).
    """
    walk = _ZipWalk()
    seen_sha: dict[str, str] = {}
    seen_fp: dict[str, str] = {}
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
        spot: SpotResult | None = None
        # Honeypot files are spot-checked even when tiers 1–2 failed (DESIGN §5), so invented
        # listings there always make a liar; such a file is still never paid (``_rank_zipcode``).
        if (not reasons or (honeypot and a.sample)) and c.hotkey not in cheap_liars:
            outcome = run_spot(a, lookups, config)
            if isinstance(outcome, list):
                walk.pending.extend(outcome)
            else:
                spot = outcome
                reasons.append(spot.reason)
                if spot.reason in T3_LIAR_REASONS:
                    liar = True
                    walk.t3_liars.add(c.hotkey)
                    if honeypot:
                        reasons.insert(0, Reason.HONEYPOT)
        walk.checked.append(_Checked(position, c, a, tuple(reasons), liar, spot))
    return walk


def first_lookups(
    commits: list[CommitInput],
    assessed: Mapping[tuple[str, str], FileAssessment],
    lookups: Mapping[str, Lookup],
    liars: set[str],
    config: ScoringSettings,
    honeypot: bool = False,
) -> list[LookupRequest]:
    """The lookups the walk asks for first in one zipcode, given its files' assessments.

    What ``validate_epoch`` lists as pending for the zipcode when ``liars`` holds every hotkey
    that lied in the cheap checks, so the validator can fetch them while other zipcodes are
    still being assessed. Fewer liars known only adds lookups the walk may not need; results
    are keyed by listing, so nothing fetched early changes an outcome.
    """
    candidates = order_candidates(commits)
    return _check_zipcode(candidates, assessed, lookups, liars, config, honeypot).pending


def _rank_zipcode(
    walk: _ZipWalk, liars: frozenset[str], config: ScoringSettings
) -> tuple[list[Decision], list[str], list[str]]:
    """Decisions, ranked hotkeys and participants of one zipcode, in commit order.

    Paid = passed tier 3 and never a liar. The first ``len(rank_shares)`` paid files rank; the
    rest are participants. At most one paid file per operator (coldkey): later ones by the same
    operator get ``SAME_OPERATOR`` and nothing.
    """
    decisions: list[Decision] = []
    winners: list[str] = []
    participants: list[str] = []
    paid_operators: set[str] = set()
    for e in walk.checked:
        c = e.commit
        reasons = list(e.reasons)
        if c.hotkey in liars and not e.liar:
            reasons.append(Reason.LIAR_ELSEWHERE)
        # Paid only when tier 3 is the file's one and only outcome: a honeypot file that was
        # spot-checked despite failing tiers 1–2 (or being a copy) passes nothing.
        passed = e.reasons == (Reason.T3_PASS,) and c.hotkey not in liars
        rank: int | None = None
        participant = False
        if passed:
            if c.operator in paid_operators:
                reasons.append(Reason.SAME_OPERATOR)
            else:
                paid_operators.add(c.operator)
                if len(winners) < len(config.rank_shares):
                    winners.append(c.hotkey)
                    rank = len(winners)
                    reasons.append(Reason.RANKED)
                else:
                    participant = True
                    participants.append(c.hotkey)
        decisions.append(
            Decision(
                zipcode=c.zipcode,
                hotkey=c.hotkey,
                position=e.position,
                received_at=c.received_at,
                sha256=c.sha256,
                rows=c.rows,
                reasons=tuple(reasons),
                liar=e.liar,
                participant=participant,
                rank=rank,
                metrics=e.assessment.metrics,
                spot=e.spot,
            )
        )
    return decisions, winners, participants


def verified_count(
    assessment: FileAssessment, spot: SpotResult | None, expected: int, config: ScoringSettings
) -> int:
    """A zipcode's validated count from its rank-1 file (DESIGN §8, docs/mechanism.md).

    floor(distinct active properties × matched / verified sampled listings), capped at
    floor(``share_cap_multiple`` × expected). Integer arithmetic: identical everywhere.
    Assessments recorded before ``distinct_active`` existed fall back to the row count.
    """
    distinct = assessment.distinct_active
    if distinct is None:
        distinct = assessment.rows
    if spot is not None and spot.verified > 0:
        distinct = distinct * spot.matched // spot.verified
    cap = exact(config.share_cap_multiple) * expected
    return max(0, min(distinct, cap.numerator // cap.denominator))


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

    cheap_liars = {a.hotkey for a in assessed.values() if a.liar}
    honeypots = {a.zipcode for a in record.assignments if a.honeypot}
    walks = {
        z: _check_zipcode(ordered[z], assessed, lookups, cheap_liars, config, z in honeypots)
        for z in ordered
    }
    excluded = frozenset(cheap_liars | {hk for w in walks.values() for hk in w.t3_liars})
    ranked = {z: _rank_zipcode(walks[z], excluded, config) for z in ordered}

    decisions = tuple(d for z in ordered for d in ranked[z][0])
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
            liars=excluded,
            consensus_hash=None,
            pending_lookups=tuple(pending[k] for k in sorted(pending)),
            assessments=assessments,
        )

    winners = {z: tuple(ranked[z][1]) for z in ordered}
    participants = {z: list(ranked[z][2]) for z in ordered}
    counts: dict[str, int] = {}
    for z, ws in winners.items():
        if not ws:
            counts[z] = 0
            continue
        first = next(d for d in ranked[z][0] if d.rank == 1)
        counts[z] = verified_count(
            assessed[(ws[0], z)], first.spot, assignments[z].expected_listings, config
        )
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
        liars=excluded,
        consensus_hash=consensus_hash(record.epoch_id, record.nonce, exact_scores, winners),
        assessments=assessments,
    )
