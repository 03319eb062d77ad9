"""Epoch scores from the walk's winners and participants, in exact rational arithmetic.

Definitions (DESIGN §8, written down here):

- A zipcode's *validated count* is the verified distinct active properties of its rank-1 file
  (``resi.score.engine.verified_count``; 0 without one, so honeypots and unwon zipcodes carry
  no share).
- Zipcode share = validated count / sum of all validated counts.
- Ranks 1..n get ``rank_shares`` of the zipcode's share. ``participant_share`` is split equally
  among the zipcode's participants (passed tier 3, not ranked, never a liar, one per operator);
  with none it goes to the burn entry. Unfilled rank shares go to the burn entry too, unless
  ``unfilled_to_participants`` is set (then they join the participants' pool).
- Liars score exactly 0 (they are never ranked nor participants). Every committing hotkey
  appears in the scores (0 included), so the consensus hash covers who was judged a liar.
- Nobody validated anywhere → everything to the burn entry. Scores are normalised to sum to 1.

Fractions make the result independent of summation order, so every validator agrees exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction

from resi.config import ScoringSettings
from resi.score.models import BURN_KEY, exact


def zipcode_shares(validated_counts: Mapping[str, int]) -> dict[str, Fraction]:
    """Each zipcode's share of the epoch: its validated count over the total (empty if 0)."""
    total = sum(validated_counts.values())
    if total == 0:
        return {}
    return {z: Fraction(n, total) for z, n in sorted(validated_counts.items()) if n > 0}


def epoch_scores(
    hotkeys: Iterable[str],
    winners: Mapping[str, Sequence[str]],
    participants: Mapping[str, Sequence[str]],
    validated_counts: Mapping[str, int],
    config: ScoringSettings,
) -> dict[str, Fraction]:
    """Normalised scores per hotkey plus ``BURN_KEY``; sums to exactly 1."""
    scores: dict[str, Fraction] = {hk: Fraction(0) for hk in sorted(set(hotkeys))}
    scores[BURN_KEY] = Fraction(0)
    rank_shares = [exact(s) for s in config.rank_shares]
    for zipcode, share in zipcode_shares(validated_counts).items():
        ranked = list(winners.get(zipcode, ()))
        for hk, rank_share in zip(ranked, rank_shares, strict=False):
            scores[hk] = scores.get(hk, Fraction(0)) + share * rank_share
        unfilled = sum(rank_shares[len(ranked) :], Fraction(0)) * share
        pool = exact(config.participant_share) * share
        if config.unfilled_to_participants:
            pool += unfilled
        else:
            scores[BURN_KEY] += unfilled
        others = sorted(set(participants.get(zipcode, ())) - set(ranked))
        if others:
            each = pool / len(others)
            for hk in others:
                scores[hk] = scores.get(hk, Fraction(0)) + each
        else:
            scores[BURN_KEY] += pool
    total = sum(scores.values(), Fraction(0))
    if total == 0:
        scores[BURN_KEY] = Fraction(1)
        return scores
    return {hk: v / total for hk, v in scores.items()}
