"""Calibration: bounded-step counts, stake-weighted consensus, beliefs from inventory imports.

The attacks: one validator reporting huge or zero counts, a miner padding its file (so an honest
validator reports a padded count), a minority flagging a real honeypot as contradicted.
"""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st

from resi.epoch.calibration import ZipcodeReport, fold, weighted_median
from resi.epoch.catalog import (
    calibrate,
    inventory_beliefs,
    parse_realtor_csv,
    step_toward,
    validated_empty,
)
from resi.epoch.models import ZipcodeInfo


def _r(
    validator: str, count: int, stake: float, zipcode: str = "10001", flag: bool = False
) -> ZipcodeReport:
    return ZipcodeReport(validator, zipcode, count, flag, stake)


def test_bounded_step_calibration_and_empty_history() -> None:
    base = [ZipcodeInfo("10001", "NY", "c", "k", 0, 0, "STANDARD", 500)]
    # 500 → 250 (half step down, bounded) → 200 (reached) → 300 (half of 200 up, bounded).
    [z] = calibrate(base, {"10001": [100, 200, 1_000_000]}, max_step=0.5)
    assert z.expected_listings == 300
    # An epoch validated empty leaves the shown count as it was (believed-empty honeypots).
    [z] = calibrate(base, {"10001": [0, 0, 0]}, max_step=0.5)
    assert z.expected_listings == 500
    assert calibrate(base, {}, 0.5) == base
    assert step_toward(0, 50, 0.5) == 1  # growth from 0 is bounded too
    assert validated_empty({"a": [3, 0], "b": [0, 4], "c": []}) == {"a"}
    assert validated_empty({"a": [3, 0], "d": [0, 0], "e": [5, 0, 0, 0]}, 2) == {"d", "e"}


def test_inventory_import_beliefs_keep_the_served_count(real_catalog: list[ZipcodeInfo]) -> None:
    """Zero inventory in an import makes a STANDARD zipcode believed empty; the served catalog
    keeps the count it would show as a real pick (an imported 0 would give it away)."""
    standard = [z for z in real_catalog if z.zip_type == "STANDARD" and z.expected_listings > 0]
    pobox = next(z for z in real_catalog if z.zip_type == "PO BOX")
    a, b = standard[0], standard[1]
    text = (
        "month_date_yyyymm,postal_code,active_listing_count,median_listing_price\n"
        f"202401,{a.zipcode},0,300000\n202401,{b.zipcode},42,300000\n"
        f"202401,{pobox.zipcode},0,300000\n"
    )
    imported, _ = parse_realtor_csv(io.StringIO(text), real_catalog)
    empty, served = inventory_beliefs(real_catalog, imported)
    assert empty == {a.zipcode}  # the PO box is never honeypot material
    by_zip = {z.zipcode: z for z in served}
    assert by_zip[a.zipcode].expected_listings == a.expected_listings
    assert by_zip[b.zipcode].expected_listings == 42


def test_weighted_median_is_the_stake_median() -> None:
    assert weighted_median([(10, 1.0), (20, 1.0), (30, 1.0)]) == 20
    assert weighted_median([(10, 3.0), (1000, 1.0)]) == 10
    assert weighted_median([(10, 1.0), (1000, 3.0)]) == 1000
    assert weighted_median([(7, 0.0), (9, 0.0)]) == 7  # no stake at all: plain lower median


def test_one_validator_cannot_swing_the_consensus() -> None:
    """Attack: a validator with a third of the stake reports absurd counts, then zero."""
    honest = [_r("v1", 400, 10.0), _r("v2", 410, 10.0)]
    for absurd in (10_000_000, 0):
        [c] = fold([*honest, _r("evil", absurd, 10.0)]).values()
        assert c.count in (400, 410)
    # Even a zero report can't make it "validated empty" (honeypot material).
    [c] = fold([*honest, _r("evil", 0, 19.0)]).values()
    assert c.count > 0


def test_minority_cannot_flag_or_unflag_contradiction() -> None:
    honest = [_r("v1", 0, 10.0), _r("v2", 0, 10.0)]
    [c] = fold([*honest, _r("evil", 50, 15.0, flag=True)]).values()
    assert (c.count, c.contradicted) == (0, False)
    # A stake majority that found real listings at a honeypot takes it out of the pool.
    flagged = [_r("v1", 0, 10.0, flag=True), _r("v2", 0, 10.0, flag=True), _r("v3", 0, 5.0)]
    [c] = fold(flagged).values()
    assert c.contradicted and c.count == 1


def test_validator_resubmission_replaces_its_report() -> None:
    [c] = fold([_r("v1", 10, 1.0), _r("v1", 500, 1.0)]).values()
    assert (c.count, c.validators) == (500, 1)


def test_padded_counts_move_the_expected_count_by_one_bounded_step() -> None:
    """Attack: a miner pads its rank-1 file 100-fold, every validator reports the padded count;
    the shown count moves by at most ``max_step`` per epoch."""
    base = [ZipcodeInfo("10001", "NY", "c", "k", 0, 0, "STANDARD", 400)]
    [z] = calibrate(base, {"10001": [40_000]}, max_step=0.5)
    assert z.expected_listings == 600


@settings(max_examples=200, deadline=None, database=None, derandomize=True)
@given(
    honest=st.lists(st.integers(0, 5_000), min_size=3, max_size=9),
    attack=st.lists(st.integers(0, 10_000_000), min_size=1, max_size=4),
)
def test_minority_stake_never_moves_the_median_outside_honest_reports(
    honest: list[int], attack: list[int]
) -> None:
    """Property: attackers holding less than half the stake keep the consensus inside the range
    of honest reports, whatever they report."""
    stake_honest = 10.0
    # Attackers share strictly less stake than the honest validators together.
    stake_attacker = (stake_honest * len(honest)) / len(attack) * 0.99
    reports = [_r(f"h{i}", n, stake_honest) for i, n in enumerate(honest)]
    reports += [_r(f"a{i}", n, stake_attacker) for i, n in enumerate(attack)]
    [c] = fold(reports).values()
    assert min(honest) <= c.count <= max(honest)


@settings(max_examples=200, deadline=None, database=None, derandomize=True)
@given(
    start=st.integers(0, 10_000),
    observed=st.lists(st.integers(0, 10_000_000), min_size=1, max_size=12),
    step=st.sampled_from([0.1, 0.25, 0.5, 1.0]),
)
def test_each_epoch_moves_the_count_at_most_one_step(
    start: int, observed: list[int], step: float
) -> None:
    expected = start
    for n in observed:
        nxt = step_toward(expected, n, step) if n > 0 else expected
        assert abs(nxt - expected) <= step * max(expected, 1) + 0.5
        expected = nxt
    base = [ZipcodeInfo("10001", "NY", "c", "k", 0, 0, "STANDARD", start)]
    [z] = calibrate(base, {"10001": observed}, max_step=step)
    assert z.expected_listings == expected
