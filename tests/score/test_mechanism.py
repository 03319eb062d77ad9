"""Mechanism v2 (issue 14): pay only verified, fresh, distinct work, one paid file per operator.

Each test attacks one rule the cheapest way and checks the boundary of its threshold.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from resi.config import ScoringSettings
from resi.score.distinct import distinct_active, normalised_addresses
from resi.score.engine import validate_epoch, verified_count
from resi.score.models import (
    BURN_KEY,
    CommitInput,
    EpochRecord,
    EpochResult,
    FileAssessment,
    FileOutcome,
    Lookup,
    LookupRequest,
    LookupStatus,
    Observed,
    Reason,
    SpotResult,
)
from resi.score.spot import compare, status_matches
from tests.score.builders import CONFIG, T0, assignment, record, rows, submission, table

Answer = Callable[[LookupRequest], Lookup]


def _settle(rec: EpochRecord, answer: Answer, config: ScoringSettings = CONFIG) -> EpochResult:
    lookups: dict[str, Lookup] = {}
    for _ in range(50):
        result = validate_epoch(rec, lookups, config)
        if result.complete:
            return result
        for req in result.pending_lookups:
            lookups[req.key] = answer(req)
    raise AssertionError("walk did not settle")


def _observed(c: Any, **changes: Any) -> Observed:
    obs = Observed(
        c["price"], c["bedrooms"], c["bathrooms"], c["living_area_sqft"], c["zipcode"], "FOR_SALE"
    )
    return dataclasses.replace(obs, **changes)


def _truthful(req: LookupRequest) -> Lookup:
    return Lookup(LookupStatus.FOUND, _observed(req.claimed))


def _honest(
    hotkey: str,
    at: int,
    zipcode: str = "10001",
    n: int = 20,
    start: int = 1000,
    coldkey: str = "",
) -> tuple[CommitInput, FileOutcome]:
    recs = rows(n, zipcode, start_id=start, scraped_at=T0 + timedelta(seconds=at))
    commit, outcome = submission(hotkey, recs, zipcode=zipcode, at=at)
    return dataclasses.replace(commit, coldkey=coldkey), outcome


def _decision(result: EpochResult, hotkey: str, zipcode: str = "10001") -> Any:
    return next(d for d in result.decisions if d.hotkey == hotkey and d.zipcode == zipcode)


# --------------------------------------------------------------------------- fabrication floor


@pytest.mark.parametrize(
    ("wrong", "reason", "liar"),
    [(2, Reason.T3_PASS, False), (3, Reason.T3_MISMATCH, False), (5, Reason.T3_MISMATCH, False),
     (6, Reason.T3_FABRICATED, True)],
)  # fmt: skip
def test_fabrication_floor_boundary(wrong: int, reason: Reason, liar: bool) -> None:
    """k = 10: 5 of 10 matching is the floor (not a liar, not paid); 4 of 10 is fabrication."""
    z1, z2 = assignment("10001", expected=100), assignment("10002")
    subs = [_honest("m", 1, n=100), _honest("m", 1, "10002", start=50_000)]
    rec = record([z1, z2], subs)
    first = validate_epoch(rec, {}, CONFIG)
    bad = sorted(r.key for r in first.pending_lookups if int(r.key) < 50_000)[:wrong]

    def answer(req: LookupRequest) -> Lookup:
        if req.key in bad:
            return Lookup(LookupStatus.FOUND, _observed(req.claimed, bedrooms=9))
        return _truthful(req)

    result = _settle(rec, answer)
    d = _decision(result, "m")
    assert reason in d.reasons and d.liar is liar
    assert ("m" in result.liars) is liar
    # a liar loses its honest file in the other zipcode too
    assert (result.winners["10002"] == ("m",)) is not liar
    assert (_decision(result, "m").rank == 1) is (reason is Reason.T3_PASS)


def test_floor_setting_is_exact_decimal() -> None:
    spot = ScoringSettings(spot_fabrication_floor=0.3)
    rec = record([assignment(expected=100)], [_honest("m", 1, n=100)])
    first = validate_epoch(rec, {}, spot)
    bad = {r.key for r in first.pending_lookups[:7]}  # 3 of 10 match: exactly the floor

    def answer(req: LookupRequest) -> Lookup:
        obs = _observed(req.claimed, price=1) if req.key in bad else _observed(req.claimed)
        return Lookup(LookupStatus.FOUND, obs)

    d = _settle(rec, answer, spot).decisions[0]
    assert Reason.T3_MISMATCH in d.reasons and not d.liar


# --------------------------------------------------------------------------- status


@pytest.mark.parametrize(
    ("claimed", "observed", "changed", "ok"),
    [
        ("FOR_SALE", "FOR_SALE", None, True),
        ("FOR_SALE", "PENDING", None, True),  # went under contract: still listed
        ("PENDING", "FOR_SALE", None, True),  # the sale fell through
        ("COMING_SOON", "FOR_SALE", None, True),
        ("FOR_SALE", "SOLD", None, False),  # no change time shown: the file is stale
        ("FOR_SALE", "OFF_MARKET", None, False),
        ("FOR_SALE", "SOLD", -1, False),  # sold before the scrape: stale
        ("FOR_SALE", "SOLD", 0, False),  # at the scrape instant: not after it
        ("FOR_SALE", "SOLD", 1, True),  # sold after an honest scrape
        ("SOLD", "SOLD", None, True),
        ("RECENTLY_SOLD", "SOLD", None, True),
        ("SOLD", "FOR_SALE", None, False),  # relisted with no change time
        ("for sale", "FOR_SALE", None, True),  # case and spaces are normalised
        ("FOR_RENT", "FOR_SALE", None, False),
    ],
)
def test_status_transitions(claimed: str, observed: str, changed: int | None, ok: bool) -> None:
    scraped = T0 + timedelta(hours=1)
    row = {"status": claimed, "scraped_at": scraped.isoformat(sep=" ")}
    at = None if changed is None else (scraped + timedelta(seconds=changed)).isoformat()
    obs = Observed(None, None, None, None, None, observed, at)
    assert status_matches(row, obs) is ok
    assert ("status" in compare(row, obs, CONFIG)) is (not ok)


def test_status_not_shown_is_not_compared() -> None:
    assert status_matches({"status": "FOR_SALE"}, Observed(None, None, None, None, None))


def test_stale_scrape_with_fresh_stamp_is_a_liar_and_loses_rank_one() -> None:
    """Old data committed first: the site shows most of its listings sold since → fabrication.

    The stale file (ids < 3000) claims every listing FOR_SALE; 70% of them are SOLD now. The
    fresh file (ids ≥ 3000) was scraped this epoch, so the site still shows them for sale.
    """
    stale = _honest("stale", 1, start=1000)
    fresh = _honest("fresh", 5, start=3000)

    def answer(req: LookupRequest) -> Lookup:
        sold = int(req.key) < 3000 and int(req.key) % 10 < 7
        return Lookup(
            LookupStatus.FOUND, _observed(req.claimed, status="SOLD" if sold else "FOR_SALE")
        )

    result = _settle(record([assignment()], [stale, fresh]), answer)
    d = _decision(result, "stale")
    assert d.spot is not None and d.spot.matched < d.spot.verified
    assert "stale" in result.liars and result.scores["stale"] == 0
    assert result.winners["10001"] == ("fresh",)


# --------------------------------------------------------------------------- verified before paid


def test_late_fabricator_is_checked_and_cannot_dilute_the_fourth_honest_miner() -> None:
    subs = [_honest(f"h{i}", i, start=1000) for i in range(4)]
    subs.append(_honest("late-fake", 50, start=9_000))

    def answer(req: LookupRequest) -> Lookup:
        return Lookup(LookupStatus.GONE) if int(req.key) >= 9_000 else _truthful(req)

    result = _settle(record([assignment()], subs), answer)
    assert "late-fake" in result.liars and result.scores["late-fake"] == 0
    assert Reason.T3_NOT_FOUND in _decision(result, "late-fake").reasons
    assert result.scores["h3"] == pytest.approx(0.05)  # the whole participant share


def test_mismatching_late_file_is_not_a_participant() -> None:
    """2 of 3 sampled listings match (67%): above the floor, below 80% → not paid, not a liar."""
    subs = [_honest(f"h{i}", i) for i in range(3)] + [_honest("meh", 50, start=7_000)]
    rec = record([assignment()], subs)
    first = validate_epoch(rec, {}, CONFIG)
    bad = next(r.key for r in first.pending_lookups if int(r.key) >= 7_000)

    def answer(req: LookupRequest) -> Lookup:
        if req.key == bad:
            return Lookup(LookupStatus.FOUND, _observed(req.claimed, price=1))
        return _truthful(req)

    result = _settle(rec, answer)
    d = _decision(result, "meh")
    assert Reason.T3_MISMATCH in d.reasons and not d.liar and not d.participant
    assert result.scores["meh"] == 0
    assert result.scores[BURN_KEY] == pytest.approx(0.05)


def test_unfilled_ranks_go_to_burn_by_default() -> None:
    result = _settle(record([assignment()], [_honest("solo", 1)]), _truthful)
    assert result.scores["solo"] == pytest.approx(0.55)
    assert result.scores[BURN_KEY] == pytest.approx(0.45)


# --------------------------------------------------------------------------- operators


def test_same_coldkey_gets_one_paid_file_per_zipcode() -> None:
    subs = [
        _honest("op-a", 1, coldkey="cold-op"),
        _honest("op-b", 2, coldkey="cold-op", start=2000),
        _honest("op-c", 3, coldkey="cold-op", start=3000),
        _honest("other", 4, coldkey="cold-other", start=4000),
        _honest("op-d", 5, coldkey="cold-op", start=5000),  # would be a participant
    ]
    result = _settle(record([assignment()], subs), _truthful)
    assert result.winners["10001"] == ("op-a", "other")
    for hk in ("op-b", "op-c", "op-d"):
        d = _decision(result, hk)
        assert Reason.SAME_OPERATOR in d.reasons and not d.participant and d.rank is None
        assert result.scores[hk] == 0
    assert result.scores["op-a"] == pytest.approx(0.55)
    assert result.scores[BURN_KEY] == pytest.approx(0.15)  # rank 3 and the participant 5%


def test_same_coldkey_may_win_different_zipcodes() -> None:
    z = [assignment("10001"), assignment("10002")]
    subs = [_honest("a", 1, coldkey="c"), _honest("b", 1, "10002", start=5000, coldkey="c")]
    result = _settle(record(z, subs), _truthful)
    assert result.winners == {"10001": ("a",), "10002": ("b",)}


def test_unknown_coldkey_stands_for_itself() -> None:
    subs = [_honest("a", 1), _honest("b", 2, start=2000)]
    result = _settle(record([assignment()], subs), _truthful)
    assert result.winners["10001"] == ("a", "b")


def test_coldkeys_change_the_consensus_hash() -> None:
    subs = [_honest("a", 1, coldkey="x"), _honest("b", 2, start=2000, coldkey="y")]
    h1 = _settle(record([assignment()], subs), _truthful).consensus_hash
    same = [(dataclasses.replace(c, coldkey="x"), f) for c, f in subs]
    h2 = _settle(record([assignment()], same), _truthful).consensus_hash
    assert h1 != h2


# --------------------------------------------------------------------------- share


def test_distinct_active_ignores_duplicates_delisted_and_readdressed_rows() -> None:
    base = rows(10)
    dup_id = dict(base[0])  # same id again
    new_id_same_address = {**base[1], "listing_id": "77777", "url": "u/77777_zpid/"}
    sold = {**rows(1, start_id=5000)[0], "address": "999 Elm St", "status": "SOLD"}
    off = {**rows(1, start_id=5001)[0], "address": "998 Elm St", "status": "OFF_MARKET"}
    pending = {**rows(1, start_id=5002)[0], "address": "997 Elm St", "status": "PENDING"}
    t = table([*base, dup_id, new_id_same_address, sold, off, pending])
    assert distinct_active(t) == 11  # 10 listings + the pending one


def test_same_id_elsewhere_plus_new_id_here_adds_nothing() -> None:
    """The combined pad: property A's id at a fake address, and a new id at A's address.

    Counting min(distinct ids, distinct addresses) would say 4; every pad joins the group of the
    real property it shares a key with, so the count stays 3.
    """
    base = rows(3)
    pads = [
        {**base[0], "address": "0 Other Rd"},
        {**base[1], "listing_id": "90001", "url": "u/90001_zpid/"},
        {**base[2], "listing_id": "90002", "url": "u/90002_zpid/", "address": "0 Other Rd"},
    ]
    assert distinct_active(table([*base, *pads])) == 3


def test_address_normalisation() -> None:
    import pyarrow as pa

    got = normalised_addresses(
        pa.array(["12 Main Street, Apt #3", "12 main st unit 3", "12  MAIN ST.  Suite 3", None])
    ).to_pylist()
    assert got[0] == got[1] == got[2] == "12 main st unit 3"
    assert got[3] is None


def test_padding_with_delisted_and_duplicate_rows_does_not_raise_the_share() -> None:
    z = [assignment("10001", expected=20), assignment("10002", expected=20)]
    padded = rows(20) + [
        {**r, "listing_id": str(8000 + i), "url": f"u/{8000 + i}_zpid/", "status": "SOLD",
         "address": f"{i} Sold Ave"}
        for i, r in enumerate(rows(10))
    ] + [dict(r) for r in rows(1)]  # fmt: skip
    subs = [
        submission("padder", padded, at=1),
        _honest("honest", 1, "10002", start=5000),
    ]

    def answer(req: LookupRequest) -> Lookup:
        c = req.claimed
        return Lookup(LookupStatus.FOUND, _observed(c, status=c["status"]))

    result = _settle(record(z, subs), answer)
    assert result.validated_counts == {"10001": 20, "10002": 20}
    assert result.scores["padder"] == result.scores["honest"]


def _assessment(distinct: int | None, rows_: int = 100) -> FileAssessment:
    return FileAssessment("h", "10001", "s", rows_, (), False, distinct_active=distinct)


def _spot(matched: int, verified: int) -> SpotResult:
    return SpotResult(Reason.T3_PASS, verified, verified, verified, matched, ())


@pytest.mark.parametrize(
    ("distinct", "expected", "count"), [(150, 100, 150), (151, 100, 150), (149, 100, 149)]
)
def test_share_cap_boundary(distinct: int, expected: int, count: int) -> None:
    assert verified_count(_assessment(distinct), _spot(10, 10), expected, CONFIG) == count


def test_verified_count_scales_by_match_rate_and_floors() -> None:
    assert verified_count(_assessment(101), _spot(9, 10), 100, CONFIG) == 90  # floor(90.9)
    assert verified_count(_assessment(100), _spot(8, 10), 100, CONFIG) == 80


def test_old_assessment_without_distinct_falls_back_to_rows() -> None:
    assert verified_count(_assessment(None, rows_=40), _spot(10, 10), 100, CONFIG) == 40


def test_assessment_json_keeps_distinct_active() -> None:
    a = _assessment(42)
    assert FileAssessment.from_json(a.to_json()).distinct_active == 42


def test_report_round_trip_keeps_coldkeys_and_hash() -> None:
    from resi.validate.report import build_report, record_from_report, replay_report

    subs = [_honest("a", 1, coldkey="x"), _honest("b", 2, start=2000, coldkey="x")]
    rec = record([assignment()], subs)
    lookups: dict[str, Lookup] = {}
    result = validate_epoch(rec, lookups, CONFIG)
    while not result.complete:
        for req in result.pending_lookups:
            lookups[req.key] = _truthful(req)
        result = validate_epoch(rec, lookups, CONFIG)
    doc = build_report(rec, result, lookups, CONFIG, "validator")
    import json

    doc = json.loads(json.dumps(doc, default=str))
    replayed_record, _, _ = record_from_report(doc)
    assert {c.coldkey for c in replayed_record.commits} == {"x"}
    assert replay_report(doc).consensus_hash == result.consensus_hash
    assert result.winners["10001"] == ("a",)


# --------------------------------------------------------------------------- property


_KINDS = ("honest", "gone", "mismatch", "fabricated", "sybil")


@settings(max_examples=40, deadline=None, database=None)
@given(
    kinds=st.lists(st.sampled_from(_KINDS), min_size=1, max_size=6),
    order=st.randoms(use_true_random=False),
)
def test_cheaters_never_paid_and_operators_paid_once(kinds: list[str], order: Any) -> None:
    """Any mix of honest and cheating files: liars get 0, no coldkey is paid twice in a zipcode,
    mismatching files get 0, scores sum to 1, and the hash does not depend on input order."""
    subs = []
    kind_of: dict[str, str] = {}
    for i, kind in enumerate(kinds):
        hk = f"{kind}{i}"
        kind_of[hk] = kind
        coldkey = "sybil-op" if kind == "sybil" else f"cold{i}"
        subs.append(_honest(hk, i, start=1000 + 1000 * i, coldkey=coldkey))

    def answer(req: LookupRequest) -> Lookup:
        kind = kinds[(int(req.key) - 1000) // 1000]
        if kind == "gone":
            return Lookup(LookupStatus.GONE)
        if kind == "mismatch" and int(req.key) % 3 == 0:
            return Lookup(LookupStatus.FOUND, _observed(req.claimed, price=1))
        if kind == "fabricated":
            return Lookup(LookupStatus.FOUND, _observed(req.claimed, status="SOLD"))
        return _truthful(req)

    result = _settle(record([assignment()], subs), answer)
    assert sum(result.scores.values()) == pytest.approx(1.0)
    paid_ops = [c.coldkey for c, _ in subs if result.scores[c.hotkey] > 0]
    assert len(paid_ops) == len(set(paid_ops))
    for hk, kind in kind_of.items():
        if kind in ("gone", "fabricated"):
            assert hk in result.liars and result.scores[hk] == 0
        d = _decision(result, hk)
        if Reason.T3_PASS not in d.reasons:
            assert result.scores[hk] == 0
    shuffled = list(subs)
    order.shuffle(shuffled)
    assert _settle(record([assignment()], shuffled), answer).consensus_hash == (
        result.consensus_hash
    )


@settings(max_examples=60, deadline=None, database=None)
@example(n=3, pads=[("dup_id", 0), ("dup_address", 1)])
@given(
    n=st.integers(min_value=1, max_value=30),
    pads=st.lists(
        st.tuples(
            st.sampled_from(("dup_id", "dup_address", "sold", "off", "blank_status")),
            st.integers(min_value=0, max_value=29),
        ),
        max_size=20,
    ),
)
def test_padding_never_raises_distinct_active(n: int, pads: list[tuple[str, int]]) -> None:
    """Duplicates by id or address and non-active rows add nothing; a new property adds one."""
    base = rows(n)
    extra = []
    for j, (kind, i) in enumerate(pads):
        src = base[i % n]
        new_id = str(90_000 + j)
        if kind == "dup_id":
            extra.append({**src, "address": f"{j} Other Rd", "price": src["price"] + 1})
        elif kind == "dup_address":
            extra.append({**src, "listing_id": new_id, "url": f"u/{new_id}_zpid/"})
        else:
            status = {"sold": "SOLD", "off": "OFF_MARKET", "blank_status": " "}[kind]
            extra.append({**src, "listing_id": new_id, "address": f"{j} Gone Ln", "status": status})
    assert distinct_active(table([*base, *extra])) == n
    fresh = {**base[0], "listing_id": "123456789", "address": "1 Brand New Blvd"}
    assert distinct_active(table([*base, *extra, fresh])) == n + 1
