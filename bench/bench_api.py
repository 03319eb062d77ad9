"""Benchmark: N concurrent signed clients hitting GET /api/v1/zipcode-assignments/current.

Starts a real `resi serve-api` process (one process, devnet chain, local SeaweedFS) on SQLite and
on PostgreSQL, registers one hotkey per client, pre-signs every request (unique nanosecond nonces,
so signing is not measured), then fires them through aiohttp with the given concurrency and prints
requests/s and p50/p99 latency. Run: ``/work/venv/bin/python bench/bench_api.py [--requests N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import asyncpg
from bittensor import http_auth
from bittensor.sp_core import Keypair

from resi.api.client import CURRENT
from resi.chain.devnet import DevnetChain
from resi.s3.local import LocalS3
from tests.api.procs import seed_small_catalog, serve_api_processes, server_env

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def presign(keys: list[Keypair], per_client: int) -> list[list[dict[str, str]]]:
    """``per_client`` signed header sets per key, each with a distinct nonce."""
    base = time.time_ns()
    return [
        [
            http_auth.sign(kp, method="GET", path=CURRENT, nonce_ns=base + i)
            for i in range(per_client)
        ]
        for kp in keys
    ]


async def fire(url: str, signed: list[list[dict[str, str]]]) -> tuple[float, list[float], int]:
    """Each client sends its requests back to back; returns (seconds, latencies, errors)."""
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=len(signed))
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client(headers_list: list[dict[str, str]]) -> None:
            nonlocal errors
            for headers in headers_list:
                started = time.perf_counter()
                async with session.get(url + CURRENT, headers=headers) as resp:
                    await resp.read()
                    if resp.status != 200:
                        errors += 1
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(client(h) for h in signed))
        elapsed = time.perf_counter() - started
    return elapsed, latencies, errors


async def _pg(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def run_backend(
    backend: str, s3: LocalS3, root: Path, concurrencies: list[int], total: int
) -> None:
    pg_name = f"resi_bench_{uuid.uuid4().hex[:8]}"
    if backend == "sqlite":
        db_url = f"sqlite:///{root / 'bench.db'}"
    else:
        asyncio.run(_pg(f'CREATE DATABASE "{pg_name}"'))
        db_url = f"postgresql://postgres@127.0.0.1:5432/{pg_name}"
    try:
        keys = [Keypair.create_from_uri(f"//bench-{i}") for i in range(max(concurrencies))]
        chain_path = root / f"chain-{backend}.sqlite"
        chain = DevnetChain(chain_path, netuid=46, block_time=0.5)
        for i, kp in enumerate(keys):
            chain.register(kp.ss58_address, f"5cold{i}", 1.0, False)
        seed_small_catalog(db_url)
        env = server_env(
            db_url,
            s3,
            chain_path,
            RESI_RATE_LIMIT_PER_MINUTE="100000000",
            RESI_AUTH_MAX_AGE="60",  # pre-signed requests may wait a few seconds in the queue
        )
        with serve_api_processes(env) as (url,):
            for n in concurrencies:
                signed = presign(keys[:n], max(1, total // n))
                elapsed, lat, errors = asyncio.run(fire(url, signed))
                lat.sort()
                p50 = statistics.median(lat) * 1000
                p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
                print(
                    f"{backend:8s} clients={n:4d} requests={len(lat):6d} errors={errors:4d} "
                    f"req/s={len(lat) / elapsed:8.0f} p50={p50:6.1f}ms p99={p99:6.1f}ms",
                    flush=True,
                )
    finally:
        if backend == "postgres":
            asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=10_000, help="requests per run")
    parser.add_argument("--clients", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        s3 = LocalS3(root / "s3", bucket="resi-bench")
        s3.start()
        try:
            for backend in args.backends:
                run_backend(backend, s3, root, args.clients, args.requests)
        finally:
            s3.stop()


if __name__ == "__main__":
    main()
