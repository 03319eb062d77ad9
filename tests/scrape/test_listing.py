"""Listing schema round-trip and the reader's reason codes for bad files."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from resi.errors import ListingFileError
from resi.scrape.listing import (
    LISTING_SCHEMA,
    METADATA_MISSING,
    PARQUET_UNREADABLE,
    REQUIRED_COLUMNS,
    SCHEMA_MISMATCH,
    SCHEMA_VERSION,
    SCHEMA_VERSION_UNSUPPORTED,
    FileMetadata,
    Listing,
    listings_to_table,
    read_listings,
    sha256_file,
    table_to_listings,
    write_listings,
)

META = FileMetadata("2030-01-01T00-00-00", "ab" * 16, "5Fhotkey", "10001")
NOW = datetime(2030, 1, 1, 1, 2, 3, 456789, tzinfo=UTC)


def sample(n: int = 3) -> list[Listing]:
    base = Listing(
        listing_id="1",
        source="zillow",
        url="https://www.zillow.com/homedetails/1_zpid/",
        zipcode="10001",
        address="1 Main St",
        city="New York",
        state="NY",
        price=500_000,
        status="FOR_SALE",
        property_type="CONDO",
        scraped_at=NOW,
        bedrooms=2,
        bathrooms=1.5,
        living_area_sqft=900,
        lot_sqft=None,
        year_built=1999,
        latitude=40.75,
        longitude=-73.99,
        days_on_market=4,
        listed_at=datetime(2029, 12, 28, tzinfo=UTC),
        broker="Compass",
        mls_id="NY123",
        photo_count=20,
    )
    return [replace(base, listing_id=str(i), price=500_000 + i) for i in range(n)] + [
        replace(base, listing_id="sparse", bedrooms=None, bathrooms=None, listed_at=None)
    ]


def test_round_trip_preserves_every_field(tmp_path: Path) -> None:
    listings = sample()
    written = write_listings(tmp_path / "f.parquet", listings, META)
    table, meta = read_listings(written.path)
    assert meta == META
    assert table.schema.names == LISTING_SCHEMA.names
    assert table_to_listings(table) == listings
    assert written.rows == len(listings)
    assert written.sha256 == sha256_file(written.path)
    assert written.size == written.path.stat().st_size


def test_file_is_zstd_with_required_columns_non_nullable(tmp_path: Path) -> None:
    written = write_listings(tmp_path / "f.parquet", sample(), META)
    md = pq.ParquetFile(written.path).metadata
    assert md.row_group(0).column(0).compression == "ZSTD"
    schema = pq.read_schema(written.path)
    for name in REQUIRED_COLUMNS:
        assert not schema.field(name).nullable, name
    assert schema.metadata[b"schema_version"] == SCHEMA_VERSION.encode()


def test_required_columns_are_the_core_listing_fields() -> None:
    # The tier-2 completeness check reads this list; it is the schema's non-nullable fields.
    assert REQUIRED_COLUMNS == (
        "listing_id",
        "source",
        "url",
        "zipcode",
        "address",
        "city",
        "state",
        "price",
        "status",
        "property_type",
        "scraped_at",
    )


def test_same_input_same_bytes(tmp_path: Path) -> None:
    a = write_listings(tmp_path / "a.parquet", sample(), META)
    b = write_listings(tmp_path / "b.parquet", sample(), META)
    assert a.sha256 == b.sha256


def test_missing_required_value_is_rejected_on_write() -> None:
    bad = replace(sample(1)[0], price=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="price"):
        listings_to_table([bad])


def test_naive_datetime_is_rejected() -> None:
    bad = replace(sample(1)[0], scraped_at=datetime(2030, 1, 1))
    with pytest.raises(ValueError, match="naive"):
        listings_to_table([bad])


def expect_reason(path: Path, reason: str, fragment: str = "") -> None:
    with pytest.raises(ListingFileError) as info:
        read_listings(path)
    assert info.value.reason == reason
    assert fragment in str(info.value)


def test_garbage_file_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "junk.parquet"
    path.write_bytes(b"PAR1 this is not parquet at all")
    expect_reason(path, PARQUET_UNREADABLE)


def test_truncated_file_is_unreadable(tmp_path: Path) -> None:
    written = write_listings(tmp_path / "f.parquet", sample(50), META)
    data = written.path.read_bytes()
    written.path.write_bytes(data[: len(data) // 2])
    expect_reason(written.path, PARQUET_UNREADABLE)


def test_missing_metadata(tmp_path: Path) -> None:
    path = tmp_path / "nometa.parquet"
    pq.write_table(listings_to_table(sample()), path)
    expect_reason(path, METADATA_MISSING, "epoch_id")


def test_one_missing_metadata_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "partial.parquet"
    kv = META.to_kv()
    del kv[b"nonce"]
    pq.write_table(listings_to_table(sample()).replace_schema_metadata(kv), path)
    expect_reason(path, METADATA_MISSING, "nonce")


def test_unknown_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "v99.parquet"
    write_listings(path, sample(), replace(META, schema_version="99"))
    expect_reason(path, SCHEMA_VERSION_UNSUPPORTED, "99")


def test_missing_column_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nocol.parquet"
    table = listings_to_table(sample()).drop_columns(["mls_id"])
    pq.write_table(table.replace_schema_metadata(META.to_kv()), path)
    expect_reason(path, SCHEMA_MISMATCH, "mls_id")


def test_wrong_type_is_named(tmp_path: Path) -> None:
    path = tmp_path / "type.parquet"
    table = listings_to_table(sample())
    i = table.schema.get_field_index("price")
    table = table.set_column(i, "price", pa.array([str(v) for v in table["price"].to_pylist()]))
    pq.write_table(table.replace_schema_metadata(META.to_kv()), path)
    expect_reason(path, SCHEMA_MISMATCH, "price")


def test_extra_column_is_a_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "extra.parquet"
    table = listings_to_table(sample()).append_column("bonus", pa.array([1] * 4))
    pq.write_table(table.replace_schema_metadata(META.to_kv()), path)
    expect_reason(path, SCHEMA_MISMATCH, "bonus")


def test_reordered_columns_still_read_in_schema_order(tmp_path: Path) -> None:
    path = tmp_path / "reorder.parquet"
    table = listings_to_table(sample())
    table = table.select(list(reversed(table.schema.names)))
    pq.write_table(table.replace_schema_metadata(META.to_kv()), path)
    read, _ = read_listings(path)
    assert read.schema.names == LISTING_SCHEMA.names
