"""`resi s3-check` against the embedded SeaweedFS: every forbidden operation is refused.

The same checks an operator runs on their own bucket; here they pin down what SeaweedFS 4.48
enforces, including the exact-key (``eq $key``) policy that earlier checks did not cover.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import httpx
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from resi.s3.grantcheck import check_grants
from resi.s3.issuer import PresignedPost
from resi.s3.local import LocalS3
from tests.fixtures.s3 import issuer_for

pytestmark = pytest.mark.anyio


async def test_seaweedfs_enforces_every_grant_rule(local_s3: LocalS3) -> None:
    async with issuer_for(local_s3) as issuer, httpx.AsyncClient(timeout=20) as http:
        rows = await check_grants(issuer, http)
        leftovers = [o.key async for o in issuer.list_keys("health/")]
    names = [r.name for r in rows]
    assert "same grant, another key" in names
    assert [r for r in rows if not r.passed] == []
    assert {r.got for r in rows} == {"ok", "refused"}  # both outcomes really happened
    assert not [k for k in leftovers if "grant-check" in k]


def test_s3_check_command_prints_json_and_exits_zero(local_s3: LocalS3) -> None:
    resi = str(Path(sys.executable).with_name("resi"))
    env = {
        "RESI_S3_ENDPOINT": local_s3.endpoint,
        "RESI_S3_BUCKET": local_s3.bucket,
        "RESI_S3_REGION": local_s3.region,
        "RESI_S3_ACCESS_KEY": local_s3.access_key,
        "RESI_S3_SECRET_KEY": local_s3.secret_key,
        "PATH": str(Path(sys.executable).parent),
    }
    proc = subprocess.run(
        [resi, "s3-check", "--json"], capture_output=True, text=True, env=env, timeout=120,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert rows and all(r["passed"] for r in rows)


_KEY = "data/hotkey=5Prop/epoch=2030-01-01T00-00-00/zipcode=10001/" + "b" * 64 + ".parquet"


def _mutations(key: str) -> st.SearchStrategy[str]:
    safe = st.sampled_from("abz019=/._-%~ A")
    at = st.integers(0, len(key) - 1)
    replaced = st.builds(lambda i, c: key[:i] + c + key[i + 1 :], at, safe)
    inserted = st.builds(lambda i, c: key[:i] + c + key[i:], at, safe)
    cut = st.builds(lambda i: key[:i], st.integers(1, len(key) - 1))
    return st.one_of(
        replaced, inserted, cut, st.builds(lambda s: key + s, st.text(safe, min_size=1))
    )


def test_property_exact_key_grant_refuses_every_other_key(local_s3: LocalS3) -> None:
    """Issue 13: a grant for one key must not store anything under any other key."""

    async def grant() -> PresignedPost:
        async with issuer_for(local_s3) as issuer:
            return await issuer.presigned_post_key(
                _KEY,
                min_bytes=1,
                max_bytes=64,
                expires_at=datetime.now(UTC) + timedelta(minutes=10),
            )

    post = anyio.run(grant)
    tried: list[str] = []

    @settings(max_examples=25, deadline=None, database=None, derandomize=True)
    @given(_mutations(_KEY))
    def check(other: str) -> None:
        assume(other != _KEY)
        tried.append(other)
        r = httpx.post(post.url, data={"key": other, **post.fields}, files={"file": ("f", b"x1")})
        assert r.status_code in (400, 403), (other, r.status_code)

    check()

    async def stored() -> list[str]:
        async with issuer_for(local_s3) as issuer:
            return [o.key async for o in issuer.list_keys("data/hotkey=5Prop/")]

    assert len(tried) >= 10
    assert anyio.run(stored) == []
