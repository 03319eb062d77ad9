"""Seeded zipcode selection with honeypots (pure: catalog + seed + history in, picks out).

Real zipcodes are drawn from active STANDARD zipcodes with expected listings in ``[min, max]``,
outside the cooldown and inside the optional state allow-list, until their expected listings sum
lands inside ``target ± tolerance``: a seeded randomised fill that never overshoots the band,
repaired by swaps when the fill runs dry, over a few seeded restarts. Honeypots (zipcodes known
to hold no listings) are mixed in with a plausible expected count at shuffled positions.
"""

from __future__ import annotations

import bisect
import logging
import math
import random
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass

from resi.config import EpochSettings
from resi.epoch.models import ZipcodeInfo

log = logging.getLogger(__name__)

HONEYPOT_TYPES = frozenset({"PO BOX", "UNIQUE"})
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

    @classmethod
    def from_settings(cls, s: EpochSettings) -> SelectionParams:
        return cls(
            target=s.target_listings,
            tolerance=s.tolerance,
            min_listings=s.min_zip_listings,
            max_listings=s.max_zip_listings,
            honeypot_share=s.honeypot_share,
            states=tuple(s.state_allowlist),
        )

    @property
    def band(self) -> tuple[int, int]:
        """Inclusive ``(low, high)`` bounds of the real-zipcode sum."""
        low = math.ceil(self.target * (1 - self.tolerance) - 1e-9)
        high = math.floor(self.target * (1 + self.tolerance) + 1e-9)
        return low, high


@dataclass(frozen=True)
class PreparedCatalog:
    """A catalog split once into sorted STANDARD rows and honeypot-type rows (for speed)."""

    standard: tuple[ZipcodeInfo, ...]
    no_listings: tuple[ZipcodeInfo, ...]
    by_zip: dict[str, ZipcodeInfo]

    @classmethod
    def of(cls, catalog: Sequence[ZipcodeInfo] | PreparedCatalog) -> PreparedCatalog:
        """Prepare ``catalog`` (returned as is when already prepared)."""
        if isinstance(catalog, PreparedCatalog):
            return catalog
        ordered = sorted(catalog, key=lambda z: z.zipcode)
        return cls(
            standard=tuple(z for z in ordered if z.zip_type == "STANDARD"),
            no_listings=tuple(z for z in ordered if z.zip_type in HONEYPOT_TYPES),
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
    """Picks in position order, the real-zipcode sum, and whether it is inside the band."""

    picks: tuple[Pick, ...]
    achieved_sum: int
    in_band: bool
    candidates: int


def candidates(
    catalog: Sequence[ZipcodeInfo] | PreparedCatalog,
    params: SelectionParams,
    cooldown: Collection[str] = (),
) -> list[ZipcodeInfo]:
    """Selectable real zipcodes, sorted by zipcode so catalog order never changes the result."""
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


def _search(values: Sequence[int], params: SelectionParams, rng: random.Random) -> list[int]:
    low, high = params.band
    best: list[int] = []
    best_gap = math.inf
    for _ in range(_RESTARTS):
        order = _shuffled(len(values), rng)
        chosen = _repair(values, _fill(values, order, params.target, high), low, high)
        total = sum(values[i] for i in chosen)
        if low <= total <= high:
            return chosen
        if abs(total - params.target) < best_gap:
            best, best_gap = chosen, abs(total - params.target)
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

    ``cooldown`` zipcodes are never picked (real or honeypot); ``empty_zipcodes`` (validated with
    no listings) join PO BOX / UNIQUE zipcodes as honeypot material. When the pool cannot reach
    the band, a warning is logged and the closest selection found is returned.
    """
    rng = random.Random(seed)
    catalog = PreparedCatalog.of(catalog)
    pool = candidates(catalog, params, cooldown)
    values = [z.expected_listings for z in pool]
    chosen = _search(values, params, rng)
    achieved = sum(values[i] for i in chosen)
    low, high = params.band
    in_band = low <= achieved <= high
    if not in_band:
        log.warning(
            "selection reached %d listings, outside the band [%d, %d] (%d candidates)",
            achieved,
            low,
            high,
            len(pool),
        )
    picks = [Pick(pool[i], values[i], False) for i in chosen]
    picks += _honeypots(catalog, params, rng, values, cooldown, empty_zipcodes, len(picks))
    rng.shuffle(picks)
    return Selection(tuple(picks), achieved, in_band, len(pool))


def _honeypots(
    catalog: PreparedCatalog,
    params: SelectionParams,
    rng: random.Random,
    values: Sequence[int],
    cooldown: Collection[str],
    empty_zipcodes: Collection[str],
    real: int,
) -> list[Pick]:
    wanted = honeypot_count(real, params.honeypot_share)
    if not wanted or not values:
        return []
    states = {s.upper() for s in params.states}
    blocked, empty = set(cooldown), set(empty_zipcodes)
    extra = [catalog.by_zip[z] for z in sorted(empty) if z in catalog.by_zip]
    pool = [
        z
        for z in (*catalog.no_listings, *extra)
        if z.zipcode not in blocked and (not states or z.state in states)
    ]
    # Deduplicate (an empty PO box may be listed twice) and keep a seed-stable order.
    pool = sorted({z.zipcode: z for z in pool}.values(), key=lambda z: z.zipcode)
    if len(pool) < wanted:
        log.warning("only %d honeypot zipcodes available, wanted %d", len(pool), wanted)
    # Each honeypot shows the expected count of a random real candidate, so the shown numbers
    # follow the same distribution as real picks.
    return [Pick(z, rng.choice(values), True) for z in rng.sample(pool, min(wanted, len(pool)))]
