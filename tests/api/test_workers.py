"""`resi serve-api --workers 2`: two processes on one port answer as one service."""

from __future__ import annotations

import subprocess
import sys
import time
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

WORKER = "X-Resi-Worker"


@pytest.fixture
def two_workers(
    postgres_url: str, local_s3: LocalS3, tmp_path: Path
) -> Iterator[tuple[str, Keypair]]:
    miner = Keypair.create_from_uri("//workers-test-miner")
    chain_path = tmp_path / "chain.sqlite"
    DevnetChain(chain_path, netuid=46, block_time=0.5).register(miner.ss58_address, "5cold", 1.0)
    seed_small_catalog(postgres_url)
    env = server_env(postgres_url, local_s3, chain_path, RESI_WORKERS="2")
    with serve_api_processes(env, count=1) as urls:  # one port, two processes behind it
        yield urls[0], miner


async def _get(url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient() as http:  # a new connection each time: the kernel picks
        return await http.get(url, headers=headers)


async def test_both_workers_answer_and_share_the_database(two_workers: tuple[str, Keypair]) -> None:
    url, miner = two_workers
    seen: dict[str, httpx.Response] = {}
    deadline = time.monotonic() + 90  # worker 1 may still be starting when worker 0 answers
    while len(seen) < 2 and time.monotonic() < deadline:
        r = await _get(url + CURRENT, http_auth.sign(miner, method="GET", path=CURRENT))
        assert r.status_code == 200, r.text
        seen.setdefault(r.headers[WORKER], r)
    assert set(seen) == {"0", "1"}
    # one epoch for both (idempotent creation in the shared database)
    assert seen["0"].json() == seen["1"].json()

    # a request captured on one worker and replayed is refused by the other one too
    headers = http_auth.sign(miner, method="GET", path=CURRENT)
    first = await _get(url + CURRENT, headers)
    assert first.status_code == 200, first.text
    refused_by: set[str] = set()
    while len(refused_by) < 2:
        replay = await _get(url + CURRENT, headers)
        assert replay.status_code == 401, replay.text
        assert replay.json()["error"] == "ReplayedRequest"
        refused_by.add(replay.headers[WORKER])
        assert time.monotonic() < deadline + 90, refused_by
    assert refused_by == {"0", "1"}


def test_several_workers_need_postgresql(tmp_path: Path) -> None:
    cmd = [sys.executable, "-c", "from resi.cli.app import main; main()", "serve-api"]
    cmd += ["--workers", "2", "--db", f"sqlite:///{tmp_path / 'api.sqlite'}", "--network", "devnet"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert "PostgreSQL" in out.stderr + out.stdout
    assert not (tmp_path / "api.sqlite").exists()  # refused before anything was opened
