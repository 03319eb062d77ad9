"""Distinct active properties of a listings file: what a zipcode's share counts (DESIGN §8).

A row counts when its status is active (``resi.score.spot.ACTIVE_STATUSES``: for sale or
pending; sold, off-market and unknown rows count zero). Among those rows the count is
min(distinct canonical ids, distinct normalised addresses), so repeating a listing under the same
id, or the same property under a new id, adds nothing. Pure and vectorised (pyarrow compute);
the count is recorded in the ``FileAssessment`` so replay needs no file.

Normalised address: lower case, punctuation removed, runs of spaces collapsed, and the common
street-suffix and unit words abbreviated (``Street`` → ``st``, ``Apartment``/``Unit``/``#`` →
``unit``), so "12 Main Street, Apt 3" and "12 main st unit 3" are one property.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from resi.score.models import CommitInput, FileAssessment, FileOutcome
from resi.score.spot import ACTIVE_STATUSES
from resi.score.tiers import canonical_ids

_WORDS = (
    ("street", "st"),
    ("avenue", "ave"),
    ("road", "rd"),
    ("drive", "dr"),
    ("lane", "ln"),
    ("court", "ct"),
    ("boulevard", "blvd"),
    ("place", "pl"),
    ("terrace", "ter"),
    ("parkway", "pkwy"),
    ("highway", "hwy"),
    ("circle", "cir"),
    ("north", "n"),
    ("south", "s"),
    ("east", "e"),
    ("west", "w"),
    ("apartment", "unit"),
    ("apt", "unit"),
    ("suite", "unit"),
    ("ste", "unit"),
)


def normalised_addresses(values: pa.ChunkedArray | pa.Array) -> Any:
    """Addresses in the normalised form described in the module docstring (nulls stay null)."""
    s = pc.utf8_lower(pc.cast(values, pa.string()))
    s = pc.replace_substring_regex(s, pattern=r"#", replacement=" unit ")
    s = pc.replace_substring_regex(s, pattern=r"[^0-9a-z]+", replacement=" ")
    s = pc.utf8_trim_whitespace(s)
    for word, short in _WORDS:
        s = pc.replace_substring_regex(s, pattern=rf"\b{word}\b", replacement=short)
    # "unit unit 3" (from "Apt #3") → "unit 3"
    s = pc.replace_substring_regex(s, pattern=r"\bunit( unit)+\b", replacement="unit")
    return pc.replace_substring_regex(s, pattern=r" +", replacement=" ")


def _column(table: pa.Table, name: str) -> pa.ChunkedArray:
    if table.schema.get_field_index(name) >= 0:
        return table.column(name)
    return pa.chunked_array([pa.nulls(table.num_rows, pa.string())])


def distinct_active(table: pa.Table) -> int:
    """Distinct active properties in ``table`` (see the module docstring)."""
    if table.num_rows == 0:
        return 0
    status = pc.utf8_upper(pc.utf8_trim_whitespace(pc.cast(_column(table, "status"), pa.string())))
    active = pc.fill_null(pc.is_in(status, value_set=pa.array(sorted(ACTIVE_STATUSES))), False)
    ids = pc.filter(canonical_ids(_column(table, "listing_id")), active)
    addresses = pc.filter(normalised_addresses(_column(table, "address")), active)
    # empty ids/addresses are no property at all
    ids = pc.filter(ids, pc.fill_null(pc.greater(pc.utf8_length(ids), 0), False))
    addresses = pc.filter(addresses, pc.fill_null(pc.greater(pc.utf8_length(addresses), 0), False))
    n_ids = pc.count_distinct(ids, mode="only_valid").as_py()
    n_addresses = pc.count_distinct(addresses, mode="only_valid").as_py()
    return int(min(n_ids, n_addresses))


def with_distinct_active(
    assessments: Sequence[FileAssessment],
    submissions: Sequence[tuple[CommitInput, FileOutcome]],
) -> list[FileAssessment]:
    """``assessments`` with ``distinct_active`` filled in for files that passed tiers 1–2.

    Files that failed earlier keep ``None`` (they are never paid, so never counted).
    """
    tables = {(c.hotkey, c.zipcode): o.table for c, o in submissions}
    out = []
    for a in assessments:
        t = tables.get((a.hotkey, a.zipcode))
        if a.passed_cheap and t is not None and a.distinct_active is None:
            a = replace(a, distinct_active=distinct_active(t))
        out.append(a)
    return out
