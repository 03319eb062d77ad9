"""Run `resi serve-api` as subprocesses on loopback (replica and fuzz tests, benchmarks)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from resi.epoch.models import ZipcodeInfo
from resi.epoch.store.base import open_store
from resi.s3.local import LocalS3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(db_url: str, local_s3: LocalS3, chain_path: Path, **extra: str) -> dict[str, str]:
    """Environment for `resi serve-api` on devnet with the given database, S3 and chain file."""
    env = {
        **os.environ,
        "RESI_NETWORK": "devnet",
        "RESI_NETUID": "46",
        "RESI_DEVNET_CHAIN_PATH": str(chain_path),
        "RESI_BLOCK_TIME": "0.5",
        "RESI_DB_URL": db_url,
        "RESI_S3_ENDPOINT": local_s3.endpoint,
        "RESI_S3_BUCKET": local_s3.bucket,
        "RESI_S3_REGION": local_s3.region,
        "RESI_S3_ACCESS_KEY": local_s3.access_key,
        "RESI_S3_SECRET_KEY": local_s3.secret_key,
        "RESI_SECRET": "subprocess-test-secret",
        "RESI_LOG_LEVEL": "WARNING",
    }
    env.update(extra)
    return env


def _wait_up(base_url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise AssertionError(f"server exited early: {err[-2000:]}")
        try:
            if httpx.get(base_url + "/openapi.json", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("server did not come up")


@contextlib.contextmanager
def serve_api_processes(
    env: dict[str, str], count: int = 1, timeout: float = 60.0
) -> Iterator[list[str]]:
    """Start ``count`` `resi serve-api` processes; yields their base URLs.

    On exit each gets SIGTERM and must exit 0 (graceful shutdown) within 20 s.
    """
    procs: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    try:
        for _ in range(count):
            port = free_port()
            cmd = [sys.executable, "-c", "from resi.cli.app import main; main()", "serve-api"]
            cmd += ["--host", "127.0.0.1", "--port", str(port)]
            procs.append(
                subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            )
            urls.append(f"http://127.0.0.1:{port}")
        for url, proc in zip(urls, procs, strict=True):
            _wait_up(url, proc, timeout)
        yield urls
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes = []
        for proc in procs:
            try:
                codes.append(proc.wait(timeout=20))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(proc.wait())
            if proc.stderr is not None:
                proc.stderr.close()
        assert codes == [0] * len(procs), f"unclean shutdown: exit codes {codes}"


def small_catalog() -> list[ZipcodeInfo]:
    """60 selectable zipcodes plus 5 PO boxes: enough for one epoch, instant to select from."""
    rows = [
        ZipcodeInfo(f"{10000 + i:05d}", "NY", "Town", "County", 40.0, -73.0, "STANDARD", 500)
        for i in range(60)
    ]
    rows += [
        ZipcodeInfo(f"{20000 + i:05d}", "NY", "Town", "County", 40.0, -73.0, "PO BOX", 0)
        for i in range(5)
    ]
    return rows


def seed_small_catalog(db_url: str) -> None:
    """Store ``small_catalog()`` so `serve-api` skips loading the 42k-row built-in catalog."""

    async def run() -> None:
        store = await open_store(db_url)
        try:
            await store.replace_catalog(small_catalog())
        finally:
            await store.close()

    asyncio.run(run())
