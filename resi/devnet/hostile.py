"""Hostile listings files (issue 12): schema-valid Parquet written to stop, exhaust or bend a
validator. Used by the devnet's ``hostile`` behaviour, the tests and ``bench/bench_hostile.py``.

Each writer takes real rows (or none) and the file metadata, and writes a file that passes the
schema and metadata checks, so what the validator meets is the hostility itself:

- ``extremes``: every number at the edge of its Arrow type (int64/int32 max and min, NaN, ±inf),
  timestamps at the ends of int64 microseconds.
- ``dictionary_bomb``: one long string repeated on every row through a dictionary page: a tiny
  file that would decode to ``rows × length`` bytes.
- ``compression_bomb``: one plain (non-dictionary) string column whose zstd pages inflate to
  ``inflated_mib``.
- ``corrupt``: a valid file with bytes overwritten in the middle of its data pages.
- ``odd_ids``: real rows under altered id spellings (leading zeros, ``_zpid``, upper case).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from resi.scrape.listing import (
    LISTING_SCHEMA,
    FileMetadata,
    Listing,
    WrittenFile,
    listings_to_table,
    sha256_file,
)

KINDS = ("extremes", "dictionary_bomb", "compression_bomb", "corrupt", "odd_ids")
_TS = pa.timestamp("us", tz="UTC")


def _write(path: Path, table: pa.Table, meta: FileMetadata, **options: Any) -> WrittenFile:
    """Write ``table`` with ``meta`` as Parquet key/value metadata and no stored Arrow schema
    (as another writer would), so dictionary columns read back as plain strings."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with pq.ParquetWriter(tmp, table.schema, store_schema=False, **options) as writer:
        writer.write_table(table)
        writer.add_key_value_metadata({k.decode(): v.decode() for k, v in meta.to_kv().items()})
    os.replace(tmp, path)
    return WrittenFile(path, sha256_file(path), table.num_rows, path.stat().st_size)


def _base(listings: Sequence[Listing], rows: int) -> pa.Table:
    """``rows`` rows cycled from ``listings`` (schema order)."""
    if not listings:
        raise ValueError("hostile files are built from at least one real listing")
    picked = [listings[i % len(listings)] for i in range(rows)]
    return listings_to_table(picked)


def _set(table: pa.Table, name: str, array: pa.Array | pa.ChunkedArray) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, array)


def extremes(path: Path, listings: Sequence[Listing], meta: FileMetadata) -> WrittenFile:
    """Numbers and timestamps at the edges of their types, on every row."""
    t = _base(listings, max(len(listings), 8))
    n = t.num_rows
    edges64 = [2**63 - 1, -(2**63), -1, 0]
    edges32 = [2**31 - 1, -(2**31), -1, 0]
    floats = [float("nan"), float("inf"), float("-inf"), -0.0]
    for f in LISTING_SCHEMA:
        if f.type == pa.int64():
            t = _set(t, f.name, pa.array([edges64[i % 4] for i in range(n)], pa.int64()))
        elif f.type == pa.int32():
            t = _set(t, f.name, pa.array([edges32[i % 4] for i in range(n)], pa.int32()))
        elif f.type == pa.float64():
            t = _set(t, f.name, pa.array([floats[i % 4] for i in range(n)], pa.float64()))
        elif f.type == _TS:
            micros = pa.array([edges64[i % 2] + (i % 2) for i in range(n)], pa.int64())
            t = _set(t, f.name, micros.cast(_TS))
    return _write(path, t, meta, compression="zstd")


def dictionary_bomb(
    path: Path,
    listings: Sequence[Listing],
    meta: FileMetadata,
    *,
    rows: int = 2_000,
    length: int = 1 << 20,
) -> WrittenFile:
    """``address`` is one ``length``-byte string on all ``rows`` rows, stored once."""
    t = _base(listings, rows)
    bomb = pa.DictionaryArray.from_arrays(
        pa.array([0] * rows, pa.int32()), pa.array(["A" * length])
    )
    t = _set(t, "address", bomb)
    return _write(path, t, meta, compression="zstd", write_statistics=False)


def compression_bomb(
    path: Path,
    listings: Sequence[Listing],
    meta: FileMetadata,
    *,
    inflated_mib: int = 200,
    rows: int = 1,
) -> WrittenFile:
    """``address`` holds ``inflated_mib`` MiB of one repeated byte in plain zstd pages."""
    t = _base(listings, rows)
    per_row = (inflated_mib << 20) // rows
    t = _set(t, "address", pa.array(["A" * per_row] * rows, pa.string()))
    return _write(path, t, meta, compression="zstd", use_dictionary=False, write_statistics=False)


def corrupt(path: Path, listings: Sequence[Listing], meta: FileMetadata) -> WrittenFile:
    """A valid file whose middle third of bytes is overwritten (footer intact)."""
    _write(path, _base(listings, max(len(listings), 8)), meta, compression="zstd")
    data = bytearray(path.read_bytes())
    lo, hi = len(data) // 3, 2 * len(data) // 3
    data[lo:hi] = bytes((i * 151 + 7) % 256 for i in range(hi - lo))
    path.write_bytes(bytes(data))
    return WrittenFile(path, sha256_file(path), len(listings), path.stat().st_size)


def odd_ids(path: Path, listings: Sequence[Listing], meta: FileMetadata) -> WrittenFile:
    """The real rows, each id in a different non-canonical spelling (url left as it was)."""
    forms = ("0{}", "{}_zpid", " {} ", "00{}")
    rows = [
        replace(x, listing_id=forms[i % len(forms)].format(x.listing_id))
        for i, x in enumerate(listings)
    ]
    return _write(path, listings_to_table(rows), meta, compression="zstd")


WRITERS = {
    "extremes": extremes,
    "dictionary_bomb": dictionary_bomb,
    "compression_bomb": compression_bomb,
    "corrupt": corrupt,
    "odd_ids": odd_ids,
}
