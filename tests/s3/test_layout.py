"""Key layout: keys round-trip through build/parse, and hostile values never make a key."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resi.errors import KeyLayoutError
from resi.s3.layout import (
    MinerKey,
    ValidatorKey,
    check_key,
    check_prefix,
    is_in_prefix,
    miner_key,
    miner_prefix,
    parse_miner_key,
    parse_validator_key,
    validator_key,
    validator_prefix,
)

HK = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
EPOCH = "2025-06-01T04-00-00"
SHA = "ab" * 32
BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

HOSTILE = ["", "..", "../x", "a/b", "a=b", " ", "a b", "x\n", "\t", "/", "%2e%2e", None, 12345]


def test_miner_key_has_the_design_layout() -> None:
    key = miner_key(HK, EPOCH, "10001", SHA)
    assert key == f"data/hotkey={HK}/epoch={EPOCH}/10001-{SHA}.parquet"
    assert miner_prefix(HK, EPOCH) == f"data/hotkey={HK}/epoch={EPOCH}/"
    assert parse_miner_key(key) == MinerKey(HK, EPOCH, "10001", SHA)
    assert is_in_prefix(key, miner_prefix(HK, EPOCH))


def test_validator_key_has_the_design_layout() -> None:
    key = validator_key(HK, EPOCH, "validation_report.json")
    assert key == f"validators/hotkey={HK}/epoch={EPOCH}/_reports/validation_report.json"
    assert parse_validator_key(key) == ValidatorKey(HK, EPOCH, "validation_report.json")
    assert is_in_prefix(key, validator_prefix(HK, EPOCH))
    data = validator_key(HK, EPOCH, "validated_data.parquet")
    assert data == f"validators/hotkey={HK}/epoch={EPOCH}/validated_data.parquet"
    assert parse_validator_key(data) == ValidatorKey(HK, EPOCH, "validated_data.parquet")


@settings(max_examples=100, deadline=None, database=None)
@given(
    hotkey=st.text(alphabet=BASE58, min_size=46, max_size=48),
    zipcode=st.from_regex(r"\A[0-9]{5}\Z"),
    sha=st.from_regex(r"\A[0-9a-f]{64}\Z"),
)
def test_valid_components_round_trip(hotkey: str, zipcode: str, sha: str) -> None:
    key = miner_key(hotkey, EPOCH, zipcode, sha)
    assert parse_miner_key(key) == MinerKey(hotkey, EPOCH, zipcode, sha)
    assert is_in_prefix(key, miner_prefix(hotkey, EPOCH))


@pytest.mark.parametrize(
    "bad", [*HOSTILE, HK[:45], HK + "xyz", HK[:-1] + "0", HK[:-1] + "O", HK[:-1] + "l"]
)
def test_hostile_hotkey_is_rejected(bad: object) -> None:
    with pytest.raises(KeyLayoutError):
        miner_prefix(bad, EPOCH)  # type: ignore[arg-type]
    with pytest.raises(KeyLayoutError):
        validator_prefix(bad, EPOCH)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad", [*HOSTILE, "2025-06-01T04:00:00", "2025-06-01", "2025-06-01T04-00-00/..", "x" * 19]
)
def test_hostile_epoch_id_is_rejected(bad: object) -> None:
    with pytest.raises(KeyLayoutError):
        miner_prefix(HK, bad)  # type: ignore[arg-type]
    with pytest.raises(KeyLayoutError):
        validator_key(HK, bad, "epoch_metadata.json")  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [*HOSTILE, "1000", "100011", "1000a", "１０００１", "10001 "])
def test_hostile_zipcode_is_rejected(bad: object) -> None:
    with pytest.raises(KeyLayoutError):
        miner_key(HK, EPOCH, bad, SHA)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [*HOSTILE, SHA.upper(), SHA[:-1], SHA + "0", "g" * 64])
def test_hostile_sha256_is_rejected(bad: object) -> None:
    with pytest.raises(KeyLayoutError):
        miner_key(HK, EPOCH, "10001", bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [*HOSTILE, "other.json", "../validated_data.parquet"])
def test_unknown_validator_file_is_rejected(bad: object) -> None:
    with pytest.raises(KeyLayoutError):
        validator_key(HK, EPOCH, bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "key",
    [
        f"data/hotkey={HK}/epoch={EPOCH}/10001-{SHA}.csv",
        f"data/hotkey={HK}/epoch={EPOCH}/x/10001-{SHA}.parquet",
        f"data/hotkey={HK}/epoch={EPOCH}/..-{SHA}.parquet",
        f"data/hotkey={HK}/epoch={EPOCH}/1000-1-{SHA}.parquet",
        f"data/hotkey=../epoch={EPOCH}/10001-{SHA}.parquet",
        f"/data/hotkey={HK}/epoch={EPOCH}/10001-{SHA}.parquet",
        f"data/hotkey={HK}/epoch={EPOCH}/zipcode=10001/{SHA}.parquet",  # the old layout
        f"validators/hotkey={HK}/epoch={EPOCH}/_reports/validation_report.json",
        "",
    ],
)
def test_parse_miner_key_rejects_malformed_keys(key: str) -> None:
    with pytest.raises(KeyLayoutError):
        parse_miner_key(key)


@pytest.mark.parametrize(
    "key",
    [
        f"validators/hotkey={HK}/epoch={EPOCH}/_reports/other.json",
        f"validators/hotkey={HK}/epoch={EPOCH}/x/validation_report.json",
        # Each output has exactly one place: reports under _reports/, Parquet beside it.
        f"validators/hotkey={HK}/epoch={EPOCH}/validation_report.json",
        f"validators/hotkey={HK}/epoch={EPOCH}/_reports/validated_data.parquet",
        f"validators/{HK}/epoch={EPOCH}/_reports/validation_report.json",  # the old layout
        f"validators/hotkey=../epoch={EPOCH}/_reports/validation_report.json",
        f"data/hotkey={HK}/epoch={EPOCH}/10001-{SHA}.parquet",
    ],
)
def test_parse_validator_key_rejects_malformed_keys(key: str) -> None:
    with pytest.raises(KeyLayoutError):
        parse_validator_key(key)


PREFIX = f"data/hotkey={HK}/epoch={EPOCH}/"


@pytest.mark.parametrize(
    ("key", "prefix", "inside"),
    [
        (PREFIX + "10001-a.parquet", PREFIX, True),
        (PREFIX + "a", PREFIX, True),
        (PREFIX, PREFIX, False),  # the prefix itself is not an object inside it
        (PREFIX + "sub/", PREFIX, False),
        (PREFIX + "../../other/a.parquet", PREFIX, False),  # traversal after a valid prefix
        (PREFIX + "./a", PREFIX, False),
        (PREFIX + "x//a", PREFIX, False),
        (PREFIX + "a b", PREFIX, False),
        (PREFIX + "a\nb", PREFIX, False),
        (PREFIX + "a\\..\\b", PREFIX, False),
        ("/" + PREFIX + "a", "/" + PREFIX, False),
        (f"data/hotkey={HK}x/epoch={EPOCH}/a", PREFIX, False),
        (PREFIX + "a", PREFIX[:-1], False),  # a prefix without its slash matches siblings
        (PREFIX[:-1] + "-evil/a", PREFIX[:-1], False),
        ("", PREFIX, False),
    ],
)
def test_is_in_prefix(key: str, prefix: str, inside: bool) -> None:
    assert is_in_prefix(key, prefix) is inside


@pytest.mark.parametrize("bad", ["", "data", "data//", "/data/", "data/../", "a b/", "data/./"])
def test_check_prefix_rejects_unsafe_prefixes(bad: str) -> None:
    with pytest.raises(KeyLayoutError):
        check_prefix(bad)


@pytest.mark.parametrize("bad", ["", "a/", "a/../b", "a//b", "/a", "a\x00b"])
def test_check_key_rejects_unsafe_keys(bad: str) -> None:
    with pytest.raises(KeyLayoutError):
        check_key(bad)
