"""Drill: PostgreSQL is stopped and started under load; the API recovers without a restart.

A private cluster (never the machine's shared server) backs one `resi serve-api` process. Four
clients keep sending signed miner requests (assignment reads and status writes) while the
cluster is stopped (until requests have been answered while it is down) and started again.
While it is down every request must be answered quickly with 503 ``STORE_UNAVAILABLE`` (no
crash, no hang, no 500, no dropped connection), and once it is back the same API process must
answer 200 again.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx
import pytest

from resi.api.client import ApiClient
from resi.chain.devnet import DevnetChain
from resi.errors import ApiError
from resi.s3.local import LocalS3
from tests.drills.harness import (
    BLOCK_TIME,
    NETUID,
    Timer,
    api_env,
    api_proc,
    drill_catalog,
    free_port,
    running,
    seed_catalog,
    start_api,
    wait_until,
)
from tests.drills.pgcluster import PrivateCluster

pytestmark = pytest.mark.drill

CLIENTS = 4
REQUEST_TIMEOUT = 10.0
# Each phase lasts until enough requests have been answered in it (counted, not timed: a loaded
# machine answers fewer per second), bounded by PHASE_BUDGET seconds.
PER_PHASE = 2 * CLIENTS
DOWN_ANSWERS = 5
PHASE_BUDGET = 120.0


@dataclass
class Load:
    """Signed requests sent by ``CLIENTS`` workers, tagged with the phase they started in."""

    phase: str = "up"
    seen: list[tuple[str, int, str]] = field(default_factory=list)  # (phase, status, code)
    stop: bool = False
    recovered: anyio.Event = field(default_factory=anyio.Event)
    in_flight: dict[str, int] = field(default_factory=dict)  # requests still out, by phase
    answered: anyio.Event = field(default_factory=anyio.Event)  # set after every answer

    def of(self, phase: str) -> list[tuple[int, str]]:
        return [(status, code) for p, status, code in self.seen if p == phase]

    async def settle(self, phase: str, answers: int = 0) -> None:
        """Wait until ``phase`` has ``answers`` answers and none of its requests is still out
        (so no request of one phase is answered in the next: the tags stay true)."""
        with anyio.fail_after(PHASE_BUDGET):
            while len(self.of(phase)) < answers or self.in_flight.get(phase, 0):
                self.answered = anyio.Event()
                await self.answered.wait()


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    pg = PrivateCluster().init()
    pg.start()
    try:
        yield pg
    finally:
        pg.destroy()


async def _worker(client: ApiClient, load: Load, epoch_id: str, nonce: str, n: int) -> None:
    while not load.stop:
        phase = load.phase
        load.in_flight[phase] = load.in_flight.get(phase, 0) + 1
        try:
            if n % 2:
                await client.current_assignment()
            else:
                await client.post_status(epoch_id, nonce, "STARTED")
            load.seen.append((phase, 200, "OK"))
            if phase == "recovering":
                load.recovered.set()
        except ApiError as exc:  # ApiUnavailable (status 0) covers timeouts and resets
            load.seen.append((phase, exc.status, exc.code))
        finally:
            load.in_flight[phase] -= 1
            load.answered.set()
        n += 1
        await anyio.sleep(0.02)


async def _health_status(url: str) -> int:
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT) as http:
        return (await http.get(url + "/health")).status_code


async def _drill(url: str, keypair: object, pg: PrivateCluster, timer: Timer) -> Load:
    load = Load()
    async with ApiClient(url, keypair, attempts=1, timeout=REQUEST_TIMEOUT) as client:
        current = await client.current_assignment()
        async with anyio.create_task_group() as tg:
            for n in range(CLIENTS):
                tg.start_soon(_worker, client, load, current.epoch_id, current.nonce, n)
            await load.settle("up", PER_PHASE)  # "up" ends only once its requests are answered
            load.phase = "stopping"
            await load.settle("up")
            await anyio.to_thread.run_sync(pg.stop)
            timer.mark("pg_stopped")
            load.phase = "down"
            await load.settle("down", DOWN_ANSWERS)
            health_down = await _health_status(url)
            load.phase = "starting"
            await load.settle("down")
            await anyio.to_thread.run_sync(pg.start)
            timer.mark("pg_started")
            load.phase = "recovering"
            with anyio.fail_after(PHASE_BUDGET):
                await load.recovered.wait()
            timer.mark("first_200")
            load.phase = "recovered"
            await load.settle("recovered", PER_PHASE)
            load.stop = True
        health_up = await _health_status(url)
    assert health_down == 503
    assert health_up == 200
    return load


def test_postgres_restart_api_answers_503_then_recovers(
    tmp_path: Path, cluster: PrivateCluster, local_s3: LocalS3
) -> None:
    from bittensor.sp_core import Keypair

    timer = Timer()
    seed_catalog(cluster.url, drill_catalog())
    keypair = Keypair.create_from_uri("//" + secrets.token_hex(8))
    chain = DevnetChain(tmp_path / "chain.sqlite", netuid=NETUID, block_time=BLOCK_TIME)
    chain.register(keypair.ss58_address, "5cold-drill-miner", 10.0, False)
    env = api_env(cluster.url, local_s3, chain.path, 3600)
    api = api_proc("api", env, free_port(), tmp_path)

    with running(api):
        url = start_api(api)
        pid = api.pid
        timer.mark("api_up")
        load = asyncio.run(_drill(url, keypair, cluster, timer))
        wait_until("the API to stay up", lambda: api.alive, within=1, procs=(api,))
        assert api.pid == pid and api.starts == 1  # recovered without a restart

    up, down, after = load.of("up"), load.of("down"), load.of("recovered")
    assert up and all(s == 200 for s, _ in up), up
    assert len(down) >= DOWN_ANSWERS, down
    assert set(down) == {(503, "STORE_UNAVAILABLE")}, set(down)
    assert after and all(s == 200 for s, _ in after), set(after)
    # Around the stop and the start: only OK or 503, never a 500, a timeout or a reset.
    assert {s for _, s, _ in load.seen} <= {200, 503}, {s for _, s, _ in load.seen}
    # Every failure went through the error middleware as a dependency failure (asyncpg's own
    # pool logs its reconnect attempts with tracebacks; those are not resi errors).
    assert "unhandled error" not in api.text(), api.tail()
    assert "dependency failure" in api.text()
    timer.report(f"postgres restart ({len(load.seen)} requests, {len(down)} while down)")
