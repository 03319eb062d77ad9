"""Client-side transfers over plain HTTP (httpx): presigned POST upload, presigned GET download.

Both stream: uploads read the file from disk in chunks while sending, downloads write to disk while
hashing, so memory stays flat whatever the file size. Transient failures (connect/read errors,
timeouts, 429, 5xx) are retried with jittered exponential backoff and end in
``TransferUnavailable``; everything else is final. Downloads distinguish "the bytes are wrong"
(``IntegrityError``: a lie by whoever committed them) from "could not fetch"
(``TransferUnavailable``: try later), because validators must never punish a flaky network.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final, Protocol, TypeVar
from xml.etree import ElementTree

import anyio
import httpx
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from resi.errors import IntegrityError, KeyLayoutError, StorageError, TransferUnavailable
from resi.s3.layout import is_in_prefix

CHUNK_SIZE: Final = 256 * 1024
# Renew a grant this long before it expires: a big upload must not start on a dying policy.
EXPIRY_MARGIN: Final = timedelta(seconds=10)
_ERROR_BODY_LIMIT: Final = 64 * 1024


class UploadGrantLike(Protocol):
    """A presigned POST: ``resi.api.schemas.UploadGrant`` and ``resi.s3.issuer.PresignedPost``."""

    @property
    def url(self) -> str: ...
    @property
    def fields(self) -> Mapping[str, str]: ...
    @property
    def key_prefix(self) -> str: ...
    @property
    def max_bytes(self) -> int: ...
    @property
    def expires_at(self) -> datetime: ...
    @property
    def key(self) -> str | None: ...


G = TypeVar("G", bound=UploadGrantLike)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently transient failures are retried."""

    attempts: int = 5
    initial_wait: float = 0.5
    max_wait: float = 10.0

    def retrying(self) -> AsyncRetrying:
        """A tenacity loop retrying ``TransferUnavailable`` and re-raising the last one."""
        return AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            # Exponential backoff plus up to one initial wait of jitter, so many clients that
            # failed together do not retry together (spelled portably across tenacity versions).
            wait=wait_exponential(multiplier=self.initial_wait, max=self.max_wait)
            + wait_random(0, self.initial_wait),
            retry=retry_if_exception_type(TransferUnavailable),
            reraise=True,
        )


DEFAULT_RETRY: Final = RetryPolicy()


@dataclass(frozen=True, slots=True)
class Downloaded:
    """A verified download: where it is, its sha256 (hex) and size in bytes."""

    path: Path
    sha256: str
    size: int


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks (blocking: run it in a thread for big files)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(1024 * 1024):
                digest.update(chunk)
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc.strerror}") from None
    return digest.hexdigest()


def _is_transient_status(status: int) -> bool:
    return status == 429 or status >= 500


def _s3_error_code(body: bytes) -> str:
    """The ``<Code>`` of an S3 XML error body, or "" when there is none."""
    try:
        root = ElementTree.fromstring(body[:_ERROR_BODY_LIMIT])
    except ElementTree.ParseError:
        return ""
    return (root.findtext("Code") or "").strip()


# --------------------------------------------------------------------------- upload


def _multipart_envelope(
    fields: list[tuple[str, str]], filename: str, content_type: str
) -> tuple[bytes, bytes, str]:
    """(bytes before the file, bytes after it, Content-Type) of a multipart/form-data body."""
    boundary = f"resi-{secrets.token_hex(16)}"
    head = bytearray()
    for name, value in fields:
        if any(c in name for c in '"\r\n') or boundary in value:
            raise StorageError(f"upload grant has an unusable form field {name!r}")
        head += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        head += value.encode() + b"\r\n"
    safe_name = "".join(c for c in filename if c.isalnum() or c in "._-") or "file"
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{safe_name}"\r\nContent-Type: {content_type}\r\n\r\n'
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return bytes(head), tail, f"multipart/form-data; boundary={boundary}"


async def _file_body(head: bytes, path: Path, size: int, tail: bytes) -> AsyncIterator[bytes]:
    yield head
    remaining = size
    async with await anyio.open_file(path, "rb") as fh:
        while remaining > 0:
            chunk = await fh.read(min(CHUNK_SIZE, remaining))
            if not chunk:
                raise StorageError(f"{path} shrank while uploading")
            remaining -= len(chunk)
            yield chunk
    yield tail


def _check_upload(grant: UploadGrantLike, key: str, size: int) -> None:
    if grant.key is not None and key != grant.key:
        raise KeyLayoutError(f"key {key!r} is not the granted key {grant.key!r}")
    if not is_in_prefix(key, grant.key_prefix):
        raise KeyLayoutError(f"key {key!r} is outside the granted prefix {grant.key_prefix!r}")
    if size > grant.max_bytes:
        raise StorageError(f"file is {size} bytes; the grant allows at most {grant.max_bytes}")


def _nearly_expired(grant: UploadGrantLike) -> bool:
    return grant.expires_at - EXPIRY_MARGIN <= datetime.now(UTC)


async def _post_once(
    client: httpx.AsyncClient, grant: UploadGrantLike, key: str, path: Path, size: int
) -> httpx.Response:
    # S3 wants the policy fields before the file; `key` goes first, the file part last.
    fields = [("key", key), *((k, v) for k, v in grant.fields.items() if k != "key")]
    head, tail, content_type = _multipart_envelope(fields, path.name, "application/octet-stream")
    headers = {
        "Content-Type": content_type,
        # An explicit length avoids chunked transfer encoding, which S3 POST does not accept.
        "Content-Length": str(len(head) + size + len(tail)),
    }
    try:
        resp = await client.post(
            grant.url, content=_file_body(head, path, size, tail), headers=headers
        )
    except httpx.TransportError as exc:
        raise TransferUnavailable(f"upload of {key} failed: {type(exc).__name__}") from exc
    if _is_transient_status(resp.status_code):
        raise TransferUnavailable(f"upload of {key}: object store answered {resp.status_code}")
    return resp


async def upload_file(
    client: httpx.AsyncClient,
    grant: G,
    key: str,
    path: Path,
    *,
    renew: Callable[[], Awaitable[G]] | None = None,
    retry: RetryPolicy = DEFAULT_RETRY,
) -> None:
    """Upload ``path`` to ``key`` with a presigned POST ``grant``, streaming from disk.

    When the grant is (nearly) expired, or the store answers 403 (an expired or revoked policy),
    ``renew()`` is called once for a fresh grant. Raises ``KeyLayoutError`` if ``key`` is not
    inside the grant's prefix, ``StorageError`` if the file is too big or the store refuses it,
    ``TransferUnavailable`` when transient failures outlast the retries.
    """
    try:
        size = (await anyio.Path(path).stat()).st_size
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc.strerror}") from None
    renewed = False
    if renew is not None and _nearly_expired(grant):
        grant, renewed = await renew(), True
    while True:
        _check_upload(grant, key, size)
        async for attempt in retry.retrying():
            with attempt:
                resp = await _post_once(client, grant, key, path, size)
        if resp.is_success:
            return
        code = _s3_error_code(resp.content)
        if resp.status_code == 403 and renew is not None and not renewed:
            grant, renewed = await renew(), True
            continue
        raise StorageError(f"upload of {key} refused ({resp.status_code} {code or 'no code'})")


# --------------------------------------------------------------------------- download


async def _download_once(
    client: httpx.AsyncClient, url: str, part: Path, max_bytes: int
) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    try:
        # identity: hash the stored bytes themselves, and never inflate a compression bomb.
        async with client.stream("GET", url, headers={"Accept-Encoding": "identity"}) as resp:
            status = resp.status_code
            if _is_transient_status(status):
                raise TransferUnavailable(f"download answered {status}")
            if status != 200:
                code = _s3_error_code(await resp.aread()) if status < 500 else ""
                raise StorageError(f"download refused ({status} {code or 'no code'})")
            announced = resp.headers.get("Content-Length")
            if announced is not None and announced.isdigit() and int(announced) > max_bytes:
                raise IntegrityError(f"object is {announced} bytes, more than {max_bytes}")
            async with await anyio.open_file(part, "wb") as fh:
                async for chunk in resp.aiter_raw(CHUNK_SIZE):
                    size += len(chunk)
                    if size > max_bytes:
                        raise IntegrityError(f"object exceeds the {max_bytes}-byte bound")
                    digest.update(chunk)
                    await fh.write(chunk)
    except httpx.TransportError as exc:
        raise TransferUnavailable(f"download failed: {type(exc).__name__}") from exc
    return digest.hexdigest(), size


async def download_file(
    client: httpx.AsyncClient,
    url: str,
    dest: Path,
    *,
    expected_sha256: str | None,
    max_bytes: int,
    retry: RetryPolicy = DEFAULT_RETRY,
) -> Downloaded:
    """Download ``url`` to ``dest``, hashing while streaming; verify size and sha256.

    Writes to ``dest.part`` and renames only after verification, so ``dest`` never holds bad
    bytes. Raises ``IntegrityError`` on a hash mismatch or when the object exceeds ``max_bytes``
    (the stream is aborted early), ``StorageError`` for refusals (403, 404, ...),
    ``TransferUnavailable`` when transient failures outlast the retries.
    """
    part = dest.with_name(dest.name + ".part")
    try:
        async for attempt in retry.retrying():
            with attempt:
                digest, size = await _download_once(client, url, part, max_bytes)
        if expected_sha256 is not None and digest != expected_sha256.lower():
            raise IntegrityError(f"sha256 mismatch: expected {expected_sha256}, got {digest}")
        await anyio.Path(part).replace(dest)
    except BaseException:
        # Synchronous on purpose: it must also run when the task is being cancelled.
        part.unlink(missing_ok=True)
        raise
    return Downloaded(path=dest, sha256=digest, size=size)
