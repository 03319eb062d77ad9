"""Object-store throughput on a local SeaweedFS: presigned upload/download and small PUTs.

Run: ``/work/venv/bin/python bench/bench_s3.py [--mib 50] [--puts 1000]``. Prints figures only;
nothing here asserts timings.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import httpx

from resi.s3.issuer import S3Issuer
from resi.s3.local import LocalS3
from resi.s3.transfer import download_file, sha256_file, upload_file

MiB = 1024 * 1024


def _write_random(path: Path, size: int) -> None:
    rng = random.Random(0)
    with open(path, "wb") as fh:
        for _ in range(size // MiB):
            fh.write(rng.randbytes(MiB))


async def bench(mib: int, puts: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        async with LocalS3(work / "weed", bucket="bench") as s3:
            print(f"SeaweedFS start+bucket: {time.perf_counter() - t0:.2f} s")
            issuer = S3Issuer(
                endpoint=s3.endpoint,
                bucket=s3.bucket,
                access_key=s3.access_key,
                secret_key=s3.secret_key,
                max_connections=concurrency,
            )
            async with issuer, httpx.AsyncClient(timeout=300) as client:
                src = work / "big.bin"
                _write_random(src, mib * MiB)
                t0 = time.perf_counter()
                digest = await anyio.to_thread.run_sync(sha256_file, src)
                print(f"sha256 {mib} MiB: {mib / (time.perf_counter() - t0):.0f} MiB/s")
                grant = await issuer.presigned_post(
                    "bench/",
                    min_bytes=1,
                    max_bytes=(mib + 1) * MiB,
                    expires_at=datetime.now(UTC) + timedelta(hours=1),
                )
                tracemalloc.start()
                t0 = time.perf_counter()
                await upload_file(client, grant, "bench/big.bin", src)
                up = time.perf_counter() - t0
                _, up_peak = tracemalloc.get_traced_memory()
                tracemalloc.reset_peak()
                url = await issuer.presigned_get("bench/big.bin", expires_in=600)
                t0 = time.perf_counter()
                await download_file(
                    client, url, work / "back.bin", expected_sha256=digest, max_bytes=mib * MiB
                )
                down = time.perf_counter() - t0
                _, down_peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
                print(
                    f"presigned POST upload {mib} MiB: {mib / up:.0f} MiB/s "
                    f"(traced peak {up_peak / MiB:.1f} MiB, tracemalloc on)"
                )
                print(
                    f"presigned GET download+sha256 {mib} MiB: {mib / down:.0f} MiB/s "
                    f"(traced peak {down_peak / MiB:.1f} MiB, tracemalloc on)"
                )

                limiter = anyio.CapacityLimiter(concurrency)

                async def put(i: int) -> None:
                    async with limiter:
                        await issuer.put_bytes(f"small/{i:06d}", b"x" * 256)

                t0 = time.perf_counter()
                async with anyio.create_task_group() as tg:
                    for i in range(puts):
                        tg.start_soon(put, i)
                rate = puts / (time.perf_counter() - t0)
                print(f"{puts} small PUTs at concurrency {concurrency}: {rate:.0f}/s")
                t0 = time.perf_counter()
                listed = [o async for o in issuer.list_keys("small/")]
                print(f"list {len(listed)} keys: {time.perf_counter() - t0:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=50)
    parser.add_argument("--puts", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    anyio.run(bench, args.mib, args.puts, args.concurrency)


if __name__ == "__main__":
    main()
