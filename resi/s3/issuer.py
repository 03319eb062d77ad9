"""Server-side S3 access (aioboto3): presign uploads/downloads, inspect objects, bootstrap buckets.

One ``S3Issuer`` lives for the whole process (``async with S3Issuer(...) as s3:``) and holds one
client. It signs with SigV4 and a configurable addressing style, so it works against AWS S3,
DigitalOcean Spaces, R2, MinIO and the local SeaweedFS. Credentials are either given explicitly or
come from the standard AWS chain (env vars, profiles, instance roles).

Every botocore error is translated at this boundary: transient ones (unreachable, timeouts, 5xx,
429/SlowDown) into ``TransferUnavailable``, the rest into ``StorageError``.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Literal, Protocol

import aioboto3
import aiohttp
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from resi.errors import StorageError, TransferUnavailable
from resi.s3.layout import check_key, check_prefix

AddressingStyle = Literal["path", "virtual", "auto"]

_TRANSIENT_CODES = frozenset(
    {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "Throttling"}
)
_MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchBucket"})
_PROBE_PREFIX = "health/"
_UNREACHABLE = (
    EndpointConnectionError,
    ConnectTimeoutError,
    ReadTimeoutError,
    ConnectionClosedError,
)


class S3SettingsLike(Protocol):
    """The S3 fields of ``resi.config.S3Settings`` (and every role settings that includes it)."""

    @property
    def s3_endpoint(self) -> str | None: ...
    @property
    def s3_bucket(self) -> str: ...
    @property
    def s3_region(self) -> str: ...
    @property
    def s3_access_key(self) -> str | None: ...
    @property
    def s3_secret_key(self) -> str | None: ...
    @property
    def s3_addressing_style(self) -> AddressingStyle: ...


@dataclass(frozen=True, slots=True)
class PresignedPost:
    """A browser-style POST upload grant for keys under ``key_prefix``.

    ``fields`` are the signed form fields (policy, signature, credential...), *without* ``key``:
    the uploader sends ``key`` (starting with ``key_prefix``) and the fields first, the file last.
    ``key`` is set for a one-object grant (the policy says ``eq $key``): only that key uploads.
    """

    url: str
    fields: dict[str, str]
    key_prefix: str
    max_bytes: int
    expires_at: datetime
    key: str | None = None


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What HEAD or a listing says about one object (listings carry no metadata)."""

    key: str
    size: int
    etag: str
    last_modified: datetime | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """Outcome of ``S3Issuer.probe``; ``writable`` is None when the write check was not tried."""

    reachable: bool
    bucket_exists: bool
    writable: bool | None
    detail: str

    @property
    def ok(self) -> bool:
        """Reachable, bucket present, and the probe object round-tripped (if it was tried)."""
        return self.reachable and self.bucket_exists and self.writable is not False


def _error_code(exc: ClientError) -> tuple[str, int]:
    err = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return str(err.get("Code", "")), int(status or 0)


def translate(exc: ClientError | BotoCoreError, what: str) -> StorageError:
    """The resi error for a botocore failure during ``what``."""
    if isinstance(exc, ClientError):
        code, status = _error_code(exc)
        if status >= 500 or status == 429 or code in _TRANSIENT_CODES:
            return TransferUnavailable(f"{what}: object store answered {status} {code}")
        return StorageError(f"{what}: object store refused ({status} {code})")
    if isinstance(exc, _UNREACHABLE):
        return TransferUnavailable(f"{what}: object store unreachable ({type(exc).__name__})")
    if isinstance(exc, NoCredentialsError):
        return StorageError(f"{what}: no S3 credentials (set them or the AWS env vars/profile)")
    return StorageError(f"{what}: {type(exc).__name__}")


@contextmanager
def _boundary(what: str) -> Iterator[None]:
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, what) from exc
    except aiohttp.ClientError as exc:
        # aiobotocore can surface aiohttp errors while a response body is streamed.
        raise TransferUnavailable(f"{what}: connection failed ({type(exc).__name__})") from exc


class S3Issuer:
    """Presigns, inspects and bootstraps objects in one bucket; use as an async context manager."""

    def __init__(
        self,
        *,
        bucket: str,
        endpoint: str | None = None,
        region: str = "us-east-1",
        access_key: str | None = None,
        secret_key: str | None = None,
        addressing_style: AddressingStyle = "path",
        timeout: float = 20.0,
        max_attempts: int = 3,
        max_connections: int = 32,
    ) -> None:
        if (access_key is None) != (secret_key is None):
            raise StorageError("give both an S3 access key and a secret key, or neither")
        self.bucket = bucket
        self.endpoint = endpoint
        self.region = region
        self._has_explicit_keys = access_key is not None
        self._session = aioboto3.Session(
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name=region,
        )
        self._config = Config(
            signature_version="s3v4",  # without it botocore presigns SigV2 URLs that S3 refuses
            s3={"addressing_style": addressing_style},
            connect_timeout=timeout,
            read_timeout=timeout,
            retries={"max_attempts": max_attempts, "mode": "standard"},
            max_pool_connections=max_connections,
        )
        self._stack: AsyncExitStack | None = None
        self._client: Any = None

    @classmethod
    def from_settings(
        cls, settings: S3SettingsLike, *, timeout: float = 20.0, max_attempts: int = 3
    ) -> S3Issuer:
        """Build from ``S3Settings`` (or any role settings carrying the ``s3_*`` fields)."""
        return cls(
            bucket=settings.s3_bucket,
            endpoint=settings.s3_endpoint,
            region=settings.s3_region,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key,
            addressing_style=settings.s3_addressing_style,
            timeout=timeout,
            max_attempts=max_attempts,
        )

    async def __aenter__(self) -> S3Issuer:
        stack = AsyncExitStack()
        self._client = await stack.enter_async_context(
            self._session.client("s3", endpoint_url=self.endpoint, config=self._config)
        )
        self._stack = stack
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    @property
    def client(self) -> Any:
        """The underlying aiobotocore client (only inside ``async with``)."""
        if self._client is None:
            raise StorageError("S3Issuer used outside `async with`")
        return self._client

    # ------------------------------------------------------------------ presigning

    async def presigned_post(
        self, prefix: str, *, min_bytes: int, max_bytes: int, expires_at: datetime
    ) -> PresignedPost:
        """A POST grant for any key starting with ``prefix``, ``min_bytes``–``max_bytes`` long.

        The policy expires at ``expires_at`` (timezone-aware, in the future). Raises
        ``KeyLayoutError`` for an unsafe prefix, ``StorageError`` for bad bounds or signing errors.
        """
        if expires_at.tzinfo is None:
            raise StorageError("expires_at must be timezone-aware")
        expires_in = math.ceil((expires_at - datetime.now(UTC)).total_seconds())
        if expires_in <= 0:
            raise StorageError(f"upload grant would already be expired ({expires_at.isoformat()})")
        return await self._presign_post(
            prefix, min_bytes=min_bytes, max_bytes=max_bytes, expires_in=expires_in
        )

    async def _presign_post(
        self, prefix: str, *, min_bytes: int, max_bytes: int, expires_in: int
    ) -> PresignedPost:
        check_prefix(prefix)
        if not 0 <= min_bytes <= max_bytes:
            raise StorageError(f"bad upload size bounds {min_bytes}..{max_bytes}")
        now = datetime.now(UTC)
        with _boundary("presign upload"):
            # A key ending in ${filename} makes botocore emit a starts-with condition for $key.
            post = await self.client.generate_presigned_post(
                Bucket=self.bucket,
                Key=prefix + "${filename}",
                Conditions=[["content-length-range", min_bytes, max_bytes]],
                ExpiresIn=expires_in,
            )
        fields = {k: str(v) for k, v in post["fields"].items() if k != "key"}
        return PresignedPost(
            url=post["url"],
            fields=fields,
            key_prefix=prefix,
            max_bytes=max_bytes,
            # botocore stamps the policy a moment after `now`, so this is never later than it.
            expires_at=now + timedelta(seconds=expires_in),
        )

    async def presigned_post_key(
        self, key: str, *, min_bytes: int, max_bytes: int, expires_at: datetime
    ) -> PresignedPost:
        """A POST grant for exactly one ``key`` (policy ``{"key": key}``), sized in bounds.

        Stores that enforce POST policies refuse any other key with it (SeaweedFS, AWS S3 and
        MinIO do; see docs/storage.md). Raises like ``presigned_post``.
        """
        check_key(key)
        if expires_at.tzinfo is None:
            raise StorageError("expires_at must be timezone-aware")
        expires_in = math.ceil((expires_at - datetime.now(UTC)).total_seconds())
        if expires_in <= 0:
            raise StorageError(f"upload grant would already be expired ({expires_at.isoformat()})")
        if not 0 <= min_bytes <= max_bytes:
            raise StorageError(f"bad upload size bounds {min_bytes}..{max_bytes}")
        now = datetime.now(UTC)
        with _boundary("presign upload"):
            # A literal key (no ${filename}) makes botocore sign an exact-match key condition.
            post = await self.client.generate_presigned_post(
                Bucket=self.bucket,
                Key=key,
                Conditions=[["content-length-range", min_bytes, max_bytes]],
                ExpiresIn=expires_in,
            )
        fields = {k: str(v) for k, v in post["fields"].items() if k != "key"}
        return PresignedPost(
            url=post["url"],
            fields=fields,
            key_prefix=key.rsplit("/", 1)[0] + "/",
            max_bytes=max_bytes,
            expires_at=now + timedelta(seconds=expires_in),
            key=key,
        )

    async def presigned_get(self, key: str, *, expires_in: int) -> str:
        """A URL that GETs ``key`` for ``expires_in`` seconds (no credentials needed to use it)."""
        check_key(key)
        if expires_in <= 0:
            raise StorageError("presigned GET lifetime must be positive")
        with _boundary("presign download"):
            url: str = await self.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": key},
                ExpiresIn=expires_in,
            )
        return url

    # ------------------------------------------------------------------ objects

    async def head(self, key: str) -> ObjectInfo | None:
        """Size, etag and metadata of ``key``, or None if there is no such object."""
        check_key(key)
        try:
            resp = await self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _error_code(exc)[0] in _MISSING_CODES:
                return None
            raise translate(exc, f"head {key}") from exc
        except BotoCoreError as exc:
            raise translate(exc, f"head {key}") from exc
        return ObjectInfo(
            key=key,
            size=int(resp["ContentLength"]),
            etag=str(resp.get("ETag", "")).strip('"'),
            last_modified=resp.get("LastModified"),
            metadata=dict(resp.get("Metadata", {})),
        )

    async def list_keys(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        """Every object under ``prefix``, following continuation tokens past any page size."""
        check_prefix(prefix)
        paginator = self.client.get_paginator("list_objects_v2")
        with _boundary(f"list {prefix}"):
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield ObjectInfo(
                        key=item["Key"],
                        size=int(item["Size"]),
                        etag=str(item.get("ETag", "")).strip('"'),
                        last_modified=item.get("LastModified"),
                    )

    async def put_bytes(
        self, key: str, data: bytes, *, metadata: dict[str, str] | None = None
    ) -> None:
        """Store ``data`` at ``key`` (small objects: reports, probes, fixtures)."""
        check_key(key)
        with _boundary(f"put {key}"):
            await self.client.put_object(
                Bucket=self.bucket, Key=key, Body=data, Metadata=metadata or {}
            )

    async def get_bytes(self, key: str) -> bytes:
        """The whole content of ``key`` (small objects only); StorageError if it is missing."""
        check_key(key)
        with _boundary(f"get {key}"):
            resp = await self.client.get_object(Bucket=self.bucket, Key=key)
            async with resp["Body"] as body:
                data: bytes = await body.read()
        return data

    async def delete(self, key: str) -> None:
        """Delete ``key`` (no error if it does not exist)."""
        check_key(key)
        with _boundary(f"delete {key}"):
            await self.client.delete_object(Bucket=self.bucket, Key=key)

    async def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist yet (devnet bootstrap)."""
        if await self._bucket_exists():
            return
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            await self.client.create_bucket(**kwargs)
        except ClientError as exc:
            if _error_code(exc)[0] != "BucketAlreadyOwnedByYou":
                raise translate(exc, f"create bucket {self.bucket}") from exc
        except BotoCoreError as exc:
            raise translate(exc, f"create bucket {self.bucket}") from exc

    async def _bucket_exists(self) -> bool:
        try:
            await self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if _error_code(exc)[0] in _MISSING_CODES:
                return False
            raise translate(exc, f"head bucket {self.bucket}") from exc
        except BotoCoreError as exc:
            raise translate(exc, f"head bucket {self.bucket}") from exc
        return True

    # ------------------------------------------------------------------ health

    async def probe(self) -> ProbeResult:
        """Check reachability, the bucket, and a write/read/delete round trip of a probe object.

        Never raises for store problems: they are reported in the result.
        """
        try:
            exists = await self._bucket_exists()
        except TransferUnavailable as exc:
            return ProbeResult(False, False, None, str(exc))
        except StorageError as exc:
            return ProbeResult(True, False, None, str(exc))
        if not exists:
            return ProbeResult(True, False, None, f"bucket {self.bucket!r} does not exist")
        key = f"{_PROBE_PREFIX}probe-{secrets.token_hex(8)}"
        payload = b"resi-probe-" + key.encode()
        try:
            await self.put_bytes(key, payload)
            try:
                echoed = await self.get_bytes(key)
            finally:
                await self.delete(key)
        except StorageError as exc:
            return ProbeResult(True, True, False, f"probe write/read failed: {exc}")
        if echoed != payload:
            return ProbeResult(True, True, False, "probe object read back different bytes")
        return ProbeResult(True, True, True, f"bucket {self.bucket!r} readable and writable")
