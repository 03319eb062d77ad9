"""Weights never stop (DESIGN §9): which scores a validator sets while it cannot validate.

The pure rule in ``resi.validate.weights_keeper``: weights come from the newest validated epoch
until more than ``stale_epochs`` epochs have completed after it, then all weight goes to burn.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from resi.epoch.clock import EpochClock
from resi.score.models import BURN_KEY
from resi.validate.weights_keeper import BURN, EPOCH, epochs_completed_since, plan_weights

L = 14_400
CLOCK = EpochClock(L)
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _finished(*epoch_ids: str) -> dict[str, dict[str, object]]:
    return {e: {"scores": {f"miner-{e}": 0.7, BURN_KEY: 0.3}} for e in epoch_ids}


def test_nothing_validated_sets_nothing() -> None:
    assert plan_weights({}, T0, epoch_seconds=L, stale_epochs=3) is None


def test_normal_lag_uses_the_newest_validated_epoch() -> None:
    """During epoch N+1 the newest validated epoch is N-1 until N is done: one epoch old."""
    n_minus_1 = CLOCK.epoch_id_at(T0)
    old = CLOCK.next_id(n_minus_1, -3)
    now = CLOCK.window(n_minus_1).start + 2 * CLOCK.length + timedelta(minutes=5)
    plan = plan_weights(_finished(old, n_minus_1), now, epoch_seconds=L, stale_epochs=3)
    assert plan is not None and plan.source == EPOCH
    assert plan.epoch_id == n_minus_1 and plan.age_epochs == 1
    assert plan.scores == {f"miner-{n_minus_1}": 0.7, BURN_KEY: 0.3}


def test_falls_back_to_burn_after_the_configured_number_of_epochs() -> None:
    epoch_id = CLOCK.epoch_id_at(T0)
    end = CLOCK.window(epoch_id).end
    last_ok = end + 3 * CLOCK.length + CLOCK.length - timedelta(seconds=1)
    first_burn = end + 4 * CLOCK.length
    kept = plan_weights(_finished(epoch_id), last_ok, epoch_seconds=L, stale_epochs=3)
    burned = plan_weights(_finished(epoch_id), first_burn, epoch_seconds=L, stale_epochs=3)
    assert kept is not None and kept.source == EPOCH and kept.age_epochs == 3
    assert burned is not None and burned.source == BURN and burned.age_epochs == 4
    assert burned.scores == {BURN_KEY: 1.0}  # never another validator's scores


def test_a_corrupt_epoch_id_in_the_state_burns_instead_of_crashing() -> None:
    plan = plan_weights(_finished("not-an-epoch"), T0, epoch_seconds=L, stale_epochs=3)
    assert plan is not None and plan.source == BURN and plan.age_epochs is None


@settings(max_examples=200, deadline=None, database=None, derandomize=True)
@given(
    length=st.sampled_from([20, 30, 60, 600, 3_600, 14_400]),
    index=st.integers(min_value=0, max_value=10_000),
    later=st.integers(min_value=0, max_value=40 * 14_400),
    stale=st.integers(min_value=0, max_value=10),
)
def test_age_counts_whole_epochs_and_burn_exactly_past_the_limit(
    length: int, index: int, later: int, stale: int
) -> None:
    """Property: age = epochs that ended after the validated one; burn iff age > stale."""
    clock = EpochClock(length)
    start = clock.start_of(T0) + index * clock.length
    epoch_id = clock.epoch_id_at(start)
    now = clock.window(epoch_id).end + timedelta(seconds=later)
    age = epochs_completed_since(epoch_id, now, length)
    ended_after = sum(
        1
        for k in range(1, later // length + 2)
        if clock.window(epoch_id).end + k * clock.length <= now
    )
    assert age == ended_after
    plan = plan_weights(_finished(epoch_id), now, epoch_seconds=length, stale_epochs=stale)
    assert plan is not None
    assert plan.source == (BURN if age > stale else EPOCH)
    # aging only moves forward: a later instant is never younger
    assert epochs_completed_since(epoch_id, now + clock.length, length) == age + 1


def _void(epoch_id: str) -> dict[str, object]:
    """A validated epoch without a single submission (the API was down all epoch long)."""
    return {"scores": {BURN_KEY: 1.0}, "submissions": 0}


def test_a_void_epoch_keeps_the_weights_of_the_newest_epoch_with_submissions() -> None:
    """The cheapest way to burn a day's emission is an API outage: a void epoch must not."""
    paid = CLOCK.epoch_id_at(T0)
    void = CLOCK.next_id(paid, 1)
    finished = {**_finished(paid), void: _void(void)}
    now = CLOCK.window(void).end + timedelta(minutes=5)
    plan = plan_weights(finished, now, epoch_seconds=L, stale_epochs=3)
    assert plan is not None and plan.source == EPOCH and plan.epoch_id == paid
    assert plan.scores == {f"miner-{paid}": 0.7, BURN_KEY: 0.3}
    assert plan.age_epochs == 1  # the void epoch ages it like an epoch that did not validate


def test_void_epochs_age_the_paying_epoch_into_burn() -> None:
    paid = CLOCK.epoch_id_at(T0)
    voids = [CLOCK.next_id(paid, k) for k in range(1, 6)]
    finished = {**_finished(paid), **{v: _void(v) for v in voids}}
    now = CLOCK.window(voids[-1]).end + timedelta(minutes=5)
    plan = plan_weights(finished, now, epoch_seconds=L, stale_epochs=3)
    assert plan is not None and plan.source == BURN and plan.scores == {BURN_KEY: 1.0}


def test_only_void_epochs_burn_rather_than_set_nothing() -> None:
    void = CLOCK.epoch_id_at(T0)
    plan = plan_weights({void: _void(void)}, T0 + CLOCK.length, epoch_seconds=L, stale_epochs=3)
    assert plan is not None and plan.source == BURN and plan.scores == {BURN_KEY: 1.0}


def test_an_epoch_whose_miners_all_lied_is_not_void() -> None:
    """Submissions that all failed are a real result (burn now), not an outage to skip."""
    paid = CLOCK.epoch_id_at(T0)
    cheated = CLOCK.next_id(paid, 1)
    finished = {
        **_finished(paid),
        cheated: {"scores": {BURN_KEY: 1.0}, "submissions": 7},
    }
    now = CLOCK.window(cheated).end + timedelta(minutes=5)
    plan = plan_weights(finished, now, epoch_seconds=L, stale_epochs=3)
    assert plan is not None and plan.epoch_id == cheated and plan.scores == {BURN_KEY: 1.0}
