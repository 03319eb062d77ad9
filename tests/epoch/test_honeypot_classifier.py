"""Honeypots cannot be told apart: the best simple classifiers on every public field do no better
than chance (issue 14).

A miner sees, per pick: the assignment fields (zipcode, expected count, state, city, county, tier,
region), the position in the list and the epoch's public target; it can look up the shipped
catalog (zip type, lat/lon, the catalog's own count) and remember earlier epochs (how often and
how recently a zipcode was assigned). We simulate 100 consecutive epochs with a 24 h cooldown,
over the real built-in catalog, with a believed-empty set that is deliberately *correlated* with
public fields (rural tiers and some regions are emptier), train four classifiers on the first
50 epochs and measure their AUC on the last 50.

The bound: under "no signal", the AUC of a fixed scorer on n₁ honeypots and n₀ real picks has
standard error √((n₀+n₁+1)/(12·n₀·n₁)) (Hanley & McNeil); we require AUC < 0.5 + 3.3·SE for each
classifier (one-sided p ≈ 0.0005 each). Everything is seeded, so the result is deterministic,
never flaky. Two controls run the same classifiers on the old, leaky honeypots (PO BOX zipcodes;
a count that is not the zipcode's own) and must reach AUC > 0.9: the test has the power to see
a leak.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pytest

from resi.epoch.models import ZipcodeInfo
from resi.epoch.secrets import selection_seed
from resi.epoch.selector import PreparedCatalog, SelectionParams, candidates, select_zipcodes

PARAMS = SelectionParams(target=10_000, tolerance=0.10, min_listings=200, max_listings=3_000)
EPOCHS = 100
COOLDOWN_EPOCHS = 6  # 24 h of 4 h epochs
Z_BOUND = 3.3


@dataclass(frozen=True)
class Row:
    """One pick as a miner can describe it (public fields only) and its hidden label."""

    epoch: int
    honeypot: bool
    state: str
    tier: str
    region: str
    zip_type: str
    county_size: int
    shown: int
    catalog_count: int
    lat: float
    lon: float
    position: float
    seen_before: int
    epochs_since_seen: int
    slack_ratio: float

    def numeric(self) -> list[float]:
        return [
            math.log(max(self.shown, 1)),
            float(self.shown == self.catalog_count),
            math.log(max(self.shown, 1)) - math.log(max(self.catalog_count, 1)),
            self.lat,
            self.lon,
            self.position,
            float(self.seen_before),
            float(min(self.epochs_since_seen, 200)),
            self.slack_ratio,
            math.log(self.county_size + 1),
        ]

    def categories(self) -> dict[str, str]:
        return {
            "state": self.state,
            "tier": self.tier,
            "region": self.region,
            "zip_type": self.zip_type,
        }


def _believed_empty(prepared: PreparedCatalog) -> set[str]:
    """About 8% of selectable zipcodes, more often EMERGING, Midwest/South and small ones."""
    out = set()
    for z in candidates(prepared, PARAMS):
        rate = 0.05
        rate *= 2.0 if str(z.market_tier) == "EMERGING" else 1.0
        rate *= 1.6 if z.region in ("Midwest", "South") else 0.8
        rate *= 1.5 if z.expected_listings < 400 else 1.0
        if random.Random(f"empty:{z.zipcode}").random() < rate:
            out.add(z.zipcode)
    return out


Picks = list[tuple[int, ZipcodeInfo, int, bool]]


def _simulate(prepared: PreparedCatalog, empty: set[str]) -> list[Picks]:
    """``EPOCHS`` consecutive selections with cooldown: per epoch ``(position, zip, shown, hp)``."""
    recent: list[set[str]] = []
    epochs = []
    for e in range(EPOCHS):
        cooldown = set().union(*recent) if recent else set()
        seed = selection_seed("classifier-secret", f"epoch-{e}")
        sel = select_zipcodes(prepared, PARAMS, seed, cooldown=cooldown, empty_zipcodes=empty)
        picks = [(i, p.zipcode, p.expected_listings, p.honeypot) for i, p in enumerate(sel.picks)]
        epochs.append(picks)
        recent = [*recent[-(COOLDOWN_EPOCHS - 1) :], {p.zipcode.zipcode for p in sel.picks}]
    return epochs


def _rows(
    epochs: Sequence[Sequence[tuple[int, ZipcodeInfo, int, bool]]],
    shipped: dict[str, ZipcodeInfo],
    county_sizes: Counter[tuple[str, str]],
) -> list[Row]:
    """Public features of every pick, with the miner's memory of earlier epochs."""
    seen: Counter[str] = Counter()
    last: dict[str, int] = {}
    rows = []
    for e, picks in enumerate(epochs):
        n = len(picks)
        slack = sum(shown for _, _, shown, _ in picks) - PARAMS.target
        for pos, z, shown, hp in picks:
            public = shipped[z.zipcode]
            rows.append(
                Row(
                    epoch=e,
                    honeypot=hp,
                    state=z.state,
                    tier=str(z.market_tier),
                    region=z.region,
                    zip_type=public.zip_type,
                    county_size=county_sizes[(public.state, public.county)],
                    shown=shown,
                    catalog_count=public.expected_listings,
                    lat=public.lat,
                    lon=public.lon,
                    position=pos / max(n - 1, 1),
                    seen_before=seen[z.zipcode],
                    epochs_since_seen=e - last.get(z.zipcode, -1000),
                    slack_ratio=shown / max(abs(slack), 1),
                )
            )
        for _, z, _, _ in picks:
            seen[z.zipcode] += 1
            last[z.zipcode] = e
    return rows


# --------------------------------------------------------------------------- classifiers


def auc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """Area under the ROC curve (ties count half)."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    ranked = sorted(neg)
    total = 0.0
    for s in pos:
        lo, hi = _bisect(ranked, s)
        total += lo + 0.5 * (hi - lo)
    return total / (len(pos) * len(neg))


def _bisect(sorted_values: Sequence[float], x: float) -> tuple[int, int]:
    import bisect

    return bisect.bisect_left(sorted_values, x), bisect.bisect_right(sorted_values, x)


def _standardiser(train: Sequence[Row]) -> Callable[[Row], list[float]]:
    cols = list(zip(*(r.numeric() for r in train), strict=True))
    means = [sum(c) / len(c) for c in cols]
    sds = [
        math.sqrt(sum((v - m) ** 2 for v in c) / len(c)) or 1.0
        for c, m in zip(cols, means, strict=True)
    ]
    return lambda r: [(v - m) / s for v, m, s in zip(r.numeric(), means, sds, strict=True)]


def naive_bayes(train: Sequence[Row]) -> Callable[[Row], float]:
    """Sum of per-field log likelihood ratios (categorical fields, numeric fields in deciles),
    Laplace-smoothed."""
    numeric_cols = list(zip(*(r.numeric() for r in train), strict=True))
    edges = [sorted(c)[len(c) * k // 10] for c in numeric_cols for k in range(1, 10)]
    n_num = len(numeric_cols)

    def fields(r: Row) -> list[tuple[str, str]]:
        out = list(r.categories().items())
        values = r.numeric()
        for i in range(n_num):
            cuts = edges[i * 9 : (i + 1) * 9]
            out.append((f"n{i}", str(sum(values[i] > c for c in cuts))))
        return out

    counts: dict[bool, Counter[tuple[str, str]]] = {True: Counter(), False: Counter()}
    totals = Counter(r.honeypot for r in train)
    levels: dict[str, set[str]] = defaultdict(set)
    for r in train:
        for f in fields(r):
            counts[r.honeypot][f] += 1
            levels[f[0]].add(f[1])

    def score(r: Row) -> float:
        s = 0.0
        for name, value in fields(r):
            k = len(levels[name]) + 1
            p1 = (counts[True][(name, value)] + 1) / (totals[True] + k)
            p0 = (counts[False][(name, value)] + 1) / (totals[False] + k)
            s += math.log(p1 / p0)
        return s

    return score


def logistic(train: Sequence[Row]) -> Callable[[Row], float]:
    """L2-regularised logistic regression (batch gradient descent) on standardised numeric
    fields plus one-hot tier, region and zip type, with balanced class weights."""
    scale = _standardiser(train)
    cats = sorted({(k, v) for r in train for k, v in r.categories().items() if k != "state"})

    def x(r: Row) -> list[float]:
        c = r.categories()
        return [1.0, *scale(r), *(float(c[k] == v) for k, v in cats)]

    xs = [x(r) for r in train]
    ys = [1.0 if r.honeypot else 0.0 for r in train]
    n_pos = sum(ys)
    weight = {1.0: len(ys) / (2 * n_pos), 0.0: len(ys) / (2 * (len(ys) - n_pos))}
    w = [0.0] * len(xs[0])
    for _ in range(150):
        grad = [0.0] * len(w)
        for xi, yi in zip(xs, ys, strict=True):
            z = sum(a * b for a, b in zip(w, xi, strict=True))
            err = (1 / (1 + math.exp(-max(-30.0, min(30.0, z)))) - yi) * weight[yi]
            for j, v in enumerate(xi):
                grad[j] += err * v
        w = [wj - 0.5 * (g / len(xs) + 1e-3 * wj) for wj, g in zip(w, grad, strict=True)]
    return lambda r: sum(a * b for a, b in zip(w, x(r), strict=True))


def best_stump(train: Sequence[Row]) -> Callable[[Row], float]:
    """The single numeric field (either sign) with the best training AUC."""
    labels = [r.honeypot for r in train]
    best = (0.0, 0, 1.0)
    for i in range(len(train[0].numeric())):
        values = [r.numeric()[i] for r in train]
        for sign in (1.0, -1.0):
            a = auc([sign * v for v in values], labels)
            if a > best[0]:
                best = (a, i, sign)
    _, i, sign = best
    return lambda r: sign * r.numeric()[i]


def nearest_neighbours(train: Sequence[Row], k: int = 25) -> Callable[[Row], float]:
    """Share of honeypots among the ``k`` nearest training picks (standardised numeric fields)."""
    scale = _standardiser(train)
    points = [(scale(r), r.honeypot) for r in train]

    def score(r: Row) -> float:
        q = scale(r)
        near = sorted(
            points, key=lambda p: sum((a - b) ** 2 for a, b in zip(p[0], q, strict=True))
        )[:k]
        return sum(hp for _, hp in near) / k

    return score


CLASSIFIERS = {
    "naive_bayes": naive_bayes,
    "logistic": logistic,
    "stump": best_stump,
    "knn": nearest_neighbours,
}


def _aucs(rows: Sequence[Row]) -> tuple[dict[str, float], float]:
    train = [r for r in rows if r.epoch < EPOCHS // 2]
    test = [r for r in rows if r.epoch >= EPOCHS // 2]
    labels = [r.honeypot for r in test]
    n1 = sum(labels)
    n0 = len(labels) - n1
    se = math.sqrt((n0 + n1 + 1) / (12 * n0 * n1))
    out = {}
    for name, fit in CLASSIFIERS.items():
        model = fit(train)
        out[name] = auc([model(r) for r in test], labels)
    return out, se


# --------------------------------------------------------------------------- the tests


@pytest.fixture(scope="module")
def simulated(prepared: PreparedCatalog) -> tuple[list[Row], list[list[tuple]], dict, Counter]:
    shipped = dict(prepared.by_zip)
    county_sizes: Counter[tuple[str, str]] = Counter((z.state, z.county) for z in prepared.standard)
    epochs = _simulate(prepared, _believed_empty(prepared))
    return _rows(epochs, shipped, county_sizes), epochs, shipped, county_sizes


def test_no_classifier_beats_chance_on_public_fields(simulated: tuple) -> None:
    rows = simulated[0]
    honeypots = sum(r.honeypot for r in rows)
    assert honeypots >= 100  # ≥ 50 epochs each side with enough honeypots to measure
    assert all(r.zip_type == "STANDARD" for r in rows if r.honeypot)
    aucs, se = _aucs(rows)
    bound = 0.5 + Z_BOUND * se
    assert all(a < bound for a in aucs.values()), (aucs, bound)


def test_the_classifiers_see_the_old_leaks(simulated: tuple, prepared: PreparedCatalog) -> None:
    """Controls: the same classifiers on honeypots made the old ways find them."""
    _, epochs, shipped, county_sizes = simulated
    boxes = sorted(
        (z for z in shipped.values() if z.zip_type in ("PO BOX", "UNIQUE")),
        key=lambda z: z.zipcode,
    )
    rng = random.Random(14)
    reals = [z.expected_listings for z in candidates(prepared, PARAMS)]
    # Old way 1: PO BOX / UNIQUE zipcodes showing a random real pick's count.
    po_box = [
        [(i, rng.choice(boxes), rng.choice(reals), True) if hp else (i, z, n, hp)
         for i, z, n, hp in picks]
        for picks in epochs
    ]  # fmt: skip
    # Old way 2: STANDARD honeypots showing a random real pick's count instead of their own.
    foreign_count = [
        [(i, z, rng.choice(reals), True) if hp else (i, z, n, hp) for i, z, n, hp in picks]
        for picks in epochs
    ]
    for leaky in (po_box, foreign_count):
        aucs, _ = _aucs(_rows(leaky, shipped, county_sizes))
        assert max(aucs.values()) > 0.9, aucs


def test_auc_is_the_rank_statistic() -> None:
    assert auc([0.1, 0.9], [False, True]) == 1.0
    assert auc([0.9, 0.1], [False, True]) == 0.0
    assert auc([0.5, 0.5], [False, True]) == 0.5
