"""Presigned POST upload and presigned GET download against the real local S3 server (SeaweedFS).

These prove that the *server* enforces the policies we sign (prefix, size range, expiry), not just
our client-side checks: several tests deliberately widen a grant locally to get past them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from resi.errors import IntegrityError, KeyLayoutError, StorageError
from resi.s3.issuer import PresignedPost, S3Issuer
from resi.s3.transfer import download_file, sha256_file, upload_file

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024


def _write_random(path: Path, size: int, seed: int) -> Path:
    rng = random.Random(seed)
    with open(path, "wb") as fh:
        left = size
        while left:
            n = min(left, MiB)
            fh.write(rng.randbytes(n))
            left -= n
    return path


async def _grant(
    issuer: S3Issuer, prefix: str, *, max_bytes: int = 10 * MiB, min_bytes: int = 1
) -> PresignedPost:
    expires = datetime.now(UTC) + timedelta(minutes=10)
    return await issuer.presigned_post(
        prefix, min_bytes=min_bytes, max_bytes=max_bytes, expires_at=expires
    )


async def test_presigned_post_and_get_round_trip_byte_exact(
    s3_issuer: S3Issuer, s3_prefix: str, tmp_path: Path
) -> None:
    src = _write_random(tmp_path / "in.parquet", 300_000, seed=1)
    key = s3_prefix + "zipcode=10001/file.parquet"
    grant = await _grant(s3_issuer, s3_prefix)
    async with httpx.AsyncClient() as client:
        await upload_file(client, grant, key, src)
        info = await s3_issuer.head(key)
        assert info is not None and info.size == 300_000
        url = await s3_issuer.presigned_get(key, expires_in=60)
        got = await download_file(
            client, url, tmp_path / "out.parquet", expected_sha256=sha256_file(src), max_bytes=MiB
        )
    assert got.size == 300_000
    assert (tmp_path / "out.parquet").read_bytes() == src.read_bytes()
    assert got.sha256 == hashlib.sha256(src.read_bytes()).hexdigest()
    assert not (tmp_path / "out.parquet.part").exists()


async def test_validator_prefix_uses_the_same_presigned_post(
    s3_issuer: S3Issuer, tmp_path: Path
) -> None:
    from resi.s3.layout import validator_key, validator_prefix
    from tests.fixtures.s3 import random_hotkey

    hk, epoch = random_hotkey(), "2030-01-01T04-00-00"
    src = tmp_path / "validation_report.json"
    src.write_bytes(b'{"ok": true}')
    grant = await _grant(s3_issuer, validator_prefix(hk, epoch))
    key = validator_key(hk, epoch, "validation_report.json")
    async with httpx.AsyncClient() as client:
        await upload_file(client, grant, key, src)
    assert await s3_issuer.get_bytes(key) == b'{"ok": true}'


async def test_server_refuses_upload_outside_granted_prefix(
    s3_issuer: S3Issuer, s3_prefix: str, tmp_path: Path
) -> None:
    """Attack: a miner uploads into another miner's folder with its own grant."""
    src = _write_random(tmp_path / "f", 1000, seed=2)
    grant = await _grant(s3_issuer, s3_prefix)
    victim = "data/hotkey=5Victim/epoch=2030-01-01T00-00-00/zipcode=10001/x.parquet"
    async with httpx.AsyncClient() as client:
        # Our client refuses before sending anything...
        with pytest.raises(KeyLayoutError):
            await upload_file(client, grant, victim, src)
        # ...and with the local check bypassed, the server refuses the signed policy.
        widened = dataclasses.replace(grant, key_prefix="data/")
        with pytest.raises(StorageError) as refused:
            await upload_file(client, widened, victim, src)
    assert not isinstance(refused.value, KeyLayoutError)
    assert await s3_issuer.head(victim) is None


async def test_server_refuses_upload_over_max_size(
    s3_issuer: S3Issuer, s3_prefix: str, tmp_path: Path
) -> None:
    src = _write_random(tmp_path / "big", 5000, seed=3)
    key = s3_prefix + "zipcode=10001/big.parquet"
    grant = await _grant(s3_issuer, s3_prefix, max_bytes=4096)
    async with httpx.AsyncClient() as client:
        with pytest.raises(StorageError, match="at most 4096"):
            await upload_file(client, grant, key, src)
        with pytest.raises(StorageError, match="refused"):
            await upload_file(client, dataclasses.replace(grant, max_bytes=10**9), key, src)
    assert await s3_issuer.head(key) is None


async def test_server_refuses_upload_below_min_size(
    s3_issuer: S3Issuer, s3_prefix: str, tmp_path: Path
) -> None:
    src = tmp_path / "small"
    src.write_bytes(b"tiny")
    key = s3_prefix + "zipcode=10001/small.parquet"
    grant = await _grant(s3_issuer, s3_prefix, min_bytes=100)
    async with httpx.AsyncClient() as client:
        with pytest.raises(StorageError, match="refused"):
            await upload_file(client, grant, key, src)
    assert await s3_issuer.head(key) is None


async def test_server_refuses_upload_after_expiry(
    s3_issuer: S3Issuer, s3_prefix: str, tmp_path: Path
) -> None:
    src = _write_random(tmp_path / "f", 100, seed=4)
    key = s3_prefix + "zipcode=10001/late.parquet"
    expired = await s3_issuer._presign_post(s3_prefix, min_bytes=1, max_bytes=MiB, expires_in=-60)
    async with httpx.AsyncClient() as client:
        with pytest.raises(StorageError, match="403"):
            await upload_file(client, expired, key, src)
    assert await s3_issuer.head(key) is None


async def test_upload_renews_once_when_server_says_policy_expired(
    s3_issuer: S3Issuer, s3_prefix: str, tmp_path: Path
) -> None:
    """Clock skew: the grant claims to be valid, but the server already considers it expired."""
    src = _write_random(tmp_path / "f", 100, seed=5)
    key = s3_prefix + "zipcode=10001/renewed.parquet"
    stale = await s3_issuer._presign_post(s3_prefix, min_bytes=1, max_bytes=MiB, expires_in=-60)
    stale = dataclasses.replace(stale, expires_at=datetime.now(UTC) + timedelta(hours=1))
    calls = 0

    async def renew() -> PresignedPost:
        nonlocal calls
        calls += 1
        return await _grant(s3_issuer, s3_prefix)

    async with httpx.AsyncClient() as client:
        await upload_file(client, stale, key, src, renew=renew)
    assert calls == 1
    assert await s3_issuer.get_bytes(key) == src.read_bytes()


async def test_upload_renews_before_sending_when_grant_expired(
    s3_issuer: S3Issuer, s3_prefix: str, tmp_path: Path
) -> None:
    src = _write_random(tmp_path / "f", 100, seed=6)
    key = s3_prefix + "zipcode=10001/pre-renewed.parquet"
    fresh = await _grant(s3_issuer, s3_prefix)
    old = dataclasses.replace(fresh, expires_at=datetime.now(UTC) - timedelta(seconds=1))
    calls = 0

    async def renew() -> PresignedPost:
        nonlocal calls
        calls += 1
        return fresh

    async with httpx.AsyncClient() as client:
        await upload_file(client, old, key, src, renew=renew)
    assert calls == 1
    assert (await s3_issuer.head(key)) is not None


async def test_upload_renews_at_most_once(
    s3_issuer: S3Issuer, s3_prefix: str, tmp_path: Path
) -> None:
    """A renew callback that keeps handing out dead grants must not loop forever."""
    src = _write_random(tmp_path / "f", 100, seed=7)
    dead = await s3_issuer._presign_post(s3_prefix, min_bytes=1, max_bytes=MiB, expires_in=-60)
    dead = dataclasses.replace(dead, expires_at=datetime.now(UTC) + timedelta(hours=1))
    calls = 0

    async def renew() -> PresignedPost:
        nonlocal calls
        calls += 1
        return dead

    async with httpx.AsyncClient() as client:
        with pytest.raises(StorageError, match="403"):
            await upload_file(client, dead, s3_prefix + "a.parquet", src, renew=renew)
    assert calls == 1


async def test_read_only_identity_cannot_authorize_uploads(
    local_s3: object, s3_prefix: str, tmp_path: Path
) -> None:
    """A leaked read-only key must not be able to sign a working POST policy."""
    from tests.fixtures.s3 import issuer_for

    src = _write_random(tmp_path / "f", 100, seed=8)
    key = s3_prefix + "zipcode=10001/ro.parquet"
    async with issuer_for(local_s3, readonly=True) as reader:  # type: ignore[arg-type]
        grant = await _grant(reader, s3_prefix)
        async with httpx.AsyncClient() as client:
            with pytest.raises(StorageError, match="403"):
                await upload_file(client, grant, key, src)
        assert await reader.head(key) is None


async def test_50mb_file_streams_without_loading_into_memory(
    s3_issuer: S3Issuer, s3_prefix: str, tmp_path: Path
) -> None:
    size = 50 * MiB
    src = _write_random(tmp_path / "big.parquet", size, seed=9)
    expected = sha256_file(src)
    key = s3_prefix + "zipcode=10001/big.parquet"
    grant = await _grant(s3_issuer, s3_prefix, max_bytes=64 * MiB)
    url = await s3_issuer.presigned_get(key, expires_in=300)
    async with httpx.AsyncClient(timeout=120) as client:
        tracemalloc.start()
        try:
            await upload_file(client, grant, key, src)
            _, upload_peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            got = await download_file(
                client, url, tmp_path / "back.parquet", expected_sha256=expected, max_bytes=size
            )
            _, download_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert got.sha256 == expected and got.size == size
    # Whole-file buffering would need ≥ 50 MiB; streaming needs a few chunks.
    assert upload_peak < 8 * MiB, upload_peak
    assert download_peak < 8 * MiB, download_peak


async def test_hash_mismatch_is_an_integrity_error(
    s3_issuer: S3Issuer, s3_prefix: str, tmp_path: Path
) -> None:
    """Attack: a miner commits one sha256 and uploads different bytes."""
    key = s3_prefix + "zipcode=10001/lie.parquet"
    await s3_issuer.put_bytes(key, b"the real bytes")
    url = await s3_issuer.presigned_get(key, expires_in=60)
    dest = tmp_path / "lie.parquet"
    async with httpx.AsyncClient() as client:
        with pytest.raises(IntegrityError, match="sha256 mismatch"):
            await download_file(
                client,
                url,
                dest,
                expected_sha256=hashlib.sha256(b"other").hexdigest(),
                max_bytes=MiB,
            )
    assert not dest.exists() and not dest.with_name("lie.parquet.part").exists()


async def test_download_size_bound_is_enforced(
    s3_issuer: S3Issuer, s3_prefix: str, tmp_path: Path
) -> None:
    key = s3_prefix + "zipcode=10001/huge.parquet"
    await s3_issuer.put_bytes(key, b"x" * 10_000)
    url = await s3_issuer.presigned_get(key, expires_in=60)
    dest = tmp_path / "huge.parquet"
    async with httpx.AsyncClient() as client:
        with pytest.raises(IntegrityError, match="9999"):
            await download_file(client, url, dest, expected_sha256=None, max_bytes=9_999)
        got = await download_file(client, url, dest, expected_sha256=None, max_bytes=10_000)
    assert got.size == 10_000


async def test_tampered_or_missing_download_is_storage_error_not_integrity(
    s3_issuer: S3Issuer, s3_prefix: str, tmp_path: Path
) -> None:
    key = s3_prefix + "zipcode=10001/a.parquet"
    await s3_issuer.put_bytes(key, b"abc")
    url = await s3_issuer.presigned_get(key, expires_in=60)
    tampered = url.replace("a.parquet", "b.parquet")
    missing = await s3_issuer.presigned_get(s3_prefix + "nope.parquet", expires_in=60)
    async with httpx.AsyncClient() as client:
        for bad in (tampered, missing):
            with pytest.raises(StorageError) as info:
                await download_file(client, bad, tmp_path / "x", expected_sha256=None, max_bytes=99)
            assert type(info.value) is StorageError
