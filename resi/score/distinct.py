"""Distinct active properties of a listings file: what a zipcode's share counts (DESIGN §8).

A row counts when its status is active (``resi.score.spot.ACTIVE_STATUSES``: for sale or
pending; sold, off-market and unknown rows count zero). Among those rows, two rows are the same
property when they share a canonical id *or* a normalised address (transitively), and the count
is the number of such groups (connected components of the id–address graph). So repeating a
listing under the same id, the same property under a new id, or both at once, adds nothing; the
count never depends on row order. Vectorised (pyarrow compute) with a union–find only for files
whose ids and addresses are not one-to-one; the count is recorded in the ``FileAssessment`` so
replay needs no file.

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
from resi.score.tiers import ASSESS_BATCH_ROWS, canonical_ids, per_distinct

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


def _normalised_unique(values: pa.ChunkedArray) -> Any:
    """``normalised_addresses`` computed once per distinct address (files repeat addresses)."""
    encoded = pc.dictionary_encode(values).combine_chunks()
    return pc.take(normalised_addresses(encoded.dictionary), encoded.indices)


def _repeat_index(sizes: Sequence[int]) -> Any:
    """0 repeated sizes[0] times, 1 repeated sizes[1] times, ... (run-end decoded, no loops)."""
    ends, values, total = [], [], 0
    for i, n in enumerate(sizes):
        if n:
            total += n
            ends.append(total)
            values.append(i)
    if not ends:
        return pa.array([], pa.int32())
    return pc.run_end_decode(
        pa.RunEndEncodedArray.from_arrays(pa.array(ends, pa.int32()), pa.array(values, pa.int32()))
    )


def _null_if_empty(values: Any) -> Any:
    return pc.if_else(pc.fill_null(pc.greater(pc.utf8_length(values), 0), False), values, None)


def distinct_active_many(tables: Sequence[pa.Table]) -> list[int]:
    """``distinct_active`` of each table, computed in one pass over all of them (per zipcode)."""
    if not tables:
        return []
    parts = [
        pa.table(
            {
                name: pc.cast(_column(t, name), pa.string())
                for name in ("listing_id", "status", "address")
            }
        )
        for t in tables
    ]
    big = pa.concat_tables(parts).combine_chunks()
    files = _repeat_index([t.num_rows for t in parts])
    active_set = pa.array(sorted(ACTIVE_STATUSES))

    def is_active(status: pa.Array) -> Any:
        status = pc.utf8_upper(pc.utf8_trim_whitespace(status))
        return pc.fill_null(pc.is_in(status, value_set=active_set), False)

    active = per_distinct(big.column("status"), is_active)
    keyed = pa.table(
        {
            "f": files,
            # empty ids/addresses are no property at all: null is not counted
            "id": _null_if_empty(canonical_ids(big.column("listing_id"))),
            "addr": _null_if_empty(_normalised_unique(big.column("address"))),
        }
    ).filter(active)
    # rows with neither an id nor an address are no property at all
    keyed = keyed.filter(pc.or_(pc.is_valid(keyed.column("id")), pc.is_valid(keyed.column("addr"))))
    pair = pc.binary_join_element_wise(
        pc.fill_null(keyed.column("id"), ""), pc.fill_null(keyed.column("addr"), ""), "\x1f"
    )
    stats = (
        keyed.append_column("pair", pair)
        .group_by("f")
        .aggregate(
            [
                ("pair", "count_distinct"),
                ("id", "count_distinct", pc.CountOptions(mode="all")),
                ("addr", "count_distinct", pc.CountOptions(mode="all")),
                ("id", "count", pc.CountOptions(mode="only_null")),
                ("addr", "count", pc.CountOptions(mode="only_null")),
            ]
        )
        .to_pydict()
    )
    out = [0] * len(tables)
    tangled: set[int] = set()
    for i, f in enumerate(stats["f"]):
        n = stats["pair_count_distinct"][i]
        one_to_one = (
            stats["id_count_distinct"][i] == n
            and stats["addr_count_distinct"][i] == n
            and stats["id_count"][i] == 0
            and stats["addr_count"][i] == 0
        )
        if one_to_one:
            out[f] = n  # the usual honest file: every id has its own address
        else:
            tangled.add(f)
    if tangled:
        mask = pc.is_in(keyed.column("f"), value_set=pa.array(sorted(tangled), pa.int32()))
        sub = keyed.filter(mask).to_pydict()
        by_file: dict[int, list[tuple[str | None, str | None]]] = {}
        for f, id_, addr in zip(sub["f"], sub["id"], sub["addr"], strict=True):
            by_file.setdefault(f, []).append((id_, addr))
        for f, edges in by_file.items():
            out[f] = _components(edges)
    return out


def _components(edges: Sequence[tuple[str | None, str | None]]) -> int:
    """Groups of rows linked by a shared id or a shared address (union–find over both keys)."""
    parent: dict[tuple[str, str], tuple[str, str]] = {}

    def find(x: tuple[str, str]) -> tuple[str, str]:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    for id_, addr in edges:
        nodes = [n for n in (("i", id_), ("a", addr)) if n[1] is not None]
        for n in nodes:
            parent.setdefault(n, n)  # type: ignore[arg-type]
        if len(nodes) == 2:
            a, b = find(nodes[0]), find(nodes[1])  # type: ignore[arg-type]
            if a != b:
                parent[max(a, b)] = min(a, b)
    return sum(1 for n in parent if parent[n] == n)


def distinct_active(table: pa.Table) -> int:
    """Distinct active properties in ``table`` (see the module docstring)."""
    return distinct_active_many([table])[0]


def with_distinct_active(
    assessments: Sequence[FileAssessment],
    submissions: Sequence[tuple[CommitInput, FileOutcome]],
    batch_rows: int = ASSESS_BATCH_ROWS,
) -> list[FileAssessment]:
    """``assessments`` with ``distinct_active`` filled in for files that passed tiers 1–2.

    Files that failed earlier keep ``None`` (they are never paid, so never counted).
    """
    tables = {(c.hotkey, c.zipcode): o.table for c, o in submissions}
    todo = [
        i
        for i, a in enumerate(assessments)
        if a.passed_cheap
        and a.distinct_active is None
        and tables.get((a.hotkey, a.zipcode)) is not None
    ]
    counts: list[int] = []
    batch: list[pa.Table] = []
    rows = 0
    # row-bounded batches (as in tiers): counts are per file, memory stays flat in miners
    for i in todo:
        t = tables[(assessments[i].hotkey, assessments[i].zipcode)]
        assert t is not None  # todo holds files with a table
        if batch and rows + t.num_rows > batch_rows:
            counts.extend(distinct_active_many(batch))
            batch, rows = [], 0
        batch.append(t)
        rows += t.num_rows
    counts.extend(distinct_active_many(batch))
    out = list(assessments)
    for i, n in zip(todo, counts, strict=True):
        out[i] = replace(out[i], distinct_active=n)
    return out
