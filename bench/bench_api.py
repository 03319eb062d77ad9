"""Benchmark: N concurrent signed clients hitting GET /api/v1/zipcode-assignments/current.

Starts a real `resi serve-api` process (one process, devnet chain, local SeaweedFS) on SQLite and
on PostgreSQL, registers one hotkey per client and pre-signs every request (unique nanosecond
nonces) before the clock starts. The load generator runs in its own process(es) and speaks raw
HTTP/1.1 keep-alive over asyncio streams with pre-built request bytes, so it costs a fraction of
the server's CPU per request (printed, with the server's own CPU per request read from /proc,
and the load average: the machine is shared, so compare CPU/request, not only req/s).

Run: ``PYTHONPATH=. /work/venv/bin/python bench/bench_api.py [--requests N] [--clients 64 256]``.

``--ratios`` (issue 17) instead measures with wrk (``apt-get install wrk``) over pre-signed
requests (``bench/bench_api_wrk.lua`` cycles through them, one fresh nonce per request), on
PostgreSQL, in one run: a bare aiohttp server that only verifies btauth/1, `resi serve-api` with 1
worker and with 2 workers (each on a fresh database, so the same signed set is fresh for each),
and prints one worker / signature-only (goal >= 0.85) and 2 workers / 1 worker (goal >= 1.7).
The signature-only server answers with a body as large as resi's (``--body-bytes``) and also runs
as 2 SO_REUSEPORT processes: its 2/1 ratio is what this machine allows a trivial server:

    PYTHONPATH=. .venv/bin/python bench/bench_api.py --ratios [--seconds 10] [--connections 64]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
from bittensor import http_auth
from bittensor.sp_core import Keypair

from resi.api.client import CURRENT
from resi.chain.devnet import DevnetChain
from resi.devnet.procs import process_tree
from resi.s3.local import LocalS3
from tests.api.procs import seed_small_catalog, serve_api_processes, server_env

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
_CLK_TCK = os.sysconf("SC_CLK_TCK")


def _presign_chunk(uris: list[str], per_client: int, base: int, host: str) -> list[list[bytes]]:
    out = []
    for uri in uris:
        kp = Keypair.create_from_uri(uri)
        client = []
        for i in range(per_client):
            headers = http_auth.sign(kp, method="GET", path=CURRENT, nonce_ns=base + i)
            lines = [f"GET {CURRENT} HTTP/1.1", f"Host: {host}"]
            lines += [f"{k}: {v}" for k, v in headers.items()]
            client.append(("\r\n".join(lines) + "\r\n\r\n").encode())
        out.append(client)
    return out


def presign(uris: list[str], per_client: int, host: str, procs: int) -> list[list[bytes]]:
    """``per_client`` raw signed requests per key (distinct nonces), signed on ``procs`` cores."""
    base = time.time_ns()
    step = max(1, len(uris) // procs)
    chunks = [uris[i : i + step] for i in range(0, len(uris), step)]
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(procs, mp_context=ctx) as pool:
        parts = pool.map(_presign_chunk, chunks, [per_client] * len(chunks),
                         [base] * len(chunks), [host] * len(chunks))  # fmt: skip
        return [client for part in parts for client in part]


async def _read_response(reader: asyncio.StreamReader) -> int:
    """Read one HTTP/1.1 response with Content-Length; returns its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


async def _fire(
    host: str, port: int, clients: list[list[bytes]], interval: float | None, offset: float
) -> tuple[list[float], int]:
    """Closed loop (``interval`` None: each client sends its next request on the response) or
    open loop (client ``i`` sends every ``interval`` s; latency counts from the SCHEDULED send
    time, so a stalled server is not hidden by clients that waited — no coordinated omission).
    """
    latencies: list[float] = []
    errors = 0
    t0 = time.perf_counter() + 0.2  # after every connection is open

    async def client(i: int, requests: list[bytes]) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for k, raw in enumerate(requests):
                if interval is None:
                    started = time.perf_counter()
                else:
                    started = t0 + offset * i + k * interval
                    await asyncio.sleep(max(0.0, started - time.perf_counter()))
                writer.write(raw)
                if await _read_response(reader) != 200:
                    errors += 1
                latencies.append(time.perf_counter() - started)
        finally:
            writer.close()

    await asyncio.gather(*(client(i, c) for i, c in enumerate(clients)))
    return latencies, errors


def load_process(
    url: str, clients: list[list[bytes]], start_at: float, interval: float | None, offset: float
) -> dict[str, object]:
    """Run in a child process: wait for ``start_at`` (wall clock), fire, report timings and CPU."""
    parts = urlsplit(url)
    time.sleep(max(0.0, start_at - time.time()))
    cpu0 = time.process_time()
    t0 = time.time()
    latencies, errors = asyncio.run(
        _fire(str(parts.hostname), int(parts.port or 80), clients, interval, offset)
    )
    return {"start": t0, "end": time.time(), "latencies": latencies, "errors": errors,
            "cpu": time.process_time() - cpu0}  # fmt: skip


def _server_pid(port: int) -> int | None:
    needle = f"--port\0{port}\0".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "cmdline").read_bytes():
                    return int(entry.name)
            except OSError:
                continue
    return None


def _cpu_seconds(pid: int | None) -> float:
    if pid is None:
        return float("nan")
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK  # utime + stime


def _server_tree(needle: bytes) -> list[int]:
    """Processes whose command line contains ``needle``, and all their descendants."""
    roots = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "cmdline").read_bytes():
                    roots.append(int(entry.name))
            except OSError:
                continue  # exited while we looked
    return sorted({pid for root in roots for pid in process_tree(root)})


def _tree_cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += _cpu_seconds(pid)
        except OSError:
            continue
    return total


def _split(items: list[list[bytes]], n: int) -> Iterator[list[list[bytes]]]:
    for i in range(n):
        yield items[i::n]


def measure(
    url: str, signed: list[list[bytes]], load_procs: int, rate: float | None = None
) -> dict[str, float]:
    """Fire ``signed`` from ``load_procs`` processes at once (at ``rate`` req/s in total when
    given, else closed loop); returns the figures."""
    interval = None if rate is None else len(signed) / rate
    offset = 0.0 if interval is None else interval / len(signed) * load_procs
    pid = _server_pid(int(urlsplit(url).port or 80))
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(load_procs, mp_context=ctx) as pool:
        pool.submit(time.sleep, 0).result()  # warm the pool before the clock starts
        start_at = time.time() + 1.0
        server_cpu0 = _cpu_seconds(pid)
        futures = [pool.submit(load_process, url, part, start_at, interval, offset)
                   for part in _split(signed, load_procs)]  # fmt: skip
        results = [f.result() for f in futures]
        server_cpu = _cpu_seconds(pid) - server_cpu0
    latencies = sorted(x for r in results for x in r["latencies"])  # type: ignore[attr-defined]
    elapsed = max(r["end"] for r in results) - min(r["start"] for r in results)  # type: ignore[type-var,operator]
    n = len(latencies)
    return {
        "requests": n,
        "errors": sum(r["errors"] for r in results),  # type: ignore[misc]
        "rps": n / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[min(n - 1, int(n * 0.99))] * 1000,
        "server_us": server_cpu / n * 1e6,
        "client_us": sum(r["cpu"] for r in results) / n * 1e6,  # type: ignore[misc]
    }


async def _pg(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run_backend(backend: str, s3: LocalS3, root: Path, args: argparse.Namespace) -> None:
    pg_name = f"resi_bench_{uuid.uuid4().hex[:8]}"
    if backend == "sqlite":
        db_url = f"sqlite:///{root / 'bench.db'}"
    else:
        asyncio.run(_pg(f'CREATE DATABASE "{pg_name}"'))
        db_url = f"postgresql://postgres@127.0.0.1:5432/{pg_name}"
    try:
        uris = [f"//bench-{i}" for i in range(max(args.clients))]
        chain_path = root / f"chain-{backend}.sqlite"
        chain = DevnetChain(chain_path, netuid=46, block_time=0.5)
        for i, uri in enumerate(uris):
            chain.register(Keypair.create_from_uri(uri).ss58_address, f"5cold{i}", 1.0, False)
        seed_small_catalog(db_url)
        env = server_env(
            db_url,
            s3,
            chain_path,
            RESI_RATE_LIMIT_PER_MINUTE="100000000",
            RESI_AUTH_MAX_AGE="120",  # pre-signed requests wait while the rest are signed
        )
        with serve_api_processes(env) as (url,):
            host = str(urlsplit(url).netloc)
            for n in args.clients:
                for rep in range(args.repeat):
                    warm = presign(uris[:n], 2, host, args.sign_procs)
                    measure(url, warm, 1)  # connections, prepared statements, caches
                    signed = presign(uris[:n], max(1, args.requests // n), host, args.sign_procs)
                    f = measure(url, signed, args.load_procs, args.rate)
                    mode = "closed" if args.rate is None else f"open@{args.rate:.0f}"
                    print(
                        f"{backend:8s} {mode} clients={n:4d} run={rep + 1} "
                        f"requests={f['requests']:6.0f} "
                        f"errors={f['errors']:3.0f} req/s={f['rps']:7.0f} p50={f['p50']:6.1f}ms "
                        f"p99={f['p99']:6.1f}ms server_cpu={f['server_us']:5.0f}us/req "
                        f"client_cpu={f['client_us']:4.0f}us/req load=[{_load()}]",
                        flush=True,
                    )
    finally:
        if backend == "postgres":
            asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))


SIG_ONLY_SERVER = """
import sys
from aiohttp import web
from bittensor import http_auth

class AcceptAll:
    def check_and_store(self, hotkey_ss58, nonce_ns):
        return True

ACCEPT = AcceptAll()
# As large as resi's /current answer (a cached body there too), so both send the same bytes.
HEAD = b'{"hotkey":"'
TAIL = b'","pad":"' + b"x" * max(0, int(sys.argv[3]) - 60) + b'"}'

async def current(request):
    raw = await request.read()
    try:
        caller = http_auth.verify(request.headers, raw, method=request.method,
            path=request.raw_path, self_hotkey_ss58="", require_receiver=False,
            nonce_store=ACCEPT, max_age=3600.0)
    except http_auth.AuthError as exc:
        return web.json_response({"error": type(exc).__name__}, status=401)
    body = HEAD + caller.hotkey_ss58.encode() + TAIL
    return web.Response(body=body, content_type="application/json")

app = web.Application()
app.router.add_get(sys.argv[2], current)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None,
            reuse_port=True)
"""
WRK_LUA = Path(__file__).with_name("bench_api_wrk.lua")


def _write_requests(signed: list[list[bytes]], path: Path) -> int:
    """One request per line (CRLF as ``|``), clients interleaved; returns how many."""
    batches = zip(*signed, strict=False)
    lines = [raw.decode().replace("\r\n", "|") for batch in batches for raw in batch]
    path.write_text("\n".join(lines) + "\n")
    return len(lines)


def run_wrk(
    url: str, requests: Path, seconds: int, connections: int, threads: int, needle: bytes = b""
) -> dict:
    """Run wrk against ``url``; returns req/s, non-2xx count, latency (ms) and the CPU per
    request (µs) of the server processes (command line containing ``needle``, and children)."""
    import re
    import subprocess

    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
           "-s", str(WRK_LUA), url + CURRENT, "--", str(requests), str(threads)]  # fmt: skip
    pids = _server_tree(needle) if needle else []
    cpu0 = _tree_cpu(pids)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    cpu = _tree_cpu(pids) - cpu0
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]

    def ms(label: str) -> float:
        m = re.search(rf"{label}\s+([\d.]+)(us|ms|s)\b", out)
        if m is None:
            return float("nan")
        return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]

    return {"rps": rps, "total": total, "non2xx": int(bad.group(1)) if bad else 0,
            "p50": ms("50%"), "p99": ms("99%"), "cpu_us": cpu / max(1, total) * 1e6}  # fmt: skip


def _sig_only(port: int, processes: int, body_bytes: int) -> Iterator[str]:
    """``processes`` signature-only servers on ``port`` (SO_REUSEPORT, like `--workers`)."""
    import subprocess
    import sys

    cmd = [sys.executable, "-c", SIG_ONLY_SERVER, str(port), CURRENT, str(body_bytes)]
    procs = [subprocess.Popen(cmd) for _ in range(processes)]
    url = f"http://127.0.0.1:{port}"
    try:
        import httpx

        for _ in range(600):
            try:
                httpx.get(url + "/", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        time.sleep(1.0)  # the other processes (their imports) come up too
        yield url
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(20)


def _body_bytes(url: str, uri: str) -> int:
    """Length of the body a signed ``GET /current`` gets from ``url``."""
    import httpx

    headers = http_auth.sign(Keypair.create_from_uri(uri), method="GET", path=CURRENT)
    response = httpx.get(url + CURRENT, headers=headers, timeout=10)
    response.raise_for_status()
    return len(response.content)


def ratios(args: argparse.Namespace) -> None:
    """Signature-only server vs `resi serve-api` with 1 and 2 workers, on PostgreSQL (wrk)."""
    import contextlib

    from tests.api.procs import free_port

    print(f"load average before: [{_load()}] on {os.cpu_count()} cores", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        uris = [f"//bench-{i}" for i in range(args.connections)]
        chain_path = root / "chain.sqlite"
        chain = DevnetChain(chain_path, netuid=46, block_time=0.5)
        for i, uri in enumerate(uris):
            chain.register(Keypair.create_from_uri(uri).ss58_address, f"5cold{i}", 1.0, False)
        per = max(2, args.expect_rps * args.seconds // len(uris))
        t = time.perf_counter()
        signed = presign(uris, per, "127.0.0.1", args.sign_procs)
        n = _write_requests(signed, root / "requests.txt")
        print(f"pre-signed {n} requests in {time.perf_counter() - t:.1f} s", flush=True)
        results: dict[str, dict] = {}
        sizes = {}
        for procs in (1, 2):
            name = "sig-only" if procs == 1 else "sig-only x2"
            port = free_port()
            with contextlib.contextmanager(_sig_only)(port, procs, args.body_bytes) as url:
                sizes[name] = _body_bytes(url, uris[0])
                run_wrk(url, root / "requests.txt", 2, args.connections, args.threads)  # warm
                results[name] = run_wrk(
                    url, root / "requests.txt", args.seconds, args.connections, args.threads,
                    f"\0{port}\0{CURRENT}".encode(),
                )  # fmt: skip
        s3 = LocalS3(root / "s3", bucket="resi-bench")
        s3.start()
        try:
            for workers in (1, 2):
                pg_name = f"resi_bench_{uuid.uuid4().hex[:8]}"
                asyncio.run(_pg(f'CREATE DATABASE "{pg_name}"'))
                db_url = f"postgresql://postgres@127.0.0.1:5432/{pg_name}"
                try:
                    seed_small_catalog(db_url)
                    env = server_env(
                        db_url,
                        s3,
                        chain_path,
                        RESI_RATE_LIMIT_PER_MINUTE="100000000",
                        RESI_AUTH_MAX_AGE="3600",
                        RESI_WORKERS=str(workers),
                        # A stray failure must not turn the rest of a run into cheap 429s.
                        RESI_IP_FAILURE_BURST="1000000000",
                    )
                    with serve_api_processes(env) as (url,):
                        sizes[f"resi x{workers}"] = _body_bytes(url, uris[0])
                        # warm every worker (connections, caches) with 2 s of fresh requests
                        warm = presign(uris, per // 5, "127.0.0.1", args.sign_procs)
                        _write_requests(warm, root / "warm.txt")
                        run_wrk(url, root / "warm.txt", 2, args.connections, args.threads)
                        results[f"resi x{workers}"] = run_wrk(
                            url, root / "requests.txt", args.seconds, args.connections,
                            args.threads, f"--port\0{urlsplit(url).port}\0".encode(),
                        )  # fmt: skip
                finally:
                    asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
        finally:
            s3.stop()
    for name, r in results.items():
        print(
            f"{name:11s} req/s={r['rps']:8.0f} requests={r['total']:7d} non2xx={r['non2xx']:5d}"
            f" p50={r['p50']:6.2f}ms p99={r['p99']:7.2f}ms body={sizes[name]}B"
            f" server_cpu={r['cpu_us']:4.0f}us/req",
            flush=True,
        )
    one = results["resi x1"]["rps"] / results["sig-only"]["rps"]
    two = results["resi x2"]["rps"] / results["resi x1"]["rps"]
    ceiling = results["sig-only x2"]["rps"] / results["sig-only"]["rps"]
    print(f"RATIO 1 worker / signature-only: {one:.2f} (goal >= 0.85)")
    print(f"RATIO 2 workers / 1 worker: {two:.2f} (goal >= 1.7)")
    print(f"RATIO signature-only 2 processes / 1 process (this machine's ceiling): {ceiling:.2f}")
    # On a shared machine req/s moves with the neighbours' load; CPU per request much less.
    cpu = results["sig-only"]["cpu_us"] / results["resi x1"]["cpu_us"]
    print(f"CPU/request signature-only / resi 1 worker: {cpu:.2f}")
    if any(r["non2xx"] for r in results.values()):
        print("note: non-2xx responses: the pre-signed set ran out (raise --expect-rps)")
    print(f"load average after: [{_load()}]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ratios", action="store_true", help="wrk ratios (see above)")
    parser.add_argument("--seconds", type=int, default=10, help="--ratios: seconds per run")
    parser.add_argument("--connections", type=int, default=64, help="--ratios: connections")
    parser.add_argument("--threads", type=int, default=1, help="--ratios: wrk threads")
    parser.add_argument(
        "--expect-rps", type=int, default=16000, help="--ratios: pre-sign for this rate"
    )
    parser.add_argument(
        "--body-bytes", type=int, default=2735,
        help="--ratios: signature-only body size (resi's /current of the bench catalog)",
    )  # fmt: skip
    parser.add_argument("--requests", type=int, default=10_000, help="requests per run")
    parser.add_argument("--clients", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--repeat", type=int, default=1, help="runs per configuration")
    parser.add_argument("--load-procs", type=int, default=1, help="load generator processes")
    parser.add_argument("--sign-procs", type=int, default=2, help="processes pre-signing")
    parser.add_argument(
        "--rate", type=float, default=None,
        help="open loop: offered req/s in total (default: closed loop, as fast as possible)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.ratios:
        ratios(args)
        return
    print(f"load average before: [{_load()}] on {os.cpu_count()} cores", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        s3 = LocalS3(root / "s3", bucket="resi-bench")
        s3.start()
        try:
            for backend in args.backends:
                run_backend(backend, s3, root, args)
        finally:
            s3.stop()


if __name__ == "__main__":
    main()
