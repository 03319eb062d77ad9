"""Expected value of each cheating strategy against honesty, from the real scoring settings.

Exact arithmetic over the spot check's sampling (multivariate hypergeometric: ``k`` rows drawn
without replacement from a file of ``rows`` rows, some invented (*gone* at the site) and some
with values or status the site contradicts (*wrong*)). Per file:

- any gone row sampled → liar; matched < floor × k → liar (``T3_FABRICATED``);
- matched ≥ pass ratio × k → paid: rank 1 (the cheater commits first) with the zipcode's count
  = distinct claimed-active rows × matched / k (``engine.verified_count``), relative to the
  honest file's count;
- otherwise not paid.

A miner files ``ZIPCODES`` zipcodes per epoch; a liar verdict in any one voids all of them. EV is
the epoch's expected rank-1 income relative to an honest miner who commits first everywhere
(honest = 1.000). Sybils are computed from the rank shares directly. docs/mechanism.md prints
this script's table; tests/score/test_mechanism_doc.py checks the two agree.

    .venv/bin/python bench/mechanism_ev.py
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from resi.config import ScoringSettings
from resi.score.models import exact
from resi.score.sampling import sample_size

ROWS = 200  # an honest file: a zipcode's active listings (selection keeps 200..3,000)
ZIPCODES = 10  # files per miner per epoch (10,000 target listings / ~1,000 per zipcode)
HONEST_DRIFT = Fraction(2, 100)  # honest rows the site contradicts a day later (status, price)
# Share of a scrape the site shows sold/off-market ``days`` later when listings live 30–150 days
# (the simulated market's model): E_L[min(1, days / L)], L ~ U(30, 150).


def sold_share(days: float) -> Fraction:
    lo, hi = 30.0, 150.0
    if days <= lo:
        value = days * math.log(hi / lo) / (hi - lo)
    elif days >= hi:
        value = 1.0
    else:
        value = ((days - lo) + days * math.log(hi / days)) / (hi - lo)
    return Fraction(round(value * 1000), 1000)


@dataclass(frozen=True)
class Strategy:
    name: str
    attack: str
    rows: int  # rows in the file
    gone: int  # invented rows (ids the site does not have)
    wrong: int  # rows whose values/status the site contradicts
    claimed_active: int  # distinct rows claimed active (what the share counts before scaling)


def _comb(n: int, r: int) -> int:
    return math.comb(n, r) if 0 <= r <= n else 0


def file_outcome(s: Strategy, config: ScoringSettings) -> tuple[Fraction, Fraction, Fraction]:
    """(P(liar), P(paid), E[count factor × paid]) for one file of strategy ``s``."""
    k = sample_size(s.rows, config)
    right = s.rows - s.gone - s.wrong
    total = _comb(s.rows, k)
    p_liar = p_paid = e_paid = Fraction(0)
    for g in range(0, min(k, s.gone) + 1):
        for w in range(0, min(k - g, s.wrong) + 1):
            p = Fraction(_comb(s.gone, g) * _comb(s.wrong, w) * _comb(right, k - g - w), total)
            if p == 0:
                continue
            matched = k - g - w
            rate = Fraction(matched, k)
            if g > 0 or rate < exact(config.spot_fabrication_floor):
                p_liar += p
            elif rate >= exact(config.spot_pass_ratio):
                p_paid += p
                e_paid += p * Fraction(s.claimed_active, ROWS) * rate
    return p_liar, p_paid, e_paid


def epoch_ev(s: Strategy, config: ScoringSettings) -> tuple[Fraction, Fraction, Fraction]:
    """(P(paid) per file, P(liar) per epoch, EV relative to honest) over ``ZIPCODES`` files."""
    p_liar, p_paid, e_paid = file_outcome(s, config)
    honest = honest_strategy()
    _, _, e_honest = file_outcome(honest, config)
    clean = 1 - p_liar
    # E[1{no file liar} × Σ payoffs] = Z × E[payoff_1] × P(other files clean)^(Z-1)
    ev = ZIPCODES * e_paid * clean ** (ZIPCODES - 1)
    base = ZIPCODES * e_honest * (1 - file_outcome(honest, config)[0]) ** (ZIPCODES - 1)
    return p_paid, 1 - clean**ZIPCODES, ev / base


def honest_strategy(drift: Fraction = HONEST_DRIFT) -> Strategy:
    return Strategy("honest", "-", ROWS, 0, round(drift * ROWS), ROWS)


def strategies() -> list[Strategy]:
    out = [
        honest_strategy(),
        Strategy("honest, bad day (10% drift)", "-", ROWS, 0, round(Fraction(1, 10) * ROWS), ROWS),
    ]
    base_wrong = round(HONEST_DRIFT * ROWS)
    for share in (Fraction(1, 10), Fraction(3, 10)):
        fakes = round(share * ROWS)
        name = "padder" if share == Fraction(1, 10) else "honeypot-avoider (pads real zipcodes)"
        out.append(
            Strategy(
                f"{name} +{int(share * 100)}% invented ids",
                "invented listings",
                ROWS + fakes,
                fakes,
                base_wrong,
                ROWS + fakes,
            )
        )
    out.append(Strategy("fabricator (all invented)", "invented listings", ROWS, ROWS, 0, ROWS))
    out.append(Strategy("mismatch-fabricator (real ids)", "invented values", ROWS, 0, ROWS, ROWS))
    out.append(
        Strategy("lazy values: 30% rows guessed", "invented values", ROWS, 0, 3 * ROWS // 10, ROWS)
    )
    for days in (7, 30, 120):
        sold = round(sold_share(days) * ROWS)
        out.append(
            Strategy(
                f"stale: {days}-day-old scrape, fresh stamp",
                "old data",
                ROWS,
                0,
                max(sold, base_wrong),
                ROWS,
            )
        )
    for share in (Fraction(1, 4), Fraction(2)):
        extra = round(share * ROWS)
        out.append(
            Strategy(
                f"delisted-padder +{int(share * 100)}% delisted as active",
                "padding the share",
                ROWS + extra,
                0,
                extra + base_wrong,
                ROWS + extra,
            )
        )
    return out


def _fmt(x: Fraction) -> str:
    return f"{float(x):.3f}"


def table(config: ScoringSettings | None = None) -> str:
    """The Markdown table printed into docs/mechanism.md."""
    config = config or ScoringSettings()
    k = sample_size(ROWS, config)
    ranks = [exact(r) for r in config.rank_shares]
    lines = [
        f"Settings: k = {k} of {ROWS} rows, pass ≥ {config.spot_pass_ratio:.0%}, fabrication "
        f"floor {config.spot_fabrication_floor:.0%}, {ZIPCODES} zipcodes per epoch, honest drift "
        f"{float(HONEST_DRIFT):.0%}.",
        "",
        "| strategy | attack | P(file paid) | P(liar in epoch) | EV vs honest |",
        "|---|---|---:|---:|---:|",
    ]
    for s in strategies():
        p_paid, p_liar, ev = epoch_ev(s, config)
        lines.append(f"| {s.name} | {s.attack} | {_fmt(p_paid)} | {_fmt(p_liar)} | {_fmt(ev)} |")
    # Late files are spot-checked like any other: an invented one is a liar.
    late = Strategy("late-fabricator", "unchecked data", ROWS, ROWS, 0, ROWS)
    p_paid, p_liar, ev = epoch_ev(late, config)
    lines.append(
        f"| late-fabricator (invented, committed late) | unchecked data | {_fmt(p_paid)} | "
        f"{_fmt(p_liar)} | {_fmt(ev)} |"
    )
    # Sybils: the honest operator's income with extra hotkeys (same or new coldkey).
    lines.append(
        "| same-coldkey sybil (copy under 2 more hotkeys) | one scrape, three ranks | "
        "- | 0.000 | 1.000 |"
    )
    gain = (ranks[0] + ranks[1] + ranks[2]) / ranks[0]
    lines.append(
        "| different-coldkey sybil, re-scraped (2 more coldkeys) | one operator, three ranks | "
        f"- | 0.000 | {_fmt(gain)} − 2 registrations |"
    )
    return "\n".join(lines)


def main() -> None:
    print(table())


if __name__ == "__main__":
    main()
