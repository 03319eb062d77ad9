"""Transfer behaviour on flaky or hostile HTTP peers, via httpx.MockTransport (no S3 needed).

Covers what a real S3 will not do on demand: 5xx/429 bursts, dropped connections, missing
Content-Length on an oversized body, and the exact shape of the multipart body we send.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from resi.errors import IntegrityError, StorageError, TransferUnavailable
from resi.s3.issuer import PresignedPost
from resi.s3.transfer import RetryPolicy, download_file, sha256_file, upload_file

pytestmark = pytest.mark.anyio

FAST = RetryPolicy(attempts=3, initial_wait=0.001, max_wait=0.002)
URL = "http://s3.test/bucket"
PREFIX = "data/hotkey=x/epoch=y/"


def _grant(**overrides: object) -> PresignedPost:
    values: dict[str, object] = {
        "url": URL,
        "fields": {"policy": "cG9saWN5", "x-amz-signature": "sig"},
        "key_prefix": PREFIX,
        "max_bytes": 1_000_000,
        "expires_at": datetime.now(UTC) + timedelta(hours=1),
    }
    values.update(overrides)
    return PresignedPost(**values)  # type: ignore[arg-type]


async def _stream(*chunks: bytes) -> AsyncIterator[bytes]:
    # A streamed body, as from a real socket (httpx treats bytes content as already read).
    for chunk in chunks:
        yield chunk


def _client(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def _statuses(*codes: int) -> tuple[Callable[[httpx.Request], httpx.Response], list[bytes]]:
    """A handler answering ``codes`` in turn (the last one repeats) and the bodies it saw."""
    seen: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.read())
        code = codes[min(len(seen) - 1, len(codes) - 1)]
        return httpx.Response(code, content=_stream(b"payload" if code == 200 else b""))

    return handler, seen


async def test_upload_body_puts_key_and_policy_fields_before_the_file(tmp_path: Path) -> None:
    src = tmp_path / "f.parquet"
    src.write_bytes(b"FILEBYTES")
    captured: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        captured.append(request)
        return httpx.Response(204)

    async with _client(handler) as client:
        await upload_file(client, _grant(), PREFIX + "a.parquet", src)
    (req,) = captured
    body = req.content
    assert req.headers["content-length"] == str(len(body))
    assert "transfer-encoding" not in req.headers
    positions = [body.index(m) for m in (b'name="key"', b'name="policy"', b"FILEBYTES")]
    assert positions == sorted(positions)
    assert PREFIX.encode() + b"a.parquet" in body
    assert body.rstrip().endswith(b"--")


async def test_upload_retries_transient_5xx_and_429_then_succeeds(tmp_path: Path) -> None:
    src = tmp_path / "f"
    src.write_bytes(b"x" * 1000)
    handler, seen = _statuses(503, 429, 204)
    async with _client(handler) as client:
        await upload_file(client, _grant(), PREFIX + "a", src, retry=FAST)
    assert len(seen) == 3
    # Every attempt re-sent the whole file, not the remainder of a consumed stream.
    assert all(b"x" * 1000 in body for body in seen)


async def test_upload_gives_transfer_unavailable_after_retries(tmp_path: Path) -> None:
    src = tmp_path / "f"
    src.write_bytes(b"x")
    handler, seen = _statuses(500)
    async with _client(handler) as client:
        with pytest.raises(TransferUnavailable):
            await upload_file(client, _grant(), PREFIX + "a", src, retry=FAST)
    assert len(seen) == FAST.attempts


async def test_upload_connect_error_is_transient(tmp_path: Path) -> None:
    src = tmp_path / "f"
    src.write_bytes(b"x")
    attempts = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal attempts
        attempts += 1
        raise httpx.ConnectError("refused", request=request)

    async with _client(handler) as client:
        with pytest.raises(TransferUnavailable):
            await upload_file(client, _grant(), PREFIX + "a", src, retry=FAST)
    assert attempts == FAST.attempts


async def test_upload_4xx_is_final_and_not_retried(tmp_path: Path) -> None:
    src = tmp_path / "f"
    src.write_bytes(b"x")
    handler, seen = _statuses(400)
    async with _client(handler) as client:
        with pytest.raises(StorageError) as info:
            await upload_file(client, _grant(), PREFIX + "a", src, retry=FAST)
    assert type(info.value) is StorageError
    assert len(seen) == 1


async def test_upload_missing_file_is_storage_error(tmp_path: Path) -> None:
    async with _client(_statuses(204)[0]) as client:
        with pytest.raises(StorageError, match="cannot read"):
            await upload_file(client, _grant(), PREFIX + "a", tmp_path / "missing")


async def test_download_retries_transient_then_verifies(tmp_path: Path) -> None:
    handler, seen = _statuses(502, 200)
    async with _client(handler) as client:
        got = await download_file(
            client,
            URL + "/k",
            tmp_path / "out",
            expected_sha256=hashlib.sha256(b"payload").hexdigest(),
            max_bytes=100,
            retry=FAST,
        )
    assert len(seen) == 2
    assert got.size == 7 and (tmp_path / "out").read_bytes() == b"payload"


async def test_download_outage_is_transfer_unavailable_not_a_lie(tmp_path: Path) -> None:
    """A validator must be able to tell "could not fetch" (retry later) from "wrong bytes"."""
    handler, seen = _statuses(503)
    async with _client(handler) as client:
        with pytest.raises(TransferUnavailable):
            await download_file(
                client,
                URL + "/k",
                tmp_path / "o",
                expected_sha256="0" * 64,
                max_bytes=9,
                retry=FAST,
            )
    assert len(seen) == FAST.attempts
    assert not (tmp_path / "o").exists() and not (tmp_path / "o.part").exists()


async def test_download_dropped_connection_mid_body_is_transient(tmp_path: Path) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"partial"
        raise httpx.RemoteProtocolError("peer closed connection")

    attempts = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal attempts
        attempts += 1
        return httpx.Response(200, content=chunks())

    async with _client(handler) as client:
        with pytest.raises(TransferUnavailable):
            await download_file(
                client, URL, tmp_path / "o", expected_sha256=None, max_bytes=99, retry=FAST
            )
    assert attempts == FAST.attempts
    assert not (tmp_path / "o.part").exists()


async def test_oversized_body_without_content_length_is_aborted_early(tmp_path: Path) -> None:
    """Attack: a huge (or endless) object served chunked, with no length announced up front."""
    produced = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal produced
        while produced < 100 * 1024 * 1024:
            produced += 64 * 1024
            yield b"\0" * (64 * 1024)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=endless())

    async with _client(handler) as client:
        with pytest.raises(IntegrityError):
            await download_file(
                client, URL, tmp_path / "o", expected_sha256=None, max_bytes=1024 * 1024
            )
    assert produced < 4 * 1024 * 1024
    assert not (tmp_path / "o").exists() and not (tmp_path / "o.part").exists()


async def test_announced_oversize_is_refused_before_reading(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Length": "999999999"}, content=_stream())

    async with _client(handler) as client:
        with pytest.raises(IntegrityError, match="999999999"):
            await download_file(client, URL, tmp_path / "o", expected_sha256=None, max_bytes=10)


async def test_download_404_is_final_storage_error(tmp_path: Path) -> None:
    handler, seen = _statuses(404)
    async with _client(handler) as client:
        with pytest.raises(StorageError) as info:
            await download_file(
                client, URL, tmp_path / "o", expected_sha256=None, max_bytes=10, retry=FAST
            )
    assert type(info.value) is StorageError and len(seen) == 1


def test_sha256_file_matches_hashlib(tmp_path: Path) -> None:
    data = bytes(range(256)) * 20_000
    (tmp_path / "f").write_bytes(data)
    assert sha256_file(tmp_path / "f") == hashlib.sha256(data).hexdigest()
    with pytest.raises(StorageError):
        sha256_file(tmp_path / "missing")
