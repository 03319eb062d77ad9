"""What a validator reports for calibration, per zipcode (pure; issue 14): verified counts of won
zipcodes, 0 only with an honest empty file, nothing without evidence, and a contradicted honeypot
when an honest file holds listings there."""

from __future__ import annotations

from datetime import UTC, datetime

from resi.score.models import AssignmentInput, Decision, EpochResult, Reason, SpotResult
from resi.validate.calibration import zipcode_counts

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def _a(zipcode: str, honeypot: bool = False) -> AssignmentInput:
    return AssignmentInput(zipcode, 300, "NY", 40.0, -73.0, honeypot)


def _d(zipcode: str, hotkey: str, rows: int, liar: bool, reason: Reason) -> Decision:
    # Tier-3 codes come with the spot check that gave them (its evidence is not needed here).
    spot = SpotResult(reason, 3, 3, 3, 3, ()) if reason.value.startswith("T3_") else None
    return Decision(
        zipcode, hotkey, 0, T0, "0" * 64, rows, (reason,), liar, False, None, None, spot
    )


def test_counts_follow_the_evidence() -> None:
    assignments = [
        *(_a("10001"), _a("20002"), _a("30003"), _a("40004", True), _a("50005", True)),
        _a("60006", True),
    ]
    decisions = (
        _d("10001", "m1", 280, False, Reason.T3_PASS),
        _d("20002", "m1", 0, False, Reason.T1_TOO_FEW),  # an honest search came back empty
        _d("30003", "liar", 0, True, Reason.METADATA_MISMATCH),  # only a liar: unknown
        _d("40004", "m2", 0, False, Reason.HONEYPOT_EMPTY),
        _d("50005", "m3", 12, False, Reason.T3_PASS),  # real listings at a "honeypot"
        _d("50005", "liar", 40, True, Reason.HONEYPOT),
        # Attack: rows that never reached a spot check prove nothing about a honeypot, so they
        # can't drain the pool; and rows never mean "validated empty".
        _d("60006", "prober", 3, False, Reason.T2_INCONSISTENT),
    )
    result = EpochResult(
        epoch_id="e",
        nonce="n",
        decisions=decisions,
        winners={"10001": ("m1",)},
        validated_counts={"10001": 275},
        zipcode_shares={},
        scores={},
        score_strings={},
        liars=frozenset({"liar"}),
        consensus_hash="h",
    )
    got = {c.zipcode: (c.validated_count, c.honeypot_contradicted) for c in
           zipcode_counts(assignments, result)}  # fmt: skip
    assert got == {
        "10001": (275, False),
        "20002": (0, False),
        "40004": (0, False),
        "50005": (12, True),  # the liar's 40 rows never count
    }
