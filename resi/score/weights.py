"""Turn epoch scores into the (uids, weights) sent to the chain (DESIGN §9).

Hotkeys map to uids through a fresh metagraph; unregistered hotkeys are dropped; the burn entry
goes to ``burn_uid``. If nothing is left, all weight goes to ``burn_uid``.
"""

from __future__ import annotations

from collections.abc import Mapping

from resi.chain.base import MetagraphSnapshot
from resi.score.models import BURN_KEY


def weights_for(
    scores: Mapping[str, float], metagraph: MetagraphSnapshot, burn_uid: int
) -> tuple[list[int], list[float]]:
    """Sorted uids and their normalised weights (sum 1); entries of one uid are added up."""
    uid_of = {n.hotkey: n.uid for n in metagraph.neurons}
    totals: dict[int, float] = {}
    for hotkey, score in sorted(scores.items()):
        if score <= 0:
            continue
        uid = burn_uid if hotkey == BURN_KEY else uid_of.get(hotkey)
        if uid is None:
            continue  # deregistered since the epoch: its share is simply not paid
        totals[uid] = totals.get(uid, 0.0) + score
    total = sum(totals.values())
    if total <= 0:
        return [burn_uid], [1.0]
    uids = sorted(totals)
    return uids, [totals[u] / total for u in uids]
