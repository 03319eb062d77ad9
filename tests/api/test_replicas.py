"""Two `resi serve-api` processes sharing one PostgreSQL database behave as one service."""

from __future__ import annotations

import os
import signal
import socket
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

pytestmark = pytest.mark.anyio


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_up(base_url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited early: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            if httpx.get(base_url + "/openapi.json", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("server did not come up")


@pytest.fixture
def two_replicas(
    postgres_url: str, local_s3: LocalS3, tmp_path: Path
) -> Iterator[tuple[list[str], Keypair]]:
    miner = Keypair.create_from_uri("//replica-test-miner")
    chain_path = tmp_path / "chain.sqlite"
    DevnetChain(chain_path, netuid=46, block_time=0.5).register(miner.ss58_address, "5cold", 1.0)
    env = {
        **os.environ,
        "RESI_NETWORK": "devnet",
        "RESI_NETUID": "46",
        "RESI_DEVNET_CHAIN_PATH": str(chain_path),
        "RESI_BLOCK_TIME": "0.5",
        "RESI_DB_URL": postgres_url,
        "RESI_S3_ENDPOINT": local_s3.endpoint,
        "RESI_S3_BUCKET": local_s3.bucket,
        "RESI_S3_REGION": local_s3.region,
        "RESI_S3_ACCESS_KEY": local_s3.access_key,
        "RESI_S3_SECRET_KEY": local_s3.secret_key,
        "RESI_SECRET": "replica-test-secret",
        "RESI_LOG_LEVEL": "WARNING",
    }
    procs: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    try:
        for _ in range(2):
            port = _free_port()
            cmd = [sys.executable, "-c", "from resi.cli.app import main; main()", "serve-api"]
            cmd += ["--host", "127.0.0.1", "--port", str(port)]
            procs.append(
                subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            )
            urls.append(f"http://127.0.0.1:{port}")
        for url, proc in zip(urls, procs, strict=True):
            _wait_up(url, proc)
        yield urls, miner
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                assert proc.wait(timeout=20) == 0  # graceful shutdown on SIGTERM
            finally:
                if proc.poll() is None:
                    proc.kill()
                if proc.stderr is not None:
                    proc.stderr.close()


async def test_replay_on_another_replica_is_refused(
    two_replicas: tuple[list[str], Keypair],
) -> None:
    """An attacker who captures a signed request and sends it to a second replica gets 401."""
    (url_a, url_b), miner = two_replicas
    headers = http_auth.sign(miner, method="GET", path=CURRENT)
    async with httpx.AsyncClient() as http:
        first = await http.get(url_a + CURRENT, headers=headers)
        replay = await http.get(url_b + CURRENT, headers=headers)
        fresh = await http.get(
            url_b + CURRENT, headers=http_auth.sign(miner, method="GET", path=CURRENT)
        )
    assert first.status_code == 200, first.text
    assert replay.status_code == 401
    assert replay.json() == {
        "error": "ReplayedRequest",
        "message": "this nonce was already accepted from this hotkey",
    }
    # both replicas created/serve the same epoch (idempotent creation in the shared database)
    assert fresh.status_code == 200, fresh.text
    assert fresh.json() == first.json()
