"""Helpers of the failure drills: real `resi` subprocesses, a drill catalog, epoch timing, DB reads.

Every role runs as its own OS process (``Proc``) with its output in a log file under the test's
``tmp_path`` (no pipes that could fill up and stall a child). The drills are plain synchronous
tests: they start processes, poll files and URLs, send signals, and read the database directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import anyio.from_thread
import httpx

from resi.epoch.models import ZipcodeInfo
from resi.epoch.store.base import Store, open_store
from resi.s3.local import LocalS3
from tests.fixtures.market import RunningMarket, start_sim_market

T = TypeVar("T")

NETUID = 46
DRILL_SECRET = "drill-secret"
BLOCK_TIME = 0.5
EXPECTED_PER_ZIP = 30
REAL_ZIPS_PER_EPOCH = 6
# Settings that make an epoch small: 6 real zipcodes of 30 expected listings, plus a honeypot.
SMALL_EPOCH = {
    "RESI_TARGET_LISTINGS": str(REAL_ZIPS_PER_EPOCH * EXPECTED_PER_ZIP),
    "RESI_MIN_ZIP_LISTINGS": "10",
    "RESI_MAX_ZIP_LISTINGS": "100",
}
DAY_DIVISORS = tuple(d for d in range(20, 3_601) if 86_400 % d == 0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def resi_argv(*args: str) -> list[str]:
    """``resi ARGS`` with the console script beside this interpreter (or the module)."""
    script = Path(sys.executable).with_name("resi")
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-c", "from resi.cli.app import main; main()", *args]


def clean_env(**values: str) -> dict[str, str]:
    """This process's environment without any ``RESI_*`` variable, plus ``values``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESI_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(values)
    return env


# --------------------------------------------------------------------------- processes


@dataclass
class Proc:
    """One `resi` child process whose stdout and stderr go to ``log_path`` (appended)."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> Proc:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                self.argv, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        self.starts += 1
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def signal(self, sig: signal.Signals) -> None:
        if self.alive:
            assert self.popen is not None
            self.popen.send_signal(sig)

    def kill(self) -> int:
        """SIGKILL (no chance to clean up) and reap; returns the exit code."""
        assert self.popen is not None
        self.signal(signal.SIGKILL)
        return self.popen.wait(timeout=10)

    def wait(self, timeout: float) -> int:
        """Wait for the process to exit on its own; fails the test after ``timeout`` s."""
        assert self.popen is not None
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"{self.name} still running after {timeout:.0f}s:\n{self.tail()}"
            ) from None

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout`` s; returns the exit code (None if never run)."""
        if self.popen is None:
            return None
        self.signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return self.kill()

    def text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.text().splitlines()[-lines:])

    def json_lines(self) -> list[dict[str, Any]]:
        """Every JSON object line of the log (the miner's ``--json`` events)."""
        out = []
        for line in self.text().splitlines():
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    out.append(json.loads(line))
        return out


@contextlib.contextmanager
def running(*procs: Proc) -> Iterator[None]:
    """Stop every given process (SIGTERM, then SIGKILL) when the block exits."""
    try:
        yield
    finally:
        for proc in reversed(procs):
            proc.stop()


def run_to_end(proc: Proc, *, within: float) -> Proc:
    """Start ``proc``, wait (up to ``within`` s) for it to exit, and require exit status 0."""
    with running(proc):
        proc.start()
        proc.wait(timeout=within)
    assert proc.returncode == 0, proc.tail()
    return proc


def register_roles(chain: Any, owner: Any, miner: Any, validator: Any) -> dict[str, int]:
    """Register the burn owner (uid 0), one miner and one permitted validator; uid by hotkey."""
    chain.register(owner.hotkey_ss58, owner.coldkey_ss58, 1.0, False)
    chain.register(miner.hotkey_ss58, miner.coldkey_ss58, 10.0, False)
    chain.register(validator.hotkey_ss58, validator.coldkey_ss58, 5_000.0, True)
    return {n.hotkey: n.uid for n in chain.metagraph_sync().neurons}


def wait_until(
    what: str, check: Callable[[], bool], *, within: float, procs: tuple[Proc, ...] = ()
) -> None:
    """Poll ``check`` every 50 ms; fail when ``within`` s pass or a process in ``procs`` dies."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return
        for proc in procs:
            if not proc.alive:
                raise AssertionError(f"{proc.name} exited ({proc.returncode}) while waiting for "
                                     f"{what}:\n{proc.tail()}")  # fmt: skip
        time.sleep(0.05)
    raise AssertionError(f"timed out after {within:.0f}s waiting for {what}")


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2.0).status_code == 200
    except httpx.TransportError:
        return False


def api_env(
    db_url: str, s3: LocalS3, chain_path: Path, epoch_seconds: int, **extra: str
) -> dict[str, str]:
    """Environment of a devnet `resi serve-api` with small epochs of ``epoch_seconds``."""
    return clean_env(
        RESI_NETWORK="devnet",
        RESI_NETUID=str(NETUID),
        RESI_DEVNET_CHAIN_PATH=str(chain_path),
        RESI_BLOCK_TIME=str(BLOCK_TIME),
        RESI_DB_URL=db_url,
        RESI_S3_ENDPOINT=s3.endpoint,
        RESI_S3_BUCKET=s3.bucket,
        RESI_S3_REGION=s3.region,
        RESI_S3_ACCESS_KEY=s3.access_key,
        RESI_S3_SECRET_KEY=s3.secret_key,
        RESI_SECRET=DRILL_SECRET,
        RESI_LOG_LEVEL="INFO",
        RESI_EPOCH_SECONDS=str(epoch_seconds),
        RESI_RATE_LIMIT_PER_MINUTE="100000",
        RESI_METAGRAPH_REFRESH_SECONDS="2",
        RESI_MIN_VALIDATOR_STAKE="1000",
        **SMALL_EPOCH,
        **extra,
    )


def api_proc(name: str, env: Mapping[str, str], port: int, log_dir: Path) -> Proc:
    argv = resi_argv("serve-api", "--host", "127.0.0.1", "--port", str(port))
    return Proc(name, argv, dict(env), log_dir / f"{name}.log")


def api_url(proc: Proc) -> str:
    """Base URL of a serve-api Proc (from its ``--port``)."""
    return f"http://127.0.0.1:{proc.argv[proc.argv.index('--port') + 1]}"


def wait_api(proc: Proc, *, within: float = 60.0) -> str:
    """Wait until a started serve-api Proc serves; returns its base URL."""
    url = api_url(proc)
    wait_until(f"{proc.name} to serve", lambda: http_ok(url + "/openapi.json"),
               within=within, procs=(proc,))  # fmt: skip
    return url


def start_api(proc: Proc, *, within: float = 60.0) -> str:
    """Start ``proc`` (a serve-api Proc) and wait until it serves; returns its base URL."""
    proc.start()
    return wait_api(proc, within=within)


def miner_proc(
    name: str,
    wallet: Any,
    api_url: str,
    sim_url: str,
    workdir: Path,
    log_dir: Path,
    *,
    concurrency: int = 1,
) -> Proc:
    """`resi mine --once --json` for ``wallet`` (a ``WalletInfo``) on the simulated market."""
    argv = resi_argv(
        "mine", "--once", "--json",
        "--wallet", wallet.name, "--hotkey", wallet.hotkey, "--wallet-path", str(wallet.path),
        "--api-url", api_url, "--source", "sim", "--sim-url", sim_url,
        "--workdir", str(workdir), "--concurrency", str(concurrency),
    )  # fmt: skip
    env = clean_env(RESI_NETWORK="devnet", RESI_POLL_SECONDS="1", RESI_HTTP_TIMEOUT="10")
    return Proc(name, argv, env, log_dir / f"{name}.log")


def events(proc: Proc, kind: str) -> list[dict[str, Any]]:
    return [e for e in proc.json_lines() if e.get("event") == kind]


# --------------------------------------------------------------------------- catalog, market


def drill_catalog(real: int = 40, honeypots: int = 4) -> list[ZipcodeInfo]:
    """``real`` STANDARD zipcodes of ``EXPECTED_PER_ZIP`` listings plus PO-box honeypots."""
    rows = [
        ZipcodeInfo(f"{12000 + i:05d}", "NY", f"Town{i}", "County", 40.0 + i / 100,
                    -74.0 + i / 100, "STANDARD", EXPECTED_PER_ZIP, "STANDARD", "Northeast")
        for i in range(real)
    ]  # fmt: skip
    rows += [
        ZipcodeInfo(f"{13000 + i:05d}", "NY", "Box", "County", 41.0, -73.0, "PO BOX", 0,
                    "STANDARD", "Northeast")
        for i in range(honeypots)
    ]  # fmt: skip
    return rows


@contextlib.contextmanager
def market_thread(catalog: list[ZipcodeInfo], **options: Any) -> Iterator[RunningMarket]:
    """A simulated market over ``catalog`` on its own event loop thread (fixed clock)."""
    with anyio.from_thread.start_blocking_portal() as portal:
        cm = start_sim_market(catalog={z.zipcode: z for z in catalog}, **options)
        market = portal.call(cm.__aenter__)
        try:
            yield market
        finally:
            portal.call(cm.__aexit__, None, None, None)


# --------------------------------------------------------------------------- store access


def with_store(db_url: str, fn: Callable[[Store], Awaitable[T]]) -> T:
    """Open the store at ``db_url``, run ``fn(store)`` on a fresh event loop, close it."""

    async def run() -> T:
        store = await open_store(db_url)
        try:
            return await fn(store)
        finally:
            await store.close()

    return asyncio.run(run())


def seed_catalog(db_url: str, catalog: list[ZipcodeInfo]) -> None:
    """Store ``catalog`` so `serve-api` starts instantly (no 42k-row built-in catalog)."""
    with_store(db_url, lambda s: s.replace_catalog(catalog))


# --------------------------------------------------------------------------- epoch timing


@dataclass(frozen=True)
class EpochPlan:
    seconds: int
    epoch_id: str
    left: float  # seconds left in that epoch when it was picked


def pick_epoch(
    min_left: float,
    max_left: float | None = None,
    *,
    max_length: int = 3_600,
    within: float = 60.0,
) -> EpochPlan:
    """Choose an epoch length (a divisor of a day, smallest first) whose current epoch still has
    between ``min_left`` and ``max_left`` seconds to run; waits (up to ``within`` s) if none has.

    This lets a drill use short epochs without waiting for a boundary: some day-divisor is
    nearly always at the right phase.
    """
    deadline = time.monotonic() + within
    while True:
        now = time.time()
        for length in (d for d in DAY_DIVISORS if d <= max_length):
            left = length - now % length
            if left >= min_left and (max_left is None or left <= max_left):
                start = datetime.fromtimestamp(now - now % length, UTC)
                return EpochPlan(length, start.strftime("%Y-%m-%dT%H-%M-%S"), left)
        if time.monotonic() > deadline:
            raise AssertionError(f"no epoch length with {min_left}-{max_left}s left")
        time.sleep(0.5)


@dataclass
class Timer:
    """Named phase timestamps, printed by the drill (figures, never asserted)."""

    started: float = field(default_factory=time.monotonic)
    marks: dict[str, float] = field(default_factory=dict)

    def mark(self, name: str) -> None:
        self.marks[name] = round(time.monotonic() - self.started, 2)

    def report(self, title: str) -> None:
        print(f"\n[drill] {title}: {json.dumps(self.marks)}")
