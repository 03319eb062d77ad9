"""Benchmark: listings/s scraped + parsed + written (Parquet) from the simulated market.

The market runs in its own process (as it would be a remote site) on 127.0.0.1; the scraper
(ZillowSource + parser + write_listings) runs here at request concurrency 8, 32 and 64.

    /work/venv/bin/python bench/bench_scrape.py [--zipcodes 24] [--seed 7]
"""

from __future__ import annotations

import argparse
import multiprocessing
import socket
import tempfile
import time
from pathlib import Path

import anyio
import httpx

from resi.api.schemas import CurrentAssignment
from resi.scrape.miner import scrape_zipcode, write_zipcode_file
from resi.scrape.zillow import ZillowConfig, ZillowSource


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(port: int, seed: int) -> None:
    from resi.scrape.sim import SimMarket

    async def main() -> None:
        async with SimMarket({}, port=port, seed=seed):
            await anyio.sleep_forever()

    anyio.run(main)


async def _wait_ready(url: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(100):
            try:
                if (await client.get(f"{url}/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await anyio.sleep(0.1)
    raise SystemExit("simulated market did not start")


async def _run(url: str, zipcodes: list[str], concurrency: int, workdir: Path) -> tuple[int, float]:
    assignment = CurrentAssignment.model_validate(
        {
            "epoch_id": "2030-01-01T00-00-00",
            "start": "2030-01-01T00:00:00Z",
            "end": "2030-01-01T04:00:00Z",
            "deadline": "2030-01-01T03:30:00Z",
            "nonce": "0" * 32,
            "target": 10_000,
            "tolerance": 0.1,
            "zipcodes": [],
        }
    )
    config = ZillowConfig(base_url=url, concurrency=concurrency, source_name="sim")
    total = 0
    limiter = anyio.CapacityLimiter(concurrency)
    async with ZillowSource(config) as source:

        async def one(zipcode: str) -> None:
            nonlocal total
            async with limiter:
                listings = await scrape_zipcode(source, zipcode)
            written = await write_zipcode_file(workdir, assignment, zipcode, listings, "5bench")
            total += written.rows

        started = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for zipcode in zipcodes:
                tg.start_soon(one, zipcode)
        elapsed = time.perf_counter() - started
    return total, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--zipcodes", type=int, default=24)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = multiprocessing.get_context("spawn").Process(
        target=_serve, args=(port, args.seed), daemon=True
    )
    server.start()
    try:
        anyio.run(_wait_ready, url)
        print(f"{'concurrency':>11} {'listings':>9} {'seconds':>8} {'listings/s':>11}")
        for i, concurrency in enumerate((8, 32, 64)):
            # Fresh zipcodes per round so the market's per-minute snapshot cache does not help.
            zipcodes = [f"{20_000 + i * 1_000 + n:05d}" for n in range(args.zipcodes)]
            with tempfile.TemporaryDirectory() as tmp:
                rows, seconds = anyio.run(_run, url, zipcodes, concurrency, Path(tmp))
            print(f"{concurrency:>11} {rows:>9} {seconds:>8.2f} {rows / seconds:>11.0f}")
    finally:
        server.terminate()
        server.join(5)


if __name__ == "__main__":
    main()
