"""The listing record (DESIGN §7), its Arrow schema and the Parquet files miners upload.

One row per listing; the file's key/value metadata carries ``epoch_id``, ``nonce``,
``miner_hotkey``, ``zipcode`` and ``schema_version``. The reader validates the file against
:data:`LISTING_SCHEMA` column by column (no per-row Python, so it stays fast on millions of rows)
and raises :class:`~resi.errors.ListingFileError` with a precise reason code.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from resi.errors import ListingFileError

SCHEMA_VERSION = "1"

# Reason codes of ListingFileError (they appear verbatim in validation reports).
PARQUET_UNREADABLE = "PARQUET_UNREADABLE"
SCHEMA_MISMATCH = "SCHEMA_MISMATCH"
METADATA_MISSING = "METADATA_MISSING"
SCHEMA_VERSION_UNSUPPORTED = "SCHEMA_VERSION_UNSUPPORTED"
LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
UNSUPPORTED_VALUE = "UNSUPPORTED_VALUE"

# Fixed allowance on top of rows × bytes-per-row (footer, metadata, tiny files).
BUDGET_SLACK_BYTES = 1 << 20

_TS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Listing:
    """One listing as scraped. Datetimes are timezone-aware UTC; ``None`` means unknown."""

    listing_id: str
    source: str
    url: str
    zipcode: str
    address: str
    city: str
    state: str
    price: int
    status: str
    property_type: str
    scraped_at: datetime
    bedrooms: int | None = None
    bathrooms: float | None = None
    living_area_sqft: int | None = None
    lot_sqft: int | None = None
    year_built: int | None = None
    latitude: float | None = None
    longitude: float | None = None
    days_on_market: int | None = None
    listed_at: datetime | None = None
    broker: str | None = None
    mls_id: str | None = None
    photo_count: int | None = None


LISTING_SCHEMA: pa.Schema = pa.schema(
    [
        pa.field("listing_id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("zipcode", pa.string(), nullable=False),
        pa.field("address", pa.string(), nullable=False),
        pa.field("city", pa.string(), nullable=False),
        pa.field("state", pa.string(), nullable=False),
        pa.field("price", pa.int64(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("property_type", pa.string(), nullable=False),
        pa.field("scraped_at", _TS, nullable=False),
        pa.field("bedrooms", pa.int32()),
        pa.field("bathrooms", pa.float64()),
        pa.field("living_area_sqft", pa.int64()),
        pa.field("lot_sqft", pa.int64()),
        pa.field("year_built", pa.int32()),
        pa.field("latitude", pa.float64()),
        pa.field("longitude", pa.float64()),
        pa.field("days_on_market", pa.int32()),
        pa.field("listed_at", _TS),
        pa.field("broker", pa.string()),
        pa.field("mls_id", pa.string()),
        pa.field("photo_count", pa.int32()),
    ]
)

assert tuple(f.name for f in fields(Listing)) == tuple(LISTING_SCHEMA.names)

# The columns every row must fill: the schema's non-nullable fields (scoring's tier 2 uses these).
REQUIRED_COLUMNS: tuple[str, ...] = tuple(f.name for f in LISTING_SCHEMA if not f.nullable)

_META_KEYS = ("epoch_id", "nonce", "miner_hotkey", "zipcode", "schema_version")


@dataclass(frozen=True)
class FileMetadata:
    """What a listings file claims about itself (Parquet key/value metadata)."""

    epoch_id: str
    nonce: str
    miner_hotkey: str
    zipcode: str
    schema_version: str = SCHEMA_VERSION

    def to_kv(self) -> dict[bytes, bytes]:
        return {k.encode(): str(getattr(self, k)).encode() for k in _META_KEYS}


@dataclass(frozen=True)
class WrittenFile:
    """A listings file on disk: its sha256 (hex), row count and size in bytes."""

    path: Path
    sha256: str
    rows: int
    size: int


def listings_to_table(listings: Iterable[Listing]) -> pa.Table:
    """Build an Arrow table in :data:`LISTING_SCHEMA` column order.

    Raises ``ValueError`` when a required value is missing or a value has the wrong type.
    """
    rows = list(listings)
    columns: list[pa.Array] = []
    for f in LISTING_SCHEMA:
        values: list[Any] = [getattr(r, f.name) for r in rows]
        if f.type == _TS:
            values = [_as_utc(v) for v in values]
        try:
            array = pa.array(values, type=f.type)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
            raise ValueError(f"column {f.name}: {exc}") from None
        if not f.nullable and array.null_count:
            raise ValueError(f"column {f.name}: {array.null_count} missing required value(s)")
        columns.append(array)
    try:
        return pa.Table.from_arrays(columns, schema=LISTING_SCHEMA)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ValueError(str(exc)) from None


def table_to_listings(table: pa.Table) -> list[Listing]:
    """Turn a table in :data:`LISTING_SCHEMA` back into :class:`Listing` values (small tables)."""
    return [Listing(**row) for row in table.select(list(LISTING_SCHEMA.names)).to_pylist()]


def write_listings(
    path: Path, listings: Sequence[Listing] | pa.Table, meta: FileMetadata
) -> WrittenFile:
    """Write a zstd Parquet file atomically (temp file + rename) and return its hash and size.

    Blocking: call through ``anyio.to_thread.run_sync`` from async code.
    """
    table = listings if isinstance(listings, pa.Table) else listings_to_table(listings)
    table = table.select(list(LISTING_SCHEMA.names)).cast(LISTING_SCHEMA)
    table = table.replace_schema_metadata(meta.to_kv())
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)
    digest = sha256_file(path)
    return WrittenFile(path=path, sha256=digest, rows=table.num_rows, size=path.stat().st_size)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks (blocking)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class ReadLimits:
    """Caps a hostile file is held to before and while its rows are decoded (issue 12)."""

    max_rows: int
    max_row_groups: int
    max_bytes_per_row: int
    max_string_bytes: int

    def budget(self, rows: int) -> int:
        """Decoded bytes a file of ``rows`` rows may take."""
        return BUDGET_SLACK_BYTES + max(0, rows) * self.max_bytes_per_row


def _limit(detail: str) -> ListingFileError:
    return ListingFileError(LIMIT_EXCEEDED, detail)


def check_footer(md: pq.FileMetaData, limits: ReadLimits) -> None:
    """Raise ``ListingFileError(LIMIT_EXCEEDED)`` when the footer alone is over a cap.

    Checks row count, row groups, the declared uncompressed size of every column chunk against
    the file's budget, and string lengths where the writer recorded statistics.
    """
    if md.num_rows > limits.max_rows or md.num_rows < 0:
        raise _limit(f"{md.num_rows} rows (limit {limits.max_rows})")
    if md.num_row_groups > limits.max_row_groups:
        raise _limit(f"{md.num_row_groups} row groups (limit {limits.max_row_groups})")
    budget = limits.budget(md.num_rows)
    total = 0
    for i in range(md.num_row_groups):
        rg = md.row_group(i)
        for j in range(rg.num_columns):
            col = rg.column(j)
            total += max(0, col.total_uncompressed_size)
            stats = col.statistics
            if stats is not None and stats.has_min_max and stats.physical_type == "BYTE_ARRAY":
                longest = max(len(_as_bytes(stats.min)), len(_as_bytes(stats.max)))
                if longest > limits.max_string_bytes:
                    raise _limit(f"a {col.path_in_schema} value of {longest} bytes")
    if total > budget:
        raise _limit(f"{total} uncompressed bytes declared (budget {budget})")


def _as_bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


# the listing schema as plain lists, built once: the reader compares and orders every file by them
_NAMES = list(LISTING_SCHEMA.names)
_TYPES = list(LISTING_SCHEMA.types)
_STRING_COLUMNS = [f.name for f in LISTING_SCHEMA if pa.types.is_string(f.type)]


def _bounded_row_group(pf: pq.ParquetFile, i: int, limits: ReadLimits, budget: int) -> pa.Table:
    """Row group ``i`` decoded only after its strings' decoded size is known to fit ``budget``,
    its columns in :data:`LISTING_SCHEMA` order (the file's, checked by ``check_schema``, may
    differ).

    String columns are read dictionary-encoded first (dictionary + indices, no expansion), so a
    dictionary bomb is measured, not materialised. They are checked in the file's column order,
    so the first offending column is the one named.
    """
    t = pf.read_row_group(i, use_threads=False)
    cols: dict[str, pa.ChunkedArray] = {}
    for name, col in zip(t.column_names, t.columns, strict=True):
        if pa.types.is_dictionary(col.type):
            for chunk in col.chunks:
                lengths = pc.binary_length(chunk.dictionary)
                longest = pc.max(lengths).as_py() or 0
                if longest > limits.max_string_bytes:
                    raise _limit(f"a {name} value of {longest} bytes")
                if len(chunk) * longest <= budget:
                    continue  # no row can hold more than the longest value: fits, no sum needed
                decoded = pc.sum(pc.take(lengths, chunk.indices)).as_py() or 0
                if decoded > budget:
                    raise _limit(f"{name} decodes to {decoded} bytes (budget {budget})")
            col = pc.cast(col, pa.string())
        cols[name] = col
    # built in schema order at once: no second table for a ``select``
    return pa.Table.from_arrays([cols[n] for n in _NAMES], names=_NAMES)


def read_listings(path: Path, limits: ReadLimits | None = None) -> tuple[pa.Table, FileMetadata]:
    """Read and validate a listings file; the table comes back in schema column order.

    Raises ``ListingFileError`` with reason ``PARQUET_UNREADABLE`` (not Parquet, truncated),
    ``METADATA_MISSING`` (a metadata key is absent), ``SCHEMA_VERSION_UNSUPPORTED`` or
    ``SCHEMA_MISMATCH`` (missing, unexpected or mistyped column; the message names it).
    With ``limits`` (the validator's path) the footer is checked before any row is read, row
    groups are decoded one by one under the file's budget, and the reasons ``LIMIT_EXCEEDED``
    (over a cap, or an allocation failed) and ``UNSUPPORTED_VALUE`` (e.g. invalid UTF-8) join.
    Blocking: call through ``anyio.to_thread.run_sync`` from async code.
    """
    try:
        source = pa.OSFile(str(path))  # opened once: the footer and the rows read from it
    except (pa.ArrowException, OSError) as exc:
        raise ListingFileError(PARQUET_UNREADABLE, f"not a readable Parquet file: {exc}") from None
    with source:
        return _read_open(source, limits)


def _read_open(source: pa.NativeFile, limits: ReadLimits | None) -> tuple[pa.Table, FileMetadata]:
    try:
        pf = pq.ParquetFile(source)
        schema = pf.schema_arrow
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise ListingFileError(PARQUET_UNREADABLE, f"not a readable Parquet file: {exc}") from None
    meta = _metadata(schema)
    check_schema(schema)
    if limits is None:
        try:
            table = pf.read()
        except (pa.ArrowException, OSError) as exc:
            raise ListingFileError(PARQUET_UNREADABLE, f"Parquet data unreadable: {exc}") from None
        return table.select(list(LISTING_SCHEMA.names)), meta
    check_footer(pf.metadata, limits)
    budget = limits.budget(pf.metadata.num_rows)
    parts: list[pa.Table] = []
    used = 0
    try:
        # strings come back dictionary-encoded (see _bounded_row_group)
        # the footer just checked, not parsed again
        pf = pq.ParquetFile(source, read_dictionary=_STRING_COLUMNS, metadata=pf.metadata)
        for i in range(pf.num_row_groups):
            part = _bounded_row_group(pf, i, limits, budget)
            used += part.get_total_buffer_size()
            if used > budget:
                raise _limit(f"decoded data over the budget of {budget} bytes")
            parts.append(part)
        if not parts:
            return pf.schema_arrow.empty_table().select(list(LISTING_SCHEMA.names)), meta
        # one row group (the usual file) needs no concatenation
        table = (
            parts[0] if len(parts) == 1 else pa.concat_tables(parts, promote_options="permissive")
        )
        if table.num_rows != pf.metadata.num_rows:
            raise ListingFileError(PARQUET_UNREADABLE, "row count differs from the footer")
    except (pa.ArrowMemoryError, MemoryError) as exc:
        raise _limit(f"decoding needs more memory than allowed: {exc}") from None
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise ListingFileError(PARQUET_UNREADABLE, f"Parquet data unreadable: {exc}") from None
    try:
        table.validate(full=True)  # e.g. invalid UTF-8 in a string column
    except (pa.ArrowException, ValueError) as exc:
        raise ListingFileError(UNSUPPORTED_VALUE, f"invalid values: {exc}") from None
    return table, meta


def check_schema(schema: pa.Schema) -> None:
    """Raise ``ListingFileError(SCHEMA_MISMATCH)`` unless names and types match exactly.

    Nullability is not compared: a writer may declare required columns nullable; whether
    required values are present is a quality question (tier 2), not an integrity one.
    """
    if schema.names == _NAMES and schema.types == _TYPES:
        return  # the usual file: same names, same order, same types (the checks below pass)
    names = set(schema.names)
    for f in LISTING_SCHEMA:
        if f.name not in names:
            raise ListingFileError(SCHEMA_MISMATCH, f"missing column {f.name!r}")
        got = schema.field(f.name).type
        if not got.equals(f.type):
            raise ListingFileError(
                SCHEMA_MISMATCH, f"column {f.name!r} has type {got}, expected {f.type}"
            )
    extra = sorted(names - set(LISTING_SCHEMA.names))
    if extra:
        raise ListingFileError(SCHEMA_MISMATCH, f"unexpected column(s): {', '.join(extra)}")
    if len(schema.names) != len(names):
        raise ListingFileError(SCHEMA_MISMATCH, "duplicate column names")


def _metadata(schema: pa.Schema) -> FileMetadata:
    kv = schema.metadata or {}
    values: dict[str, str] = {}
    for key in _META_KEYS:
        raw = kv.get(key.encode())
        if raw is None:
            raise ListingFileError(METADATA_MISSING, f"file metadata lacks {key!r}")
        try:
            values[key] = raw.decode()
        except UnicodeDecodeError:
            raise ListingFileError(
                METADATA_MISSING, f"file metadata {key!r} is not UTF-8"
            ) from None
    if values["schema_version"] != SCHEMA_VERSION:
        raise ListingFileError(
            SCHEMA_VERSION_UNSUPPORTED,
            f"schema version {values['schema_version']!r} (this code reads {SCHEMA_VERSION!r})",
        )
    return FileMetadata(**values)


def _as_utc(value: datetime | date | None) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if value.tzinfo is None:
        raise ValueError("naive datetime in a listing; use timezone-aware UTC")
    return value.astimezone(UTC)
