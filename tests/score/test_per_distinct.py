"""Issue 17: string checks computed once per distinct value give exactly the per-row results.

``per_distinct`` runs a check over a column's distinct values and maps the answers back; a
hostile file must not be able to make that differ from running the check on every row (nulls,
blanks, odd ids and urls, values split over several chunks).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from resi.score.tiers import (
    CANONICAL_ID_PATTERN,
    URL_ID_PATTERN,
    _canonical,
    per_distinct,
)

ODD = ["123", "0123", "123_zpid", " 123 ", "ABC", "", "   ", "1_ZPID", "x" * 70, "é1", "\t7\n"]
URLS = ["https://z/homedetails/a/123_zpid/", "https://z/0123_zpid", "https://z/123", "_zpid"]


CHECKS = [
    _canonical,
    lambda s: pc.fill_null(pc.match_substring_regex(s, pattern=CANONICAL_ID_PATTERN), False),
    lambda s: _canonical(pc.struct_field(pc.extract_regex(s, pattern=URL_ID_PATTERN), [0])),
    lambda s: pc.equal(pc.utf8_upper(pc.utf8_trim_whitespace(s)), "NY"),
]

values = st.lists(st.one_of(st.none(), st.sampled_from(ODD + URLS), st.text(max_size=12)))


@settings(max_examples=200, deadline=None, database=None, derandomize=True)
@given(values=values, cut=st.integers(0, 30), check=st.sampled_from(range(len(CHECKS))))
def test_per_distinct_equals_the_check_on_every_row(
    values: list[Any], cut: int, check: int
) -> None:
    fn = CHECKS[check]
    cut = min(cut, len(values))
    chunked = pa.chunked_array([values[:cut], values[cut:]], pa.string())
    want = fn(chunked.combine_chunks()).to_pylist()
    assert per_distinct(chunked, fn).to_pylist() == want
    assert per_distinct(chunked.combine_chunks(), fn).to_pylist() == want
