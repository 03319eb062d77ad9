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


def test_honeypots_look_like_real_picks(prepared: PreparedCatalog) -> None:
    """A miner must not tell honeypots apart by position or shown expected count."""
    positions: list[float] = []
    shown_honey: list[int] = []
    shown_real: list[int] = []
    for seed in range(80):
        sel = select_zipcodes(prepared, MAINNET, seed)
        n = len(sel.picks)
        for pos, p in enumerate(sel.picks):
            assert MAINNET.min_listings <= p.expected_listings <= MAINNET.max_listings
            if p.honeypot:
                assert p.zipcode.zip_type in {"PO BOX", "UNIQUE"}
                positions.append(pos / (n - 1))
                shown_honey.append(p.expected_listings)
            else:
                shown_real.append(p.expected_listings)
        assert any(p.honeypot for p in sel.picks)
    # Relative positions are spread uniformly (mean 0.5); shown counts have a real-like median.
    assert 0.4 < statistics.mean(positions) < 0.6
    assert 0.6 < statistics.median(shown_honey) / statistics.median(shown_real) < 1.6


def test_validated_empty_zipcodes_become_honeypot_material() -> None:
    catalog = [z for z in small_catalog() if z.zip_type == "STANDARD"]  # no PO boxes
    empty = {catalog[0].zipcode}
    params = SelectionParams(600, 0.1, 50, 400, honeypot_share=0.2)
    sel = select_zipcodes(catalog, params, 5, empty_zipcodes=empty)
    honey = [p for p in sel.picks if p.honeypot]
    assert [p.zipcode.zipcode for p in honey] == [catalog[0].zipcode]


def test_secrets_follow_design() -> None:
    import hashlib
    import hmac

    full = hmac.new(b"s3cret", b"2025-10-01T16-00-00", hashlib.sha256).hexdigest()
    assert epoch_nonce("s3cret", "2025-10-01T16-00-00") == full[:32]
    v = hmac.new(b"s3cret", b"2025-10-01T16-00-00:validation", hashlib.sha256).hexdigest()
    assert validation_seed("s3cret", "2025-10-01T16-00-00") == v
    assert selection_seed("s3cret", "a") != selection_seed("other", "a")
