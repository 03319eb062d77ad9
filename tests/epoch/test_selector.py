"""Selector and honeypots over the real built-in catalog: band, cooldown, determinism, disguise."""

from __future__ import annotations

import logging
import statistics

import pytest

from resi.epoch.models import ZipcodeInfo
from resi.epoch.secrets import epoch_nonce, selection_seed, validation_seed
from resi.epoch.selector import (
    PreparedCatalog,
    SelectionParams,
    candidates,
    honeypot_budget,
    honeypot_count,
    select_zipcodes,
)
from tests.epoch.conftest import small_catalog

MAINNET = SelectionParams(target=10_000, tolerance=0.10, min_listings=200, max_listings=3_000)
DEVNET = SelectionParams(target=600, tolerance=0.10, min_listings=50, max_listings=400)


@pytest.mark.parametrize("params", [MAINNET, DEVNET], ids=["mainnet", "devnet"])
def test_sum_lands_inside_band_for_many_seeds(
    prepared: PreparedCatalog, params: SelectionParams
) -> None:
    low, high = params.band
    for seed in range(60):
        sel = select_zipcodes(prepared, params, seed)
        real = [p for p in sel.picks if not p.honeypot]
        assert sel.in_band
        assert low <= sel.achieved_sum <= high
        assert sel.achieved_sum == sum(p.expected_listings for p in real)
        assert all(p.zipcode.zip_type == "STANDARD" for p in real)
        assert len({p.zipcode.zipcode for p in sel.picks}) == len(sel.picks)


def test_zero_tolerance_hits_target_exactly(prepared: PreparedCatalog) -> None:
    params = SelectionParams(target=1_000, tolerance=0.0, min_listings=50, max_listings=400)
    for seed in range(10):
        assert select_zipcodes(prepared, params, seed).achieved_sum == 1_000


def test_selection_is_deterministic_and_seed_dependent(real_catalog: list[ZipcodeInfo]) -> None:
    a = select_zipcodes(real_catalog, MAINNET, 42)
    b = select_zipcodes(list(reversed(real_catalog)), MAINNET, 42)
    c = select_zipcodes(real_catalog, MAINNET, 43)
    assert a == b  # catalog order does not matter
    assert a.picks != c.picks


def test_cooldown_is_honoured(prepared: PreparedCatalog) -> None:
    first = select_zipcodes(prepared, MAINNET, 7)
    used = {p.zipcode.zipcode for p in first.picks}
    again = select_zipcodes(prepared, MAINNET, 7, cooldown=used)
    assert not used & {p.zipcode.zipcode for p in again.picks}
    assert again.in_band


def test_state_allowlist(prepared: PreparedCatalog) -> None:
    params = SelectionParams(600, 0.1, 50, 400, states=("vt", "NH"))
    sel = select_zipcodes(prepared, params, 3)
    assert sel.in_band
    assert {p.zipcode.state for p in sel.picks} <= {"VT", "NH"}


def test_unreachable_target_warns_and_still_returns(caplog: pytest.LogCaptureFixture) -> None:
    params = SelectionParams(target=1_000_000, tolerance=0.1, min_listings=50, max_listings=400)
    with caplog.at_level(logging.WARNING, logger="resi.epoch.selector"):
        sel = select_zipcodes(small_catalog(), params, 1)
    assert not sel.in_band
    assert sel.achieved_sum == sum(z.expected_listings for z in small_catalog()[:60])
    assert "outside the band" in caplog.text


def test_honeypot_share_and_minimum() -> None:
    assert honeypot_count(4, 0.08) == 1  # at least one when share > 0
    assert honeypot_count(92, 0.08) == 8
    assert honeypot_count(10, 0.0) == 0


def _believed_empty(prepared: PreparedCatalog, params: SelectionParams, rate: int) -> set[str]:
    """A seeded 1-in-``rate`` share of the selectable STANDARD zipcodes, as if validated empty."""
    pool = candidates(prepared, params)
    return {z.zipcode for z in pool if int(z.zipcode) * 7919 % rate == 0}


def test_honeypots_look_like_real_picks(prepared: PreparedCatalog) -> None:
    """Honeypots are STANDARD, in range, show their own catalog count, sit anywhere."""
    empty = _believed_empty(prepared, MAINNET, 12)
    positions: list[float] = []
    shown_honey: list[int] = []
    shown_real: list[int] = []
    for seed in range(80):
        sel = select_zipcodes(prepared, MAINNET, seed, empty_zipcodes=empty)
        low, high = MAINNET.band
        assert sel.in_band and low <= sel.shown_sum <= high
        assert sel.shown_sum == sum(p.expected_listings for p in sel.picks)
        n = len(sel.picks)
        for pos, p in enumerate(sel.picks):
            assert MAINNET.min_listings <= p.expected_listings <= MAINNET.max_listings
            assert p.zipcode.zip_type == "STANDARD"
            assert p.expected_listings == p.zipcode.expected_listings  # the catalog's own count
            assert p.honeypot == (p.zipcode.zipcode in empty)
            if p.honeypot:
                positions.append(pos / (n - 1))
                shown_honey.append(p.expected_listings)
            else:
                shown_real.append(p.expected_listings)
    assert len(positions) >= 60
    # Relative positions are spread uniformly (mean 0.5); shown counts have a real-like median.
    assert 0.4 < statistics.mean(positions) < 0.6
    assert 0.75 < statistics.median(shown_honey) / statistics.median(shown_real) < 1.33


def test_po_box_and_unique_zipcodes_are_never_honeypots() -> None:
    """Regression (issue 14): "type is not STANDARD" found every honeypot. Even when they are
    listed as believed empty, PO BOX / UNIQUE zipcodes are never picked."""
    catalog = small_catalog()
    boxes = {z.zipcode for z in catalog if z.zip_type != "STANDARD"}
    params = SelectionParams(600, 0.1, 0, 400, honeypot_share=0.3, honeypot_max_reuse=100)
    for seed in range(30):
        sel = select_zipcodes(catalog, params, seed, empty_zipcodes=boxes)
        assert not boxes & {p.zipcode.zipcode for p in sel.picks}


def test_validated_empty_zipcodes_become_honeypot_material() -> None:
    catalog = [z for z in small_catalog() if z.zip_type == "STANDARD"]  # no PO boxes
    empty = {catalog[0].zipcode}
    params = SelectionParams(600, 0.1, 50, 400, honeypot_share=0.2, honeypot_max_reuse=100)
    sel = select_zipcodes(catalog, params, 5, empty_zipcodes=empty)
    honey = [p for p in sel.picks if p.honeypot]
    assert [p.zipcode.zipcode for p in honey] == [catalog[0].zipcode]
    # A believed-empty zipcode is never a real pick.
    for seed in range(20):
        sel = select_zipcodes(catalog, params, seed, empty_zipcodes=empty)
        assert all(p.honeypot for p in sel.picks if p.zipcode.zipcode in empty)


def test_honeypot_zipcodes_are_not_reused_more_than_real_ones() -> None:
    """Attack: count how often each zipcode is assigned; a small honeypot pool reused every
    epoch would stand out. The budget caps a honeypot zipcode's rate at a real one's."""
    assert honeypot_budget(3, real=20, pool=10, candidates=1_000, u=0.0) == 1  # 0.2 → 0 or 1
    assert honeypot_budget(3, real=20, pool=10, candidates=1_000, u=0.5) == 0
    assert honeypot_budget(3, real=20, pool=500, candidates=1_000, u=0.9) == 3
    assert honeypot_budget(3, real=20, pool=10, candidates=1_000, u=0.5, reuse=10) == 2
    assert honeypot_budget(3, real=0, pool=10, candidates=1_000, u=0.0) == 0


def test_shown_total_does_not_reveal_the_honeypots(prepared: PreparedCatalog) -> None:
    """Attack: the target is public, so if only the real sum landed in the band, the shown total
    minus the target would give the honeypots' sum. The shown total's distance to the target
    must not grow with the honeypots' sum."""
    empty = _believed_empty(prepared, MAINNET, 12)
    honey_sums: list[float] = []
    slacks: list[float] = []
    for seed in range(120):
        sel = select_zipcodes(prepared, MAINNET, seed, empty_zipcodes=empty)
        honey_sums.append(sum(p.expected_listings for p in sel.picks if p.honeypot))
        slacks.append(sel.shown_sum - MAINNET.target)
    # The shown total overshoots the target by the fill's last step, not by the honeypots: the
    # overshoot is small against the honeypots' sum and uncorrelated with it (a real-sum band
    # would give slack = honeypot sum + overshoot, correlation near 1).
    assert statistics.mean(slacks) < 0.5 * statistics.mean(honey_sums)
    assert abs(statistics.correlation(honey_sums, slacks)) < 0.3


def test_secrets_follow_design() -> None:
    import hashlib
    import hmac

    full = hmac.new(b"s3cret", b"2025-10-01T16-00-00", hashlib.sha256).hexdigest()
    assert epoch_nonce("s3cret", "2025-10-01T16-00-00") == full[:32]
    v = hmac.new(b"s3cret", b"2025-10-01T16-00-00:validation", hashlib.sha256).hexdigest()
    assert validation_seed("s3cret", "2025-10-01T16-00-00") == v
    assert selection_seed("s3cret", "a") != selection_seed("other", "a")
