"""``first_lookups``: a zipcode's spot-check lookups, known as soon as its files are assessed.

The validator fetches them while other zipcodes are still being assessed. Whatever the epoch
(copies, liars, short files, honeypots, lookups already known or unverifiable), the zipcodes'
first lookups together are exactly what the walk asks for next, once every cheap liar is known;
with fewer liars known they can only be more.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from resi.score.engine import assess_record, first_lookups, validate_epoch
from resi.score.models import FileMeta, Lookup, LookupStatus
from tests.score.builders import (
    CONFIG,
    EPOCH,
    NONCE,
    assignment,
    record,
    rows,
    submission,
    truthful_lookups,
)

ZIPCODES = ("10001", "10002")
KINDS = ("honest", "honest", "copy", "reordered_copy", "short", "lies_in_metadata")


def _epoch(plan: list[tuple[str, str, int]], honeypot: bool) -> Any:
    """Submissions per ``(zipcode, kind, seconds after T0)``; hotkeys m0, m1, ... (a hotkey may
    commit in both zipcodes, so a liar in one is a liar in the other)."""
    subs = []
    previous: dict[str, list[dict[str, Any]]] = {}
    for i, (zipcode, kind, at) in enumerate(plan):
        hotkey = f"m{i % 4}"
        if any(c.hotkey == hotkey and c.zipcode == zipcode for c, _ in subs):
            continue  # one commit per hotkey and zipcode
        records = rows(20, zipcode, start_id=1000 + 3 * i)
        if kind in ("copy", "reordered_copy") and zipcode in previous:
            records = previous[zipcode] if kind == "copy" else previous[zipcode][::-1]
        if kind == "short":
            records = records[:5]
        meta = FileMeta(EPOCH, NONCE, "someone-else" if kind == "lies_in_metadata" else hotkey,
                        zipcode)  # fmt: skip
        sha = f"{zipcode}{len(records)}{records[0]['listing_id']}" if kind == "copy" else None
        subs.append(submission(hotkey, records, zipcode=zipcode, at=at, sha=sha, meta=meta))
        previous.setdefault(zipcode, records)
    assignments = [assignment(ZIPCODES[0]), assignment(ZIPCODES[1], honeypot=honeypot)]
    return record(assignments, subs), subs


@settings(max_examples=60, deadline=None)
@given(
    plan=st.lists(
        st.tuples(st.sampled_from(ZIPCODES), st.sampled_from(KINDS), st.integers(0, 5)),
        min_size=1,
        max_size=8,
    ),
    honeypot=st.booleans(),
    known=st.integers(0, 30),
    unverifiable=st.integers(0, 10),
)
def test_first_lookups_of_every_zipcode_are_what_the_walk_asks_for(
    plan: list[tuple[str, str, int]], honeypot: bool, known: int, unverifiable: int
) -> None:
    rec, subs = _epoch(plan, honeypot)
    # some lookups already in hand, some of them unverifiable (the walk then draws further)
    truth = truthful_lookups([r for _, o in subs for r in o.table.to_pylist()])
    keys = sorted(truth)
    lookups = {k: truth[k] for k in keys[:known]}
    lookups.update({k: Lookup(LookupStatus.UNVERIFIABLE) for k in keys[known:][:unverifiable]})
    walk = validate_epoch(rec, lookups, CONFIG)
    assessed = assess_record(rec, CONFIG)
    liars = {a.hotkey for a in assessed.values() if a.liar}

    def early(known_liars: set[str]) -> set[str]:
        return {
            r.key
            for a in rec.assignments
            for r in first_lookups(
                [c for c in rec.commits if c.zipcode == a.zipcode],
                assessed,
                lookups,
                known_liars,
                CONFIG,
                a.honeypot,
            )
        }

    assert early(liars) == {r.key for r in walk.pending_lookups}
    assert early(set()) >= early(liars)
