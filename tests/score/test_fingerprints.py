"""Fingerprints hashed from Arrow buffers equal the definition: the joined row strings' sha256."""

from __future__ import annotations

import hashlib

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from resi.score.tiers import _fingerprints

NAMES = ["b", "a"]
HEADER = "\x1d".join(sorted(NAMES)).encode()


def _by_definition(rows: list[str | None], ids: list[str | None], sizes: list[int]) -> list[str]:
    """sha256(header + rows of the file, stably sorted by id (nulls last), joined by \\x1e);
    a null row makes the joined text null, which hashes as the header alone."""
    out, start = [], 0
    for n in sizes:
        part = list(zip(ids[start : start + n], rows[start : start + n], strict=True))
        part.sort(key=lambda p: (p[0] is None, p[0] or ""))
        texts = [r for _, r in part]
        joined = "" if None in texts else "\x1e".join(t for t in texts if t is not None)
        out.append(hashlib.sha256(HEADER + joined.encode()).hexdigest())
        start += n
    return out


text = st.text(alphabet=st.sampled_from(["a", "é", "\x1e", "😀", "0", " "]), max_size=6)
row = st.tuples(st.one_of(st.none(), st.sampled_from(["1", "2", "10"])), text)


@settings(max_examples=200, deadline=None)
@given(
    files=st.lists(st.lists(row, max_size=6), min_size=1, max_size=5),
    null_at=st.one_of(st.none(), st.integers(min_value=0)),
    split_at=st.one_of(st.none(), st.integers(min_value=1)),
)
def test_buffer_hash_equals_the_joined_text_hash(
    files: list[list[tuple[str | None, str]]], null_at: int | None, split_at: int | None
) -> None:
    sizes = [len(f) for f in files]
    ids = [i for f in files for i, _ in f]
    rows: list[str | None] = [r for f in files for _, r in f]
    if null_at is not None and rows:
        rows[null_at % len(rows)] = None
    strings: pa.Array | pa.ChunkedArray = pa.array(rows, pa.string())
    if split_at is not None and len(rows) > 1:
        k = 1 + split_at % (len(rows) - 1)
        strings = pa.chunked_array([strings.slice(0, k), strings.slice(k)])
    file_idx = pa.array([j for j, n in enumerate(sizes) for _ in range(n)], pa.int32())
    got = _fingerprints(strings, file_idx, pa.array(ids, pa.string()), sizes, NAMES)
    assert got == _by_definition(rows, ids, sizes)
