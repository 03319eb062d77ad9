"""Two `resi serve-api` processes sharing one PostgreSQL database behave as one service."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bittensor import http_auth
from bittensor.sp_core import Keypair

from resi.api.client import CURRENT
from resi.chain.devnet import DevnetChain
from resi.s3.local import LocalS3
from tests.api.procs import seed_small_catalog, serve_api_processes, server_env

pytestmark = pytest.mark.anyio


@pytest.fixture
def two_replicas(
    postgres_url: str, local_s3: LocalS3, tmp_path: Path
) -> Iterator[tuple[list[str], Keypair]]:
    miner = Keypair.create_from_uri("//replica-test-miner")
    chain_path = tmp_path / "chain.sqlite"
    DevnetChain(chain_path, netuid=46, block_time=0.5).register(miner.ss58_address, "5cold", 1.0)
    seed_small_catalog(postgres_url)
    with serve_api_processes(server_env(postgres_url, local_s3, chain_path), count=2) as urls:
        yield urls, miner


async def test_replay_on_another_replica_is_refused(
    two_replicas: tuple[list[str], Keypair],
) -> None:
    """An attacker who captures a signed request and sends it to a second replica gets 401."""
    (url_a, url_b), miner = two_replicas
    headers = http_auth.sign(miner, method="GET", path=CURRENT)
    async with httpx.AsyncClient() as http:
        first = await http.get(url_a + CURRENT, headers=headers)
        replay = await http.get(url_b + CURRENT, headers=headers)
        fresh_headers = http_auth.sign(miner, method="GET", path=CURRENT)
        fresh = await http.get(url_b + CURRENT, headers=fresh_headers)
    assert first.status_code == 200, first.text
    assert replay.status_code == 401
    assert replay.json() == {
        "error": "ReplayedRequest",
        "message": "this nonce was already accepted from this hotkey",
    }
    # both replicas serve the same epoch (idempotent creation in the shared database)
    assert fresh.status_code == 200, fresh.text
    assert fresh.json() == first.json()
