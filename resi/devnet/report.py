"""The devnet's end-of-run summary (pure): per epoch, zipcode winners, miner scores and reasons,
the weights the chain stored, and the validators' agreement.

Built from plain inputs (validation report JSON, the chain's weight records, the API's consensus
document) so it is easy to test and to dump as JSON; rendering lives in ``resi/cli/devnet.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from resi.chain.base import WeightsRecord
from resi.chain.conform import WeightsRejected, conform_weights
from resi.devnet.identities import Identities, Identity
from resi.score.models import BURN_KEY

SUMMARY_VERSION = 1


@dataclass(frozen=True)
class ZipcodeRow:
    zipcode: str
    honeypot: bool
    expected: int
    committers: int
    first_committer: str | None  # identity name
    winners: tuple[str, ...]  # identity names, rank 1 first


@dataclass(frozen=True)
class MinerRow:
    name: str
    behaviour: str
    uid: int
    hotkey: str
    commits: int
    score: float
    reasons: tuple[str, ...]  # distinct reason codes over the miner's decisions, sorted
    ranks: tuple[tuple[str, int], ...]  # (zipcode, rank)
    liar: bool
    chain_u16: int | None  # what the chain stored for this uid (first validator's record)
    notes: tuple[str, ...] = ()  # what the scenario process saw (e.g. the API's 409)


@dataclass(frozen=True)
class ValidatorRow:
    name: str
    hotkey: str
    consensus_hash: str | None  # from its own report
    posted_hash: str | None  # what the API recorded
    weights_block: int | None  # block of the matching weight setting
    weights_match: bool  # a stored weight setting equals this report's scores (u16)


@dataclass(frozen=True)
class DiffRow:
    """One decision the outlier and the majority took differently (from consensus_diff.json)."""

    zipcode: str
    miner: str  # identity name
    tier: str
    reason: str  # the first reason code found on one side only
    outlier_reasons: tuple[str, ...]  # every reason code of the decision, each side
    majority_reasons: tuple[str, ...]
    outlier: dict[str, Any] | None  # the differing values (None: no such decision that side)
    majority: dict[str, Any] | None


@dataclass(frozen=True)
class OutlierView:
    """`--outlier-validator`: how the deliberately misconfigured validator fared in one epoch."""

    validator: str  # identity name
    hotkey: str
    settings: dict[str, str]  # the RESI_* variables it ran with
    posted_hash: str | None
    disagrees: bool  # it posted a hash other than the majority's
    diff_found: bool  # it wrote epochs/{epoch_id}/out/consensus_diff.json
    cause: str | None = None  # "rules" or "lookups" (resi/validate/diagnose.py)
    compared_with: str | None = None  # the majority validator whose report it fetched
    scoring: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # setting: (own, majority)
    decisions_total: int = 0  # differing decisions in the file
    decisions_more: bool = False  # the file holds only the first ones (diagnose cuts the list)
    decisions: tuple[DiffRow, ...] = ()  # the first few


@dataclass(frozen=True)
class EpochSummary:
    epoch_id: str
    zipcodes: tuple[ZipcodeRow, ...]
    miners: tuple[MinerRow, ...]
    validators: tuple[ValidatorRow, ...]
    majority_hash: str | None
    agreement: float
    burn_score: float
    burn_u16: int | None = None  # what the chain stored for the burn uid
    chain_total_u16: int = 0  # sum of the stored u16 values (to show shares)
    quorum: bool = False  # the API's verdict: enough validators and stake on the majority hash
    majority_stake_share: float = 0.0
    outlier: OutlierView | None = None  # only with `--outlier-validator`

    def agrees(self, v: ValidatorRow) -> bool | None:
        """Whether validator ``v`` posted the majority hash (None: no majority or no post)."""
        if self.majority_hash is None or v.posted_hash is None:
            return None
        return v.posted_hash == self.majority_hash


@dataclass(frozen=True)
class DevnetResult:
    data_dir: str
    kept: bool
    epochs: tuple[EpochSummary, ...]
    complete: bool
    problems: tuple[str, ...] = ()
    logs_dir: str = ""
    version: int = field(default=SUMMARY_VERSION)
    explorer_url: str = ""  # the API's explorer (issue 18)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- weights


def expected_weights(
    scores: Mapping[str, float], identities: Identities, self_uid: int
) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """The (uids, u16 weights) a chain stores for ``scores`` (hotkey → score; burn key → uid 0).

    Unregistered hotkeys are dropped, as the validator does. None when nothing can be set.
    """
    uid_of = {i.hotkey: i.uid for i in identities.all}
    pairs: dict[int, float] = {}
    for hotkey, score in scores.items():
        uid = identities.burn.uid if hotkey == BURN_KEY else uid_of.get(hotkey)
        if uid is not None and score > 0:
            pairs[uid] = pairs.get(uid, 0.0) + float(score)
    uids = sorted(pairs)
    values = [pairs[u] for u in uids]
    if not uids:
        return None
    try:
        conformed = conform_weights(uids, values, self_uid=self_uid)
    except WeightsRejected:
        return None
    return conformed.uids, conformed.weights_u16


def matching_record(
    records: Sequence[WeightsRecord],
    expected: tuple[tuple[int, ...], tuple[int, ...]] | None,
    after: float = 0.0,
) -> WeightsRecord | None:
    """The first weight setting stored at or after ``after`` (unix time) equal to ``expected``
    (compared as uid → u16 maps), or None.

    ``after`` is when the report was written: two epochs can have equal scores, and a setting
    made before this epoch was validated must not count as this epoch's weights.
    """
    if expected is None:
        return None
    want = dict(zip(*expected, strict=True))
    for record in records:
        if record.time < after:
            continue
        if dict(zip(record.uids, record.weights_u16, strict=True)) == want:
            return record
    return None


# --------------------------------------------------------------------------- reports


def _decisions(report: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(report.get("decisions", []))


def _scores(report: Mapping[str, Any]) -> dict[str, float]:
    return {str(k): float(v) for k, v in dict(report.get("scores", {})).items()}


def _winners(report: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    return {str(z): tuple(hks) for z, hks in dict(report.get("winners", {})).items()}


def _assignments(report: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    inputs = report.get("inputs") or {}
    return list(inputs.get("assignments") or report.get("assignments", []))


def summarise_epoch(
    epoch_id: str,
    reports: Mapping[str, Mapping[str, Any]],
    identities: Identities,
    history: Mapping[str, Sequence[WeightsRecord]],
    posted: Mapping[str, str],
    majority_hash: str | None,
    agreement: float,
    notes: Mapping[str, Sequence[str]] | None = None,
    written_at: Mapping[str, float] | None = None,
) -> EpochSummary:
    """One epoch's summary.

    ``reports`` maps validator hotkey → its validation report JSON for this epoch (the first
    validator's report drives the miner and zipcode tables); ``history`` maps validator hotkey →
    its weight records; ``posted`` maps validator hotkey → the hash the API recorded; ``notes``
    maps miner name → what its scenario process observed; ``written_at`` maps validator hotkey →
    when its report was written (weights stored earlier do not count for this epoch).
    """
    written_at = written_at or {}
    names = {i.hotkey: i.name for i in identities.all}
    validators = tuple(
        _validator_row(
            v,
            reports.get(v.hotkey),
            identities,
            history.get(v.hotkey, ()),
            posted,
            written_at.get(v.hotkey, 0.0),
        )
        for v in identities.validators
    )
    primary = next((reports[v.hotkey] for v in identities.validators if v.hotkey in reports), None)
    if primary is None:
        return EpochSummary(epoch_id, (), (), validators, majority_hash, agreement, 0.0)
    decisions = _decisions(primary)
    scores = _scores(primary)
    winners = _winners(primary)
    first_validator = identities.validators[0]
    first_record = matching_record(
        history.get(first_validator.hotkey, ()),
        expected_weights(scores, identities, first_validator.uid),
        written_at.get(first_validator.hotkey, 0.0),
    )
    stored = (
        dict(zip(first_record.uids, first_record.weights_u16, strict=True)) if first_record else {}
    )
    miners = tuple(
        _miner_row(
            m, decisions, scores, stored if first_record else None, (notes or {}).get(m.name, ())
        )
        for m in identities.miners
    )
    zipcodes = _zipcode_rows(primary, decisions, winners, names)
    return EpochSummary(
        epoch_id=epoch_id,
        zipcodes=zipcodes,
        miners=miners,
        validators=validators,
        majority_hash=majority_hash,
        agreement=agreement,
        burn_score=scores.get(BURN_KEY, 0.0),
        burn_u16=stored.get(identities.burn.uid, 0) if first_record else None,
        chain_total_u16=sum(stored.values()),
    )


def _validator_row(
    validator: Identity,
    report: Mapping[str, Any] | None,
    identities: Identities,
    records: Sequence[WeightsRecord],
    posted: Mapping[str, str],
    after: float,
) -> ValidatorRow:
    if report is None:
        return ValidatorRow(
            validator.name, validator.hotkey, None, posted.get(validator.hotkey), None, False
        )
    expected = expected_weights(_scores(report), identities, validator.uid)
    record = matching_record(records, expected, after)
    return ValidatorRow(
        name=validator.name,
        hotkey=validator.hotkey,
        consensus_hash=report.get("consensus_hash"),
        posted_hash=posted.get(validator.hotkey),
        weights_block=record.block if record else None,
        weights_match=record is not None,
    )


def _miner_row(
    miner: Identity,
    decisions: Sequence[Mapping[str, Any]],
    scores: Mapping[str, float],
    stored: Mapping[int, int] | None,
    notes: Sequence[str],
) -> MinerRow:
    mine = [d for d in decisions if d.get("hotkey") == miner.hotkey]
    reasons = sorted({str(r) for d in mine for r in d.get("reasons", [])})
    ranks = tuple(
        sorted((str(d["zipcode"]), int(d["rank"])) for d in mine if d.get("rank") is not None)
    )
    return MinerRow(
        name=miner.name,
        behaviour=miner.behaviour,
        uid=miner.uid,
        hotkey=miner.hotkey,
        commits=len(mine),
        score=scores.get(miner.hotkey, 0.0),
        reasons=tuple(reasons),
        ranks=ranks,
        liar=any(bool(d.get("liar")) for d in mine),
        chain_u16=None if stored is None else stored.get(miner.uid, 0),
        notes=tuple(notes),
    )


def _zipcode_rows(
    report: Mapping[str, Any],
    decisions: Sequence[Mapping[str, Any]],
    winners: Mapping[str, tuple[str, ...]],
    names: Mapping[str, str],
) -> tuple[ZipcodeRow, ...]:
    by_zip: dict[str, list[Mapping[str, Any]]] = {}
    for d in decisions:
        by_zip.setdefault(str(d["zipcode"]), []).append(d)
    rows = []
    assignments = _assignments(report) or [{"zipcode": z} for z in sorted(by_zip)]
    for a in assignments:
        zipcode = str(a["zipcode"])
        walk = sorted(by_zip.get(zipcode, []), key=lambda d: int(d.get("position", 0)))
        first = names.get(str(walk[0]["hotkey"]), str(walk[0]["hotkey"])[:8]) if walk else None
        rows.append(
            ZipcodeRow(
                zipcode=zipcode,
                honeypot=bool(a.get("honeypot", False)),
                expected=int(a.get("expected_listings", 0)),
                committers=len(walk),
                first_committer=first,
                winners=tuple(names.get(h, h[:8]) for h in winners.get(zipcode, ())),
            )
        )
    return tuple(sorted(rows, key=lambda r: r.zipcode))


# --------------------------------------------------------------------------- outlier

OUTLIER_DECISIONS_SHOWN = 5


def _decision_reasons(
    report: Mapping[str, Any] | None, zipcode: str, hotkey: str
) -> tuple[str, ...]:
    for d in _decisions(report or {}):
        if str(d.get("zipcode")) == zipcode and d.get("hotkey") == hotkey:
            return tuple(str(r) for r in d.get("reasons", []))
    return ()


def summarise_outlier(
    outlier: Identity,
    settings: Mapping[str, str],
    diff: Mapping[str, Any] | None,
    reports: Mapping[str, Mapping[str, Any]],
    identities: Identities,
    posted: Mapping[str, str],
    majority_hash: str | None,
    *,
    limit: int = OUTLIER_DECISIONS_SHOWN,
    file_limit: int | None = None,
) -> OutlierView:
    """The outlier's view of one epoch: whether it disagreed, and the first ``limit`` differing
    decisions of ``diff`` (its consensus_diff.json, None when it wrote none).

    ``reports`` maps validator hotkey → report (each side's full reason codes come from there);
    ``posted`` maps validator hotkey → the hash the API recorded; ``file_limit`` is where the
    validator cuts the file's list (more may differ when it holds that many).
    """
    names = {i.hotkey: i.name for i in identities.all}
    own_hash = posted.get(outlier.hotkey)
    view = OutlierView(
        validator=outlier.name,
        hotkey=outlier.hotkey,
        settings=dict(settings),
        posted_hash=own_hash,
        disagrees=majority_hash is not None and own_hash is not None and own_hash != majority_hash,
        diff_found=diff is not None,
    )
    if diff is None:
        return view
    other = str(diff.get("other_validator") or "")
    own_report, other_report = reports.get(outlier.hotkey), reports.get(other)
    rows = []
    for d in list(diff.get("decisions", []))[:limit]:
        zipcode, hotkey = str(d["zipcode"]), str(d["miner"])
        rows.append(
            DiffRow(
                zipcode=zipcode,
                miner=names.get(hotkey, hotkey[:8]),
                tier=str(d.get("tier")),
                reason=str(d.get("reason")),
                outlier_reasons=_decision_reasons(own_report, zipcode, hotkey),
                majority_reasons=_decision_reasons(other_report, zipcode, hotkey),
                outlier=d.get("own"),
                majority=d.get("other"),
            )
        )
    return replace(
        view,
        cause=diff.get("cause"),
        compared_with=names.get(other, other[:8] or None),
        scoring={str(k): (v[0], v[1]) for k, v in dict(diff.get("scoring", {})).items()},
        decisions_total=len(diff.get("decisions", [])),
        decisions_more=file_limit is not None and len(diff.get("decisions", [])) >= file_limit,
        decisions=tuple(rows),
    )
