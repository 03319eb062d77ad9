"""Seeded zipcode selection with honeypots (pure: catalog + seed + history in, picks out).

Real zipcodes are drawn from active STANDARD zipcodes with expected listings in ``[min, max]``,
outside the cooldown and inside the optional state allow-list, until their expected listings sum
lands inside ``target ± tolerance``: a seeded randomised fill that never overshoots the band,
repaired by swaps when the fill runs dry, over a few seeded restarts.

Honeypots (zipcodes believed to hold no listings) must be indistinguishable from real picks by
anything public (DESIGN §5, docs/honeypots.md). So they are STANDARD zipcodes from the same
selectable range, each shows its own catalog expected count (exactly what it would show as a real
pick), the active pool mirrors the real candidates' tiers, regions and counts (``active_pool``),
no honeypot zipcode is used more often than a real one, and every pick's position is shuffled.
PO BOX / UNIQUE zipcodes are never honeypots: public data names them.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import math
import random
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass

from resi.config import EpochSettings
from resi.epoch.models import ZipcodeInfo

log = logging.getLogger(__name__)

HONEYPOT_TYPE = "STANDARD"  # the only zip type a honeypot may have (public data names the rest)
_RESTARTS = 8


@dataclass(frozen=True)
class SelectionParams:
    """What to select; ``from_settings`` maps the operator's ``EpochSettings``."""

    target: int
    tolerance: float
    min_listings: int
    max_listings: int
    honeypot_share: float = 0.08
    states: tuple[str, ...] = ()
    honeypot_max_reuse: float = 1.0

    @classmethod
    def from_settings(cls, s: EpochSettings) -> SelectionParams:
        return cls(
            target=s.target_listings,
            tolerance=s.tolerance,
            min_listings=s.min_zip_listings,
            max_listings=s.max_zip_listings,
            honeypot_share=s.honeypot_share,
            states=tuple(s.state_allowlist),
            honeypot_max_reuse=s.honeypot_max_reuse,
        )

    @property
    def band(self) -> tuple[int, int]:
        """Inclusive ``(low, high)`` bounds of the real-zipcode sum."""
        low = math.ceil(self.target * (1 - self.tolerance) - 1e-9)
        high = math.floor(self.target * (1 + self.tolerance) + 1e-9)
        return low, high


@dataclass(frozen=True)
class PreparedCatalog:
    """A catalog split once into sorted STANDARD rows plus an index by zipcode (for speed)."""

    standard: tuple[ZipcodeInfo, ...]
    by_zip: dict[str, ZipcodeInfo]

    @classmethod
    def of(cls, catalog: Sequence[ZipcodeInfo] | PreparedCatalog) -> PreparedCatalog:
        """Prepare ``catalog`` (returned as is when already prepared)."""
        if isinstance(catalog, PreparedCatalog):
            return catalog
        ordered = sorted(catalog, key=lambda z: z.zipcode)
        return cls(
            standard=tuple(z for z in ordered if z.zip_type == HONEYPOT_TYPE),
            by_zip={z.zipcode: z for z in ordered},
        )


@dataclass(frozen=True)
class Pick:
    """One selected zipcode as shown to miners (``expected_listings``) plus the hidden flag."""

    zipcode: ZipcodeInfo
    expected_listings: int
    honeypot: bool


@dataclass(frozen=True)
class Selection:
    """Picks in position order, the real-zipcode sum, whether the shown total (honeypots
    included) is inside the band, and that shown total."""

    picks: tuple[Pick, ...]
    achieved_sum: int
    in_band: bool
    candidates: int
    shown_sum: int = 0


def candidates(
    catalog: Sequence[ZipcodeInfo] | PreparedCatalog,
    params: SelectionParams,
    cooldown: Collection[str] = (),
) -> list[ZipcodeInfo]:
    """Selectable zipcodes, sorted by zipcode so catalog order never changes the result.

    Real picks and honeypots both come from this set (honeypots: its believed-empty part).
    """
    states = {s.upper() for s in params.states}
    blocked = set(cooldown)
    lo, hi = params.min_listings, params.max_listings
    return [
        z
        for z in PreparedCatalog.of(catalog).standard
        if lo <= z.expected_listings <= hi
        and z.zipcode not in blocked
        and (not states or z.state in states)
    ]


def _shuffled(n: int, rng: random.Random) -> Iterator[int]:
    """Indices 0..n-1 in seeded random order, drawn lazily (a fill rarely needs them all)."""
    order = list(range(n))
    for i in range(n):
        j = rng.randrange(i, n)
        order[i], order[j] = order[j], order[i]
        yield order[i]


def _fill(values: Sequence[int], order: Iterable[int], target: int, high: int) -> list[int]:
    """Take items in ``order`` until the sum reaches ``target``, skipping any that pass ``high``."""
    chosen: list[int] = []
    total = 0
    for i in order:
        if total >= target:
            break
        if total + values[i] <= high:
            chosen.append(i)
            total += values[i]
    return chosen


def _repair(values: Sequence[int], chosen: list[int], low: int, high: int) -> list[int]:
    """Swap one chosen item for an unchosen one to lift a short sum into ``[low, high]``."""
    total = sum(values[i] for i in chosen)
    if total >= low:
        return chosen
    taken = set(chosen)
    spare = sorted((values[i], i) for i in range(len(values)) if i not in taken)
    spare_values = [v for v, _ in spare]
    for pos, a in enumerate(chosen):
        need_low, need_high = low - total + values[a], high - total + values[a]
        k = bisect.bisect_left(spare_values, need_low)
        if k < len(spare) and spare_values[k] <= need_high:
            out = list(chosen)
            out[pos] = spare[k][1]
            return out
    return chosen


def _search(
    values: Sequence[int], target: int, band: tuple[int, int], rng: random.Random
) -> list[int]:
    low, high = band
    best: list[int] = []
    best_gap = math.inf
    for _ in range(_RESTARTS):
        order = _shuffled(len(values), rng)
        chosen = _repair(values, _fill(values, order, target, high), low, high)
        total = sum(values[i] for i in chosen)
        if low <= total <= high:
            return chosen
        if abs(total - target) < best_gap:
            best, best_gap = chosen, abs(total - target)
    return best


def honeypot_count(real: int, share: float) -> int:
    """Honeypots so they make up ``share`` of all picks; at least one when ``share`` > 0."""
    if share <= 0 or real == 0:
        return 0
    return max(1, round(real * share / (1 - share)))


def select_zipcodes(
    catalog: Sequence[ZipcodeInfo] | PreparedCatalog,
    params: SelectionParams,
    seed: int,
    *,
    cooldown: Collection[str] = (),
    empty_zipcodes: Collection[str] = (),
) -> Selection:
    """Select an epoch's zipcodes deterministically from ``seed``.

    ``cooldown`` zipcodes are never picked (real or honeypot). ``empty_zipcodes`` are believed
    to hold no listings: they are never real picks, and those that are selectable STANDARD
    zipcodes are the honeypot pool. Honeypots are drawn first; real picks then fill the band
    *minus* the honeypots' shown counts, so the shown total (all picks) lands inside
    ``target ± tolerance`` with a distribution that does not depend on the honeypots: with the
    public target, the real sum alone in the band would tell a miner the honeypots' total.
    When the pool cannot reach the band, a warning is logged and the closest selection found is
    returned.
    """
    rng = random.Random(seed)
    catalog = PreparedCatalog.of(catalog)
    selectable = candidates(catalog, params, cooldown)
    empty = set(empty_zipcodes)
    pool = [z for z in selectable if z.zipcode not in empty]
    hp_pool = [z for z in selectable if z.zipcode in empty]
    values = [z.expected_listings for z in pool]
    honey = _honeypots(params, rng, pool, hp_pool)
    shown = sum(p.expected_listings for p in honey)
    low, high = params.band
    chosen = _search(values, params.target - shown, (low - shown, high - shown), rng)
    achieved = sum(values[i] for i in chosen)
    in_band = low <= achieved + shown <= high
    if not in_band:
        log.warning(
            "selection reached %d listings (%d shown), outside the band [%d, %d] (%d candidates)",
            achieved,
            achieved + shown,
            low,
            high,
            len(pool),
        )
    picks = [Pick(pool[i], values[i], False) for i in chosen] + honey
    rng.shuffle(picks)
    return Selection(tuple(picks), achieved, in_band, len(pool), achieved + shown)


def honeypot_budget(
    wanted: int, real: int, pool: int, candidates: int, u: float, reuse: float = 1.0
) -> int:
    """How many honeypots to place: ``wanted``, capped so that a honeypot zipcode is not picked
    more than ``reuse`` times as often as a real one (else "assigned unusually often" would give
    it away).

    A real zipcode is picked at rate ``real / candidates`` per epoch; ``pool`` honeypot zipcodes
    at ``reuse`` times that rate give ``reuse * pool * real / candidates`` per epoch, rounded
    stochastically with the seeded uniform ``u`` so the long-run rate matches. Returns a count in
    ``[0, wanted]``.
    """
    if wanted <= 0 or real <= 0 or pool <= 0 or candidates <= 0:
        return 0
    fair = reuse * pool * real / candidates
    whole = math.floor(fair)
    return min(wanted, pool, whole + (1 if u < fair - whole else 0))


# Strata of the honeypot pool: market tier × census region × expected-count band (the real
# candidates' terciles). The active pool keeps, per stratum, the same share of the real
# candidates, so honeypots follow the real picks' distribution while each is used uniformly.
_ACTIVE_QUANTILE = 0.25
_BANDS = 3


def _stratum(z: ZipcodeInfo, cuts: Sequence[int]) -> tuple[str, str, int]:
    return str(z.market_tier), z.region, bisect.bisect_right(cuts, z.expected_listings)


def active_pool(real_pool: Sequence[ZipcodeInfo], pool: Sequence[ZipcodeInfo]) -> list[ZipcodeInfo]:
    """The part of the believed-empty ``pool`` that honeypots are drawn from, uniformly.

    Believed-empty zipcodes are not spread like real candidates (rural tiers are emptier, for
    one), and drawing honeypots from them as they are would show in tier, region or count; nor
    may a few look-alike zipcodes be reused (a miner counts how often a zipcode comes up). So
    per stratum keep ``ρ`` × (real candidates in it) zipcodes, ``ρ`` the candidate-weighted
    lower-quartile ratio of pool to candidates over the strata (the smallest positive ratio when
    that is 0); a stratum with fewer keeps all, one without real candidates none. Which zipcodes
    are kept is a stable hash order, so the active pool barely changes between epochs. Returns
    the kept zipcodes, sorted.
    """
    if not real_pool or not pool:
        return []
    values = sorted(z.expected_listings for z in real_pool)
    cuts = [values[len(values) * k // _BANDS] for k in range(1, _BANDS)]
    real: Counter[tuple[str, str, int]] = Counter(_stratum(z, cuts) for z in real_pool)
    empty: dict[tuple[str, str, int], list[ZipcodeInfo]] = {}
    for z in pool:
        empty.setdefault(_stratum(z, cuts), []).append(z)
    ratios = sorted((len(empty.get(s, ())) / n, n) for s, n in real.items())
    reach, total, rho = 0, sum(real.values()), 0.0
    for ratio, n in ratios:
        reach += n
        if reach >= _ACTIVE_QUANTILE * total:
            rho = ratio
            break
    if rho == 0:
        # A sparse pool (early on, few zipcodes validated empty): use what there is, at the
        # thinnest non-empty stratum's ratio, rather than no honeypots at all.
        rho = min((r for r, _ in ratios if r > 0), default=0.0)
    kept: list[ZipcodeInfo] = []
    for s, zs in empty.items():
        keep = min(len(zs), round(rho * real.get(s, 0)))
        kept += sorted(zs, key=lambda z: hashlib.sha256(z.zipcode.encode()).digest())[:keep]
    return sorted(kept, key=lambda z: z.zipcode)


def _honeypots(
    params: SelectionParams,
    rng: random.Random,
    real_pool: Sequence[ZipcodeInfo],
    pool: Sequence[ZipcodeInfo],
) -> list[Pick]:
    """Honeypot picks: a uniform draw from the ``active_pool``, each showing its own catalog
    count (exactly what it would show as a real pick)."""
    if not real_pool:
        return []
    active = active_pool(real_pool, pool)
    mean = sum(z.expected_listings for z in real_pool) / len(real_pool)
    real = max(1, round(params.target / mean))  # real picks expected in an epoch
    wanted = honeypot_count(real, params.honeypot_share)
    budget = honeypot_budget(
        wanted, real, len(active), len(real_pool), rng.random(), params.honeypot_max_reuse
    )
    if budget < wanted:
        # Expected whenever the pool is small against the candidates: not an operator problem.
        log.info(
            "placing %d honeypots, wanted %d (%d of %d believed-empty zipcodes active)",
            budget,
            wanted,
            len(active),
            len(pool),
        )
    return [Pick(z, z.expected_listings, True) for z in rng.sample(active, budget)]
