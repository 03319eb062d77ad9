"""`resi s3-check`: try the operations resi's grants must forbid, against YOUR bucket.

Every object store claims S3 compatibility; not every one enforces POST policies (moto does not,
Cloudflare R2 has no POST uploads at all). ``check_grants`` issues a real one-object grant and a
real presigned GET with the configured credentials, then tries what a miner or a stranger would:
another key with the grant, sizes outside its range, a tampered policy, unsigned reads, writes,
deletes and listings, a GET signature reused for DELETE or for another key. Each row says what a
safe store answers and what this one did. Everything lives under ``health/grant-check-*/`` and
is deleted afterwards.
"""

from __future__ import annotations

import base64
import contextlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import httpx

from resi.errors import StorageError
from resi.s3.issuer import PresignedPost, S3Issuer

_MAX = 64  # bytes the test grant allows
_MIN = 8


@dataclass(frozen=True, slots=True)
class GrantCheck:
    """One tried operation: what a safe store does (``want``) and what this one did (``got``)."""

    name: str
    want: str  # "ok" or "refused"
    got: str
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.want == self.got


def _outcome(resp: httpx.Response) -> str:
    return "ok" if resp.is_success else "refused"


async def _post(
    http: httpx.AsyncClient, grant: PresignedPost, key: str, data: bytes, **override: str
) -> httpx.Response:
    fields = {"key": key, **grant.fields, **override}
    return await http.post(grant.url, data=fields, files={"file": ("f.parquet", data)})


def _tampered(policy: str) -> str:
    """The policy document with its size bound widened (signature no longer matches)."""
    doc = base64.b64decode(policy).replace(f", {_MAX}]".encode(), b", 999999999]")
    return base64.b64encode(doc).decode()


async def check_grants(issuer: S3Issuer, http: httpx.AsyncClient) -> list[GrantCheck]:
    """Run every check against ``issuer``'s bucket; returns one row per check, in order.

    ``issuer`` must be open. Raises ``StorageError`` only when the baseline (signing a grant,
    writing with it) cannot even start; every other failure is a row.
    """
    base = f"health/grant-check-{secrets.token_hex(6)}/"
    key, other = base + "granted.parquet", base + "other.parquet"
    body = b"PAR1" + secrets.token_bytes(16) + b"PAR1"
    grant = await issuer.presigned_post_key(
        key, min_bytes=_MIN, max_bytes=_MAX, expires_at=datetime.now(UTC) + timedelta(minutes=5)
    )
    bucket_url = grant.url.rstrip("/")
    rows: list[GrantCheck] = []

    async def row(name: str, want: str, attempt: Callable[[], Awaitable[str]]) -> None:
        try:
            got = await attempt()
        except httpx.HTTPError as exc:
            got = "refused"  # the store dropped the request: it did not do it
            rows.append(GrantCheck(name, want, got, type(exc).__name__))
            return
        rows.append(GrantCheck(name, want, got))

    async def own() -> str:
        return _outcome(await _post(http, grant, key, body))

    async def stranger_key() -> str:
        return _outcome(await _post(http, grant, other, body))

    async def too_big() -> str:
        return _outcome(await _post(http, grant, key, b"P" * (_MAX + 1)))

    async def too_small() -> str:
        return _outcome(await _post(http, grant, key, b"P" * (_MIN - 1)))

    async def tampered() -> str:
        policy = grant.fields.get("policy") or grant.fields.get("Policy") or ""
        name = "policy" if "policy" in grant.fields else "Policy"
        return _outcome(
            await _post(http, grant, key, b"P" * (_MAX + 10), **{name: _tampered(policy)})
        )

    async def unsigned(method: str, url: str) -> str:
        content = body if method == "PUT" else None
        return _outcome(await http.request(method, url, content=content))

    await row("upload with the grant, its own key", "ok", own)
    await row("same grant, another key", "refused", stranger_key)
    await row("same grant, larger than its range", "refused", too_big)
    await row("same grant, smaller than its range", "refused", too_small)
    await row("same grant, policy widened (tampered)", "refused", tampered)
    obj_url = f"{bucket_url}/{key}"
    await row("unsigned GET of the object", "refused", lambda: unsigned("GET", obj_url))
    await row("unsigned PUT over the object", "refused", lambda: unsigned("PUT", obj_url))
    await row("unsigned DELETE of the object", "refused", lambda: unsigned("DELETE", obj_url))
    await row("unsigned listing", "refused", lambda: unsigned("GET", f"{bucket_url}?list-type=2"))
    get_url = await issuer.presigned_get(key, expires_in=300)

    async def presigned_get() -> str:
        resp = await http.get(get_url)
        return "ok" if resp.is_success and resp.content == body else "refused"

    async def get_other_key() -> str:
        parts = urlsplit(get_url)
        return _outcome(
            await http.get(urlunsplit(parts._replace(path=parts.path[:-8] + "x.parquet")))
        )

    await row("presigned GET of the object", "ok", presigned_get)
    await row("presigned GET URL used for DELETE", "refused", lambda: unsigned("DELETE", get_url))
    await row("presigned GET URL edited to another key", "refused", get_other_key)
    try:
        if await issuer.head(key) is None and rows[0].got == "ok":
            rows.append(GrantCheck("object exists after the checks", "ok", "refused"))
    finally:
        for k in (key, other):
            with contextlib.suppress(StorageError):  # best effort: the row already tells
                await issuer.delete(k)
    return rows
