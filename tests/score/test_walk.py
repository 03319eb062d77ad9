"""The candidate walk: ordering, copies, liars, tier 3 and the pending-lookup protocol."""

from __future__ import annotations

import dataclasses
import random
from datetime import timedelta

import pytest

from resi.config import ScoringSettings
from resi.score.engine import validate_epoch
from resi.score.models import (
    BURN_KEY,
    EpochRecord,
    EpochResult,
    FileOutcome,
    Lookup,
    LookupStatus,
    Observed,
    Reason,
)
from tests.score.builders import (
    CONFIG,
    T0,
    assignment,
    record,
    rows,
    submission,
    truthful_lookups,
)


def _settle(rec: EpochRecord, answer, config: ScoringSettings = CONFIG) -> EpochResult:
    """Drive the pending protocol like the validator does, answering with ``answer(req)``."""
    lookups: dict[str, Lookup] = {}
    for _ in range(50):
        result = validate_epoch(rec, lookups, config)
        if result.complete:
            return result
        for req in result.pending_lookups:
            lookups[req.key] = answer(req)
    raise AssertionError("walk did not settle")


def _truthful(req) -> Lookup:
    c = req.claimed
    return Lookup(
        LookupStatus.FOUND,
        Observed(c["price"], c["bedrooms"], c["bathrooms"], c["living_area_sqft"], c["zipcode"]),
    )


def _honest(hotkey: str, at: int, zipcode: str = "10001", n: int = 20, start: int = 1000):
    recs = rows(n, zipcode, start_id=start, scraped_at=T0 + timedelta(seconds=at))
    return submission(hotkey, recs, zipcode=zipcode, at=at)


def test_ranks_follow_server_receive_time() -> None:
    rec = record([assignment()], [_honest("a", 30), _honest("b", 10), _honest("c", 20)])
    result = _settle(rec, _truthful)
    assert result.winners["10001"] == ("b", "c", "a")
    assert result.scores["b"] == pytest.approx(0.55)
    assert result.scores["c"] == pytest.approx(0.30)
    assert result.scores["a"] == pytest.approx(0.10)
    assert result.scores[BURN_KEY] == pytest.approx(0.05)  # no unranked participant


def test_same_receive_time_breaks_ties_by_hotkey() -> None:
    zz = submission("zz", rows(20, scraped_at=T0 + timedelta(seconds=1)), at=10)
    aa = submission("aa", rows(20, scraped_at=T0 + timedelta(seconds=2)), at=10)
    rec = record([assignment()], [zz, aa])
    assert _settle(rec, _truthful).winners["10001"] == ("aa", "zz")


def test_fourth_honest_miner_is_participant_and_gets_remainder() -> None:
    subs = [_honest(f"m{i}", i) for i in range(5)]
    result = _settle(record([assignment()], subs), _truthful)
    assert result.winners["10001"] == ("m0", "m1", "m2")
    assert result.scores["m3"] == pytest.approx(0.025)
    assert result.scores["m4"] == pytest.approx(0.025)
    fourth = next(d for d in result.decisions if d.hotkey == "m3")
    # every file is spot-checked, ranked or not: participants are verified too
    assert Reason.T3_PASS in fourth.reasons and fourth.participant and fourth.rank is None
    assert sum(result.scores.values()) == pytest.approx(1.0)


def test_byte_identical_copy_by_another_hotkey_is_ineligible() -> None:
    original = _honest("orig", 10)
    copy_commit, copy_file = submission("copycat", rows(20), at=20, sha=original[0].sha256)
    result = _settle(record([assignment()], [original, (copy_commit, copy_file)]), _truthful)
    d = next(d for d in result.decisions if d.hotkey == "copycat")
    assert Reason.DUPLICATE_COPY in d.reasons and not d.participant and not d.liar
    assert result.winners["10001"] == ("orig",)
    assert result.scores["copycat"] == 0


def test_relabelled_copy_with_identical_ids_and_values_is_ineligible() -> None:
    """A copier re-writes the earlier file under its own hotkey (new bytes, same rows)."""
    original = _honest("orig", 10)
    shuffled = rows(20, scraped_at=T0 + timedelta(seconds=10))
    random.Random(1).shuffle(shuffled)
    copy = submission("copycat", shuffled, at=20)
    assert copy[0].sha256 != original[0].sha256
    result = _settle(record([assignment()], [original, copy]), _truthful)
    d = next(d for d in result.decisions if d.hotkey == "copycat")
    assert Reason.DUPLICATE_COPY in d.reasons
    assert result.winners["10001"] == ("orig",)


def test_independent_scrapes_of_same_listings_are_not_copies() -> None:
    result = _settle(record([assignment()], [_honest("a", 10), _honest("b", 11)]), _truthful)
    assert result.winners["10001"] == ("a", "b")


def test_earlier_copy_does_not_taint_the_original() -> None:
    """Only the later commit is the copy: whoever committed first keeps its rank."""
    first = _honest("first", 5)
    second = submission("second", rows(20, scraped_at=T0 + timedelta(seconds=5)), at=9)
    result = _settle(record([assignment()], [second, first]), _truthful)
    assert result.winners["10001"] == ("first",)


def _nothing_at(zipcode: str):
    """The site's answers when ``zipcode`` really has no listings (a true honeypot)."""

    def answer(req) -> Lookup:
        if req.claimed["zipcode"] == zipcode:
            return Lookup(LookupStatus.GONE)
        return _truthful(req)

    return answer


def test_honeypot_liar_gets_zero_in_every_zipcode() -> None:
    z1, z2 = assignment("10001"), assignment("10002", honeypot=True)
    subs = [
        _honest("liar", 1),
        submission("liar", rows(20, "10002"), zipcode="10002", at=1),
        _honest("b", 2),
    ]
    result = _settle(record([z1, z2], subs), _nothing_at("10002"))
    assert "liar" in result.liars
    assert result.scores["liar"] == 0
    assert result.winners["10001"] == ("b",)  # the liar's rank went to the next miner
    d = next(d for d in result.decisions if d.hotkey == "liar" and d.zipcode == "10001")
    assert Reason.LIAR_ELSEWHERE in d.reasons and d.rank is None
    hp = next(d for d in result.decisions if d.hotkey == "liar" and d.zipcode == "10002")
    assert hp.liar and hp.reasons[0] is Reason.HONEYPOT and Reason.T3_NOT_FOUND in hp.reasons


def test_honeypot_with_listings_that_exist_is_not_a_lie() -> None:
    """DESIGN §5: a honeypot file is spot-checked like any file. Real listings there (fewer than
    the decoy count shown, so tier 1 must not apply) mean the belief was wrong, not the miner."""
    z = assignment("10002", expected=300, honeypot=True)
    result = _settle(record([z], [_honest("finder", 1, "10002", n=12)]), _truthful)
    d = result.decisions[0]
    assert not d.liar and "finder" not in result.liars
    assert Reason.T1_TOO_FEW not in d.reasons and d.spot is not None
    assert d.spot.reason is Reason.T3_PASS


def test_implausible_invented_rows_in_a_honeypot_still_make_a_liar() -> None:
    """Attack: fill a honeypot with invented rows that also fail tier 2, hoping a failed tier 2
    skips the spot check (and the liar verdict) while real zipcodes keep earning."""
    z1, z2 = assignment("10001"), assignment("10002", expected=20, honeypot=True)
    junk = rows(20, "10002", start_id=9_000)
    for r in junk:
        r["price"] = 1  # implausible everywhere
    subs = [_honest("responder", 1), submission("responder", junk, zipcode="10002", at=1)]
    result = _settle(record([z1, z2], subs), _nothing_at("10002"))
    assert result.liars == frozenset({"responder"}) and result.scores["responder"] == 0
    hp = next(d for d in result.decisions if d.zipcode == "10002")
    assert hp.reasons[0] is Reason.HONEYPOT and Reason.T2_IMPLAUSIBLE in hp.reasons


def test_an_empty_honeypot_file_is_not_spot_checked() -> None:
    """Found by the devnet: nothing to sample must not read as an unverifiable spot check."""
    z = assignment("10002", expected=20, honeypot=True)
    result = _settle(record([z], [submission("m", [], zipcode="10002", at=1)]), _truthful)
    d = result.decisions[0]
    assert d.reasons == (Reason.HONEYPOT_EMPTY,) and d.spot is None and not d.liar


def test_a_spot_checked_honeypot_file_that_failed_tier_2_is_not_paid() -> None:
    """Real listings in a believed-empty zipcode, but implausible values: not a liar (they
    exist), not paid either (tier 2 failed)."""
    z = assignment("10002", expected=20, honeypot=True)
    recs = rows(20, "10002")
    for r in recs:
        r["price"] = 1
    result = _settle(record([z], [submission("m", recs, zipcode="10002", at=1)]), _truthful)
    d = result.decisions[0]
    assert not d.liar and d.rank is None and not d.participant
    assert d.spot is not None and Reason.T2_IMPLAUSIBLE in d.reasons
    assert result.winners.get("10002", ()) == ()


def test_a_few_invented_rows_in_a_honeypot_are_still_spot_checked() -> None:
    """Attack: below the decoy's tier-1 floor, invented rows would skip tier 3 and go unpunished
    (and, counted as evidence, drain the honeypot pool). Honeypot files skip tier 1 instead."""
    z = assignment("10002", expected=300, honeypot=True)
    subs = [submission("prober", rows(3, "10002", start_id=9_000), zipcode="10002", at=1)]
    result = _settle(record([z], subs), _nothing_at("10002"))
    assert result.liars == frozenset({"prober"})
    assert result.decisions[0].reasons[0] is Reason.HONEYPOT


def test_gone_listing_makes_liar_across_zipcodes() -> None:
    """Fabricated rows in one zipcode cost the miner its winning file in another."""
    z1, z2 = assignment("10001"), assignment("10002")
    fake = rows(20, "10002", start_id=9_000)
    subs = [
        _honest("padder", 1, "10001"),
        submission("padder", fake, zipcode="10002", at=1),
        _honest("honest", 2, "10001"),
        _honest("honest", 2, "10002", start=5_000),
    ]

    def answer(req) -> Lookup:
        if req.claimed["zipcode"] == "10002" and int(req.key) >= 9_000:
            return Lookup(LookupStatus.GONE)
        return _truthful(req)

    result = _settle(record([z1, z2], subs), answer)
    assert result.liars == frozenset({"padder"})
    assert result.scores["padder"] == 0
    assert result.winners == {"10001": ("honest",), "10002": ("honest",)}
    gone = next(d for d in result.decisions if d.hotkey == "padder" and d.zipcode == "10002")
    assert Reason.T3_NOT_FOUND in gone.reasons and gone.liar
    assert result.scores["honest"] == pytest.approx(1.0 - result.scores[BURN_KEY])


def test_hash_mismatch_is_liar_everywhere() -> None:
    commit, _ = _honest("bad", 1)
    rec = record(
        [assignment()], [(commit, FileOutcome.failed(Reason.HASH_MISMATCH)), _honest("ok", 2)]
    )
    result = _settle(rec, _truthful)
    assert "bad" in result.liars and result.winners["10001"] == ("ok",)


def test_unreadable_parquet_is_liar() -> None:
    commit, _ = _honest("bad", 1)
    rec = record([assignment()], [(commit, FileOutcome.failed(Reason.PARQUET_UNREADABLE))])
    result = _settle(rec, _truthful)
    assert "bad" in result.liars
    assert result.scores == {"bad": 0.0, BURN_KEY: 1.0}


def test_transient_download_failure_is_unverified_not_liar() -> None:
    commit, _ = _honest("slow", 1)
    rec = record([assignment()], [(commit, FileOutcome.failed(Reason.DOWNLOAD_UNVERIFIED))])
    result = _settle(rec, _truthful)
    assert "slow" not in result.liars
    assert result.decisions[0].reasons == (Reason.DOWNLOAD_UNVERIFIED,)


@pytest.mark.parametrize(("wrong", "passes"), [(2, True), (3, False)])
def test_spot_pass_ratio_boundary(wrong: int, passes: bool) -> None:
    """k = 10 (100 rows): 8 of 10 matching passes, 7 of 10 is T3_MISMATCH (not a liar)."""
    sub = _honest("m", 1, n=100)
    rec = record([assignment(expected=100)], [sub])
    first = validate_epoch(rec, {}, CONFIG)
    assert len(first.pending_lookups) == 10
    bad = {r.key for r in first.pending_lookups[:wrong]}

    def answer(req) -> Lookup:
        lk = _truthful(req)
        if req.key in bad:
            assert lk.observed is not None
            return Lookup(LookupStatus.FOUND, dataclasses.replace(lk.observed, bedrooms=9))
        return lk

    result = _settle(rec, answer)
    d = result.decisions[0]
    assert (Reason.T3_PASS in d.reasons) is passes
    assert (Reason.T3_MISMATCH in d.reasons) is not passes
    assert not d.liar  # 7 of 10 is above the fabrication floor
    assert d.rank == (1 if passes else None)  # a mismatching file is not paid at all
    assert (result.scores["m"] > 0) is passes


@pytest.mark.parametrize(("price", "ok"), [(550_000, True), (550_001, False)])
def test_price_tolerance_boundary(price: int, ok: bool) -> None:
    from resi.score.spot import compare

    claimed = {"price": price, "zipcode": "10001"}
    observed = Observed(500_000, None, None, None, "10001")
    assert (compare(claimed, observed, CONFIG) == ()) is ok


@pytest.mark.parametrize(("sqft", "ok"), [(1050, True), (1051, False)])
def test_sqft_tolerance_boundary(sqft: int, ok: bool) -> None:
    from resi.score.spot import compare

    observed = Observed(None, 2, 1.5, 1000, None)
    claimed = {"living_area_sqft": sqft, "bedrooms": 2, "bathrooms": 1.5}
    assert (compare(claimed, observed, CONFIG) == ()) is ok


def test_unverifiable_lookups_draw_next_index_up_to_2k() -> None:
    sub = _honest("m", 1, n=20)  # k = 3, at most 6 draws
    rec = record([assignment()], [sub])
    asked: list[str] = []

    def flaky(req) -> Lookup:
        asked.append(req.key)
        if len(asked) <= 2:
            return Lookup(LookupStatus.UNVERIFIABLE, detail="429")
        return _truthful(req)

    d = _settle(rec, flaky).decisions[0]
    assert d.spot is not None and d.spot.draws == 5 and d.spot.verified == 3
    assert Reason.T3_PASS in d.reasons and len(asked) == 5


def test_all_unverifiable_is_not_held_against_the_miner() -> None:
    rec = record([assignment()], [_honest("m", 1)])
    result = _settle(rec, lambda req: Lookup(LookupStatus.UNVERIFIABLE))
    d = result.decisions[0]
    assert Reason.T3_UNVERIFIABLE in d.reasons
    assert d.spot is not None and d.spot.draws == 6
    # not a liar, but nothing was verified, so nothing is paid
    assert not d.liar and not d.participant and d.rank is None
    assert result.scores["m"] == 0


def test_same_listing_looked_up_once_across_miners() -> None:
    rec = record([assignment()], [_honest("a", 1), _honest("b", 2)])
    result = validate_epoch(rec, {}, CONFIG)
    keys = [r.key for r in result.pending_lookups]
    assert len(keys) == len(set(keys))


def test_every_candidate_is_spot_checked_in_the_first_round() -> None:
    """Tier 3 no longer waits for open ranks: the late file's lookups are asked at once."""
    subs = [_honest(f"m{i}", i) for i in range(4)] + [_honest("late", 9, start=5_000)]
    first = validate_epoch(record([assignment()], subs), {}, CONFIG)
    assert any(int(r.key) >= 5_000 for r in first.pending_lookups)
    assert first.consensus_hash is None and not first.scores


def test_consensus_hash_stable_under_input_reordering() -> None:
    z = [assignment("10001"), assignment("10002")]
    subs = [
        _honest("a", 3),
        _honest("b", 1),
        _honest("c", 2, "10002"),
        _honest("d", 2),
        _honest("e", 9),
        _honest("f", 9),
        _honest("g", 9),
    ]
    h1 = _settle(record(z, subs), _truthful).consensus_hash
    shuffled = list(subs)
    random.Random(7).shuffle(shuffled)
    h2 = _settle(record(list(reversed(z)), shuffled), _truthful).consensus_hash
    assert h1 is not None and h1 == h2
    # and any change of the outcome changes it
    h3 = _settle(record(z, subs[:-1]), _truthful).consensus_hash
    assert h3 != h1


def test_nobody_qualifies_all_to_burn() -> None:
    rec = record([assignment()], [submission("few", rows(3), at=1)])
    result = _settle(rec, _truthful)
    assert result.scores == {"few": 0.0, BURN_KEY: 1.0}
    assert result.winners == {"10001": ()}


def test_two_commits_for_one_zipcode_are_rejected() -> None:
    from resi.errors import ScoreError

    rec = record([assignment()], [_honest("a", 1), _honest("a", 2)])
    with pytest.raises(ScoreError):
        validate_epoch(rec, {}, CONFIG)


def test_truthful_lookups_helper_matches_keys() -> None:
    recs = rows(20)
    rec = record([assignment()], [submission("a", recs, at=1)])
    assert validate_epoch(rec, truthful_lookups(recs), CONFIG).complete
