"""Tier 3 as a pure function of a file's seeded draws and the recorded lookups.

Rules (DESIGN §8): walk the seeded draws; a FOUND listing is compared field by field, a GONE
one makes the miner a liar, an UNVERIFIABLE one is replaced by the next draw (at most
factor × k draws). The sample passes when at least ``spot_pass_ratio`` of the verified listings
match; a match rate below ``spot_fabrication_floor`` is ``T3_FABRICATED`` (a liar), and in
between is ``T3_MISMATCH`` (not paid, not a liar: prices drift, sites disagree). Fewer than
min(k, ``spot_min_sample``) verified listings → ``T3_UNVERIFIABLE``: not paid (nothing was
verified), never held against the miner.

Status (``status_matches``): a listing the file calls active that the site shows off the market
is a mismatch, unless the site shows when its status changed and that is after the row's
``scraped_at`` (it sold after an honest scrape). Changes inside one class (FOR_SALE → PENDING,
PENDING → FOR_SALE) are always allowed. docs/mechanism.md lists the transitions.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

from resi.config import ScoringSettings
from resi.score.models import (
    FileAssessment,
    Lookup,
    LookupRequest,
    LookupStatus,
    Observed,
    Reason,
    SampleRow,
    SpotEvidence,
    SpotResult,
    exact,
)
from resi.score.tiers import is_canonical_id


def _num(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _within(claimed: float | None, observed: float, tolerance: float) -> bool:
    if claimed is None:
        return False
    if observed == 0:
        return claimed == 0
    return abs(claimed - observed) <= tolerance * abs(observed)


# Statuses of a listing that is on the market (pending sales are still listed).
ACTIVE_STATUSES = frozenset(
    {
        "FOR_SALE",
        "COMING_SOON",
        "NEW_CONSTRUCTION",
        "FOR_SALE_BY_OWNER",
        "FORECLOSURE",
        "PENDING",
        "CONTINGENT",
        "UNDER_CONTRACT",
        "ACCEPTING_BACKUP_OFFERS",
    }
)
# Statuses of a listing that has left the market.
OFF_MARKET_STATUSES = frozenset(
    {"SOLD", "RECENTLY_SOLD", "OFF_MARKET", "WITHDRAWN", "EXPIRED", "CANCELLED", "DELISTED"}
)


def status_class(status: Any) -> str:
    """``ACTIVE``, ``OFF_MARKET``, or the normalised status itself when it is neither."""
    s = str(status or "").strip().upper().replace(" ", "_").replace("-", "_")
    if s in ACTIVE_STATUSES:
        return "ACTIVE"
    if s in OFF_MARKET_STATUSES:
        return "OFF_MARKET"
    return s


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        t = value
    else:
        try:
            t = datetime.fromisoformat(str(value))
        except ValueError:
            return None
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def status_matches(claimed: Mapping[str, Any], observed: Observed) -> bool:
    """Whether the claimed status is still consistent with what the site shows now.

    Same class → match. A class change (active ↔ off market, or any unknown status) is allowed
    only when the site shows a status-change time after the row's ``scraped_at``.
    """
    if observed.status is None:
        return True  # the source does not show a status: nothing to compare
    if status_class(claimed.get("status")) == status_class(observed.status):
        return True
    changed = _time(observed.status_changed_at) if observed.status_changed_at else None
    scraped = _time(claimed.get("scraped_at")) if claimed.get("scraped_at") else None
    return changed is not None and scraped is not None and changed > scraped


def compare(
    claimed: Mapping[str, Any], observed: Observed, config: ScoringSettings
) -> tuple[str, ...]:
    """Names of fields that do not match; a field the source does not show is not compared.

    Price within ``price_tolerance`` and living area within ``sqft_tolerance`` (relative to the
    observed value), bedrooms/bathrooms exact, same zipcode, status per ``status_matches``.
    """
    bad: list[str] = []
    if observed.price is not None and not _within(
        _num(claimed.get("price")), float(observed.price), config.price_tolerance
    ):
        bad.append("price")
    for name in ("bedrooms", "bathrooms"):
        obs = getattr(observed, name)
        if obs is not None and _num(claimed.get(name)) != float(obs):
            bad.append(name)
    if observed.living_area_sqft is not None and not _within(
        _num(claimed.get("living_area_sqft")),
        float(observed.living_area_sqft),
        config.sqft_tolerance,
    ):
        bad.append("living_area_sqft")
    if (
        observed.zipcode is not None
        and str(claimed.get("zipcode") or "").strip() != str(observed.zipcode).strip()
    ):
        bad.append("zipcode")
    if not status_matches(claimed, observed):
        bad.append("status")
    return tuple(bad)


def _claims_canonical(draw: SampleRow) -> bool:
    """The row's own ``listing_id`` is the canonical key it was sampled under (issue 12)."""
    raw = draw.claimed.get("listing_id")
    return is_canonical_id(raw) and raw == draw.key


def run_spot(
    assessment: FileAssessment, lookups: Mapping[str, Lookup], config: ScoringSettings
) -> SpotResult | list[LookupRequest]:
    """Tier 3 for one file: a ``SpotResult``, or the lookups still needed to decide.

    Missing lookups are assumed verifiable while planning, so the requests cover exactly the
    draws that would be reached; when some come back unverifiable the next call asks for more.
    """
    k = assessment.k
    evidence: list[SpotEvidence] = []
    pending: list[LookupRequest] = []
    verified = matched = 0
    for draw in assessment.sample:
        if verified + len(pending) >= k:
            break
        if not _claims_canonical(draw):
            # a row that does not name a canonical listing cannot be looked up for its writer
            # (and must not make lookups that others' rows depend on): it simply does not match
            verified += 1
            evidence.append(
                SpotEvidence(
                    draw.index,
                    draw.key,
                    draw.claimed,
                    LookupStatus.UNVERIFIABLE,
                    None,
                    False,
                    ("listing_id",),
                )
            )
            continue
        found = lookups.get(draw.key)
        if found is None:
            pending.append(LookupRequest(key=draw.key, claimed=draw.claimed))
            continue
        if found.status is LookupStatus.UNVERIFIABLE:
            evidence.append(
                SpotEvidence(draw.index, draw.key, draw.claimed, found.status, None, None)
            )
            continue
        if found.status is LookupStatus.GONE:
            evidence.append(
                SpotEvidence(draw.index, draw.key, draw.claimed, found.status, None, False)
            )
            if not pending:
                return SpotResult(
                    Reason.T3_NOT_FOUND, k, len(evidence), verified, matched, tuple(evidence)
                )
            verified += 1
            continue
        observed = found.observed or Observed(None, None, None, None, None)
        bad = compare(draw.claimed, observed, config)
        verified += 1
        matched += not bad
        evidence.append(
            SpotEvidence(draw.index, draw.key, draw.claimed, found.status, observed, not bad, bad)
        )
    if pending:
        return pending
    if any(e.status is LookupStatus.GONE for e in evidence):
        reason = Reason.T3_NOT_FOUND
    elif verified < min(k, config.spot_min_sample) or verified == 0:
        reason = Reason.T3_UNVERIFIABLE
    elif Fraction(matched, verified) >= exact(config.spot_pass_ratio):
        reason = Reason.T3_PASS
    elif Fraction(matched, verified) < exact(config.spot_fabrication_floor):
        reason = Reason.T3_FABRICATED
    else:
        reason = Reason.T3_MISMATCH
    return SpotResult(reason, k, len(evidence), verified, matched, tuple(evidence))
