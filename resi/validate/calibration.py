"""What a validator reports to the API's calibration loop: a validated count per zipcode.

Pure: the epoch's assignments and the scoring result in, ``ZipcodeCount`` items out. A zipcode
is reported only when this validator has evidence about it:

- a winning (tier-3 verified) file → its validated count (``EpochResult.validated_counts``);
- else an honest file (integrity passed, not a liar) that holds 0 rows → 0, "validated empty";
- else nothing (no submission, or only liars: unknown, never "empty").

A honeypot is *contradicted* when the spot check of a file that is not a liar found its sampled
listings at that zipcode (``T3_PASS`` or ``T3_MISMATCH``: they exist), so the belief that it is
empty was wrong. Rows alone prove nothing: a few invented rows must not be able to drain the
honeypot pool.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from resi.api.schemas import ZipcodeCount
from resi.score.models import AssignmentInput, Decision, EpochResult, Reason

# Spot-check outcomes that prove the sampled listings exist at the zipcode.
FOUND_THERE = frozenset({Reason.T3_PASS, Reason.T3_MISMATCH})


def zipcode_counts(
    assignments: Sequence[AssignmentInput], result: EpochResult
) -> list[ZipcodeCount]:
    """The per-zipcode counts to post with the epoch's result, sorted by zipcode."""
    decisions: dict[str, list[Decision]] = defaultdict(list)
    for d in result.decisions:
        decisions[d.zipcode].append(d)
    out = []
    for a in sorted(assignments, key=lambda a: a.zipcode):
        honest = [d for d in decisions.get(a.zipcode, ()) if not d.liar]
        contradicted = a.honeypot and any(
            d.spot is not None and d.spot.reason in FOUND_THERE for d in honest
        )
        if result.winners.get(a.zipcode):
            count = int(result.validated_counts.get(a.zipcode, 0))
        elif contradicted:
            count = max(d.rows for d in honest)
        elif any(d.rows == 0 for d in honest):
            count = 0
        else:
            continue
        out.append(
            ZipcodeCount(
                zipcode=a.zipcode,
                validated_count=min(count, 10_000_000),
                honeypot_contradicted=contradicted,
            )
        )
    return out
