"""The devnet's local attacker achieves nothing against a real API and the embedded SeaweedFS.

The attacker is a registered miner on the same host. It aims at a victim's committed file: raw
requests to every port of the SeaweedFS process serving the bucket (filer/volume/master bypass),
its own one-object grant replayed on the victim's key, and grant requests that name the victim
or widen the policy. Afterwards the victim's file still hashes to its commit, so the validator
would not call the victim a liar (the HASH_MISMATCH attack of issue 13).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from resi.api.schemas import CommitItem
from resi.devnet.attacker import try_bypasses
from resi.s3.local import LocalS3
from resi.s3.transfer import upload_file
from tests.fixtures.api import ApiServer

pytestmark = pytest.mark.anyio


async def test_local_attacker_achieves_nothing(
    api_server: ApiServer, local_s3: LocalS3, tmp_path: Path
) -> None:
    victim, attacker = api_server.keys.miner2, api_server.keys.miner
    active = api_server.epochs.active
    content = b"PAR1 the victim's honest file PAR1"
    digest = hashlib.sha256(content).hexdigest()
    path = tmp_path / "10001.parquet"
    path.write_bytes(content)
    async with api_server.client(victim) as api, httpx.AsyncClient(timeout=20) as http:
        grant = await api.folder_access(active.epoch_id, "10001", digest)
        assert grant.key is not None
        await upload_file(http, grant, grant.key, path)
        item = CommitItem(zipcode="10001", key=grant.key, sha256=digest, rows=1)
        await api.post_status(active.epoch_id, active.nonce, "IN_PROGRESS", [item])
    before = await api_server.store.list_commits(active.epoch_id)

    async with api_server.client(attacker) as api, httpx.AsyncClient(timeout=20) as http:
        report = await try_bypasses(
            api, api_server.base_url, http, attacker, active.epoch_id, victim.ss58_address,
            [("10001", path)],
        )  # fmt: skip

    assert report.achieved == []
    # It really tried: every service port of the server was in reach.
    for name in ("master", "volume", "filer", "s3"):
        assert local_s3.ports[name] in report.ports
    assert report.tries > 100
    # Nothing changed: the committed file still verifies and no commit moved.
    stored = await api_server.s3.get_bytes(grant.key)
    assert hashlib.sha256(stored).hexdigest() == digest
    assert await api_server.store.list_commits(active.epoch_id) == before
