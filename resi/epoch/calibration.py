"""Consensus of the validators' per-zipcode reports (pure: reports in, one count per zipcode out).

Each validator reports, with its epoch result, the count it validated per zipcode and whether a
honeypot was contradicted (real listings found there). The API folds one epoch's reports into a
*stake-weighted median* per zipcode, so a validator holding less than half of the reporting stake
cannot move it at all, and ``catalog.calibrate`` then moves the shown count by a bounded step.
See docs/honeypots.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

# A report's count is clipped here before the median: it cannot change a median that a majority
# of stake holds, but keeps absurd numbers out of the store and of integer arithmetic.
MAX_REPORTED_COUNT = 1_000_000


@dataclass(frozen=True)
class ZipcodeReport:
    """One validator's report for one zipcode of one epoch."""

    validator: str
    zipcode: str
    count: int
    contradicted: bool
    stake: float


@dataclass(frozen=True)
class ZipcodeConsensus:
    """The folded reports of one zipcode: the stake-weighted median count, and whether a stake
    majority saw a honeypot contradicted."""

    zipcode: str
    count: int
    contradicted: bool
    validators: int


def weighted_median(items: Iterable[tuple[int, float]]) -> int:
    """The lower stake-weighted median of ``(value, weight)`` pairs.

    The smallest value whose cumulative weight (values ascending) reaches half the total. Items
    with weight ≤ 0 count as weight 0; if every weight is 0 they count equally. Raises
    ``ValueError`` when ``items`` is empty.
    """
    pairs = sorted((v, max(0.0, w)) for v, w in items)
    if not pairs:
        raise ValueError("median of no reports")
    total = sum(w for _, w in pairs)
    if total <= 0:
        pairs = [(v, 1.0) for v, _ in pairs]
        total = float(len(pairs))
    running = 0.0
    for value, weight in pairs:
        running += weight
        if running * 2 >= total:
            return value
    return pairs[-1][0]  # unreachable: the loop ends at the full total


def fold(reports: Sequence[ZipcodeReport]) -> dict[str, ZipcodeConsensus]:
    """Consensus per zipcode from one epoch's reports (one report per validator and zipcode;
    a validator's later duplicate replaces its earlier one). Returns ``{zipcode: consensus}``."""
    latest: dict[tuple[str, str], ZipcodeReport] = {}
    for r in reports:
        latest[(r.zipcode, r.validator)] = r
    by_zip: dict[str, list[ZipcodeReport]] = defaultdict(list)
    for (zipcode, _), r in sorted(latest.items()):
        by_zip[zipcode].append(r)
    out = {}
    for zipcode, rs in sorted(by_zip.items()):
        count = weighted_median((min(MAX_REPORTED_COUNT, max(0, r.count)), r.stake) for r in rs)
        flagged = weighted_median((int(r.contradicted), r.stake) for r in rs)
        # A contradicted honeypot had verified listings: never let it read as empty.
        if flagged and count == 0:
            count = 1
        out[zipcode] = ZipcodeConsensus(zipcode, count, bool(flagged), len(rs))
    return out


def counts_of(consensus: Mapping[str, ZipcodeConsensus]) -> dict[str, int]:
    """``{zipcode: consensus count}`` (what ``Store.record_validated_counts`` stores)."""
    return {z: c.count for z, c in consensus.items()}
