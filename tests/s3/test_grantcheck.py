"""`resi s3-check` against the embedded SeaweedFS: every forbidden operation is refused.

The same checks an operator runs on their own bucket; here they pin down what SeaweedFS 4.48
enforces, including the exact-key (``eq $key``) policy that earlier checks did not cover.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from resi.s3.grantcheck import check_grants
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
