"""Which scores a validator sets as weights right now (pure): DESIGN §9, "weights never stop".

Weights come from the newest epoch this validator validated, whether or not the API or S3 is
reachable at the moment. Once more than ``stale_epochs`` epochs have completed since that epoch
without a newer one validating, the scores are too old to reward anyone fairly and every weight
goes to the burn uid instead. A validator never borrows another validator's weights.

An epoch that had no submissions at all (``submissions`` 0 in the state: typically the API was
down for the whole epoch, so nobody could commit) is *void*: it is validated and published like
any other, but weights keep coming from the newest epoch that had submissions, and the void
epochs age it toward burn like epochs that did not validate. Without that rule an API outage
would hand a whole epoch's emission to the burn uid although every miner did its work.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from resi.epoch.clock import parse_epoch_id
from resi.errors import EpochError
from resi.score.models import BURN_KEY

EPOCH = "epoch"
BURN = "burn"


@dataclass(frozen=True)
class WeightsPlan:
    """What to set: ``scores`` from ``epoch_id`` (source ``epoch``) or all to burn (``burn``).

    ``age_epochs`` counts the epochs that completed after ``epoch_id`` (0 = it is the newest
    completed epoch; 1 = the normal state while the next one is being validated).
    """

    source: str
    epoch_id: str | None
    age_epochs: int | None
    scores: Mapping[str, float] = field(default_factory=dict)


def epochs_completed_since(epoch_id: str, now: datetime, epoch_seconds: int) -> int:
    """How many epochs of ``epoch_seconds`` ended after ``epoch_id`` ended, up to ``now`` (≥ 0).

    Measured from the start encoded in the id, so an id that is not aligned to
    ``epoch_seconds`` (a misconfigured length) still ages, rather than failing.
    Raises ``EpochError`` when ``epoch_id`` is malformed.
    """
    length = timedelta(seconds=epoch_seconds)
    elapsed = now - parse_epoch_id(epoch_id)
    return max(0, int(elapsed // length) - 1)


def plan_weights(
    finished: Mapping[str, Mapping[str, Any]],
    now: datetime,
    *,
    epoch_seconds: int,
    stale_epochs: int,
) -> WeightsPlan | None:
    """The weights to set at ``now`` from this validator's ``finished`` epochs.

    Returns None when nothing was ever validated (nothing to set yet), a burn plan when the
    newest validated epoch with submissions is more than ``stale_epochs`` epochs old (or when
    every validated epoch was void), else that epoch's scores. A malformed epoch id in the state
    counts as stale. Entries without a ``submissions`` count (older states) are not void.
    """
    if not finished:
        return None
    paying = [e for e, entry in finished.items() if not is_void(entry)]
    if not paying:
        return WeightsPlan(BURN, max(finished), None, {BURN_KEY: 1.0})
    epoch_id = max(paying)  # epoch ids sort chronologically
    try:
        age: int | None = epochs_completed_since(epoch_id, now, epoch_seconds)
    except EpochError:
        age = None
    if age is None or age > stale_epochs:
        return WeightsPlan(BURN, epoch_id, age, {BURN_KEY: 1.0})
    return WeightsPlan(EPOCH, epoch_id, age, dict(finished[epoch_id]["scores"]))


def is_void(entry: Mapping[str, Any]) -> bool:
    """True for a finished epoch that had no submissions at all (see the module docstring)."""
    return entry.get("submissions", 1) == 0
