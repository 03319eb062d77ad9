"""S3Issuer against the real local server: listing, head, bucket bootstrap, probe, health."""

from __future__ import annotations

import secrets
import socket
from datetime import UTC, datetime, timedelta

import anyio
import pytest

from resi.config import S3Settings
from resi.errors import KeyLayoutError, StorageError
from resi.s3.health import check_object_store
from resi.s3.issuer import S3Issuer
from resi.s3.local import LocalS3
from tests.fixtures.s3 import issuer_for

pytestmark = pytest.mark.anyio


async def test_list_keys_paginates_past_1000(s3_issuer: S3Issuer, s3_prefix: str) -> None:
    """Bug class: a listing that stops at the first page silently drops miner files."""
    count = 1_001
    limiter = anyio.CapacityLimiter(32)
    keys = [f"{s3_prefix}zipcode={i:05d}/f.parquet" for i in range(count)]

    async def put(key: str) -> None:
        async with limiter:
            await s3_issuer.put_bytes(key, b"x")

    async with anyio.create_task_group() as tg:
        for key in keys:
            tg.start_soon(put, key)
    listed = [info.key async for info in s3_issuer.list_keys(s3_prefix)]
    assert sorted(listed) == sorted(keys)
    assert len(set(listed)) == count


async def test_list_keys_stays_inside_prefix(s3_issuer: S3Issuer, s3_prefix: str) -> None:
    await s3_issuer.put_bytes(s3_prefix + "a", b"1")
    await s3_issuer.put_bytes(s3_prefix[:-1] + "-sibling/b", b"2")
    assert [i.key async for i in s3_issuer.list_keys(s3_prefix)] == [s3_prefix + "a"]


async def test_head_reports_size_and_metadata_or_none(s3_issuer: S3Issuer, s3_prefix: str) -> None:
    key = s3_prefix + "zipcode=10001/h.parquet"
    assert await s3_issuer.head(key) is None
    await s3_issuer.put_bytes(key, b"12345", metadata={"rows": "7"})
    info = await s3_issuer.head(key)
    assert info is not None
    assert (info.key, info.size, info.metadata) == (key, 5, {"rows": "7"})
    assert info.etag
    await s3_issuer.delete(key)
    assert await s3_issuer.head(key) is None


async def test_get_missing_object_is_storage_error(s3_issuer: S3Issuer, s3_prefix: str) -> None:
    with pytest.raises(StorageError):
        await s3_issuer.get_bytes(s3_prefix + "missing")


async def test_presigned_post_refuses_unsafe_prefix_and_bad_expiry(s3_issuer: S3Issuer) -> None:
    later = datetime.now(UTC) + timedelta(minutes=5)
    for bad in ("data/../", "data", "", "data//x/"):
        with pytest.raises(KeyLayoutError):
            await s3_issuer.presigned_post(bad, min_bytes=1, max_bytes=9, expires_at=later)
    with pytest.raises(StorageError, match="already be expired"):
        await s3_issuer.presigned_post(
            "data/x/", min_bytes=1, max_bytes=9, expires_at=datetime.now(UTC) - timedelta(1)
        )
    with pytest.raises(StorageError, match="timezone"):
        await s3_issuer.presigned_post(
            "data/x/", min_bytes=1, max_bytes=9, expires_at=datetime.now() + timedelta(1)
        )
    with pytest.raises(StorageError, match="bounds"):
        await s3_issuer.presigned_post("data/x/", min_bytes=10, max_bytes=9, expires_at=later)


async def test_presigned_post_fields_leave_key_to_the_uploader(
    s3_issuer: S3Issuer, s3_prefix: str
) -> None:
    expires = datetime.now(UTC) + timedelta(minutes=5)
    grant = await s3_issuer.presigned_post(s3_prefix, min_bytes=1, max_bytes=9, expires_at=expires)
    assert "key" not in grant.fields and "policy" in grant.fields
    assert grant.key_prefix == s3_prefix and grant.max_bytes == 9
    assert grant.expires_at <= expires + timedelta(seconds=1)


async def test_ensure_bucket_creates_it_once(local_s3: LocalS3) -> None:
    name = f"resi-new-{secrets.token_hex(4)}"
    async with issuer_for(local_s3, bucket=name) as issuer:
        assert not (await issuer.probe()).bucket_exists
        await issuer.ensure_bucket()
        await issuer.ensure_bucket()  # idempotent
        result = await issuer.probe()
    assert result.ok and result.writable is True


async def test_probe_and_health_on_a_healthy_store(s3_issuer: S3Issuer) -> None:
    result = await s3_issuer.probe()
    assert (result.reachable, result.bucket_exists, result.writable) == (True, True, True)
    ok, detail = await check_object_store(s3_issuer)
    assert ok and s3_issuer.bucket in detail
    # The probe cleans up after itself.
    assert [i async for i in s3_issuer.list_keys("health/")] == []


async def test_probe_reports_missing_bucket(local_s3: LocalS3) -> None:
    async with issuer_for(local_s3, bucket="no-such-bucket") as issuer:
        result = await issuer.probe()
        ok, detail = await check_object_store(issuer)
    assert result.reachable and not result.bucket_exists and not result.ok
    assert not ok and "does not exist" in detail


async def test_probe_reports_read_only_credentials(local_s3: LocalS3) -> None:
    async with issuer_for(local_s3, readonly=True) as issuer:
        result = await issuer.probe()
    assert result.reachable and result.bucket_exists
    assert result.writable is False and not result.ok


async def test_probe_reports_unreachable_store() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # The socket is closed now: nothing listens on that port.
    issuer = S3Issuer(
        endpoint=f"http://127.0.0.1:{port}",
        bucket="b",
        access_key="a",
        secret_key="s",
        timeout=2,
        max_attempts=1,
    )
    async with issuer:
        result = await issuer.probe()
        ok, detail = await check_object_store(issuer)
    assert not result.reachable and not ok and "unreachable" in detail


async def test_issuer_from_settings(local_s3: LocalS3, s3_prefix: str) -> None:
    settings = S3Settings(
        s3_endpoint=local_s3.endpoint,
        s3_bucket=local_s3.bucket,
        s3_region=local_s3.region,
        s3_access_key=local_s3.access_key,
        s3_secret_key=local_s3.secret_key,
        s3_addressing_style="path",
    )
    async with S3Issuer.from_settings(settings) as issuer:
        await issuer.put_bytes(s3_prefix + "s", b"ok")
        assert await issuer.get_bytes(s3_prefix + "s") == b"ok"


def test_half_given_credentials_are_refused() -> None:
    with pytest.raises(StorageError, match="both"):
        S3Issuer(bucket="b", access_key="only-the-id")
