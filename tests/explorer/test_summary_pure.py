"""The summary a validator builds from a real scored epoch, its size bound, and its hash check."""

from __future__ import annotations

from datetime import timedelta
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from resi.config import ScoringSettings
from resi.score.consensus import consensus_hash, decimal_string
from resi.score.engine import validate_epoch
from resi.score.models import EpochRecord, EpochResult, Lookup, LookupStatus, Observed
from resi.validate.report import build_summary
from tests.score.builders import CONFIG, T0, assignment, record, rows, submission


def _settle(rec: EpochRecord, config: ScoringSettings = CONFIG) -> EpochResult:
    lookups: dict[str, Lookup] = {}
    for _ in range(50):
        result = validate_epoch(rec, lookups, config)
        if result.complete:
            return result
        for req in result.pending_lookups:
            c = req.claimed
            # "b" inflated its prices: the site shows them 50% higher.
            price = c["price"] * 3 // 2 if c["listing_id"].startswith("2") else c["price"]
            lookups[req.key] = Lookup(
                LookupStatus.FOUND,
                Observed(price, c["bedrooms"], c["bathrooms"], c["living_area_sqft"], c["zipcode"]),
            )
    raise AssertionError("walk did not settle")


def _result() -> EpochResult:
    a = submission("a", rows(20, start_id=1000, scraped_at=T0 + timedelta(seconds=1)), at=1)
    b = submission("b", rows(20, start_id=2000, scraped_at=T0 + timedelta(seconds=2)), at=2)
    return _settle(record([assignment(), assignment("10002")], [a, b]))


def _recomputed(result: EpochResult, summary: object) -> str:
    scores = {hk: Fraction(v) for hk, v in summary.scores.items()}  # type: ignore[attr-defined]
    winners = {z: s.winners for z, s in summary.zipcodes.items()}  # type: ignore[attr-defined]
    return consensus_hash(result.epoch_id, result.nonce, scores, winners)


def test_summary_of_a_scored_epoch_recomputes_its_hash() -> None:
    result = _result()
    summary = build_summary(result)
    assert summary is not None
    assert _recomputed(result, summary) == result.consensus_hash
    assert set(summary.zipcodes) == {"10001", "10002"}
    a = {z.zipcode: z for z in summary.miners["a"]}
    assert a["10001"].rank == 1 and "RANKED" in a["10001"].reasons
    spot = a["10001"].spot
    assert spot and all(row.observed is not None for row in spot)
    b = summary.miners["b"][0]
    assert b.rank is None and b.spot is not None
    assert all(row.match is False and "price" in row.mismatched for row in b.spot)
    assert b.spot[0].observed is not None
    assert b.spot[0].observed["price"] == b.spot[0].claimed["price"] * 3 // 2


def test_oversized_summary_drops_spot_rows_then_gives_up() -> None:
    result = _result()
    full = build_summary(result)
    assert full is not None
    lean = build_summary(result, max_bytes=len(full.model_dump_json()) - 1)
    assert lean is not None
    assert all(item.spot is None for items in lean.miners.values() for item in items)
    assert _recomputed(result, lean) == result.consensus_hash
    assert build_summary(result, max_bytes=50) is None


@settings(max_examples=60, deadline=None, database=None, derandomize=True)
@given(
    scores=st.dictionaries(
        st.text(min_size=1, max_size=12), st.fractions(min_value=0, max_value=1), max_size=6
    ),
    winners=st.dictionaries(
        st.from_regex(r"[0-9]{5}", fullmatch=True),
        st.lists(st.text(min_size=1, max_size=8), max_size=3),
        max_size=5,
    ),
)
def test_decimal_strings_recompute_the_exact_hash(
    scores: dict[str, Fraction], winners: dict[str, list[str]]
) -> None:
    """The API recomputes from the 9-place strings; that must equal the hash of exact scores."""
    strings = {hk: decimal_string(v) for hk, v in scores.items()}
    again = {hk: Fraction(s) for hk, s in strings.items()}
    assert consensus_hash("e", "n", again, winners) == consensus_hash("e", "n", scores, winners)
