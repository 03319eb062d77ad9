"""The miner against a real API server, local S3 (SeaweedFS) and the simulated market."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from resi.api.client import STATUS, ApiClient
from resi.scrape.listing import read_listings, sha256_file
from resi.scrape.miner import EpochOutcome, Miner, MinerEvent
from resi.scrape.source import ListingSource
from resi.scrape.zillow import ZillowConfig, ZillowSource
from tests.fixtures.api import ApiServer
from tests.fixtures.market import RunningMarket, start_sim_market

pytestmark = pytest.mark.anyio


class RecordingTransport(httpx.AsyncBaseTransport):
    """Real HTTP to the API, plus a switch that makes it unreachable and a log of commits."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.down = False
        self.commits: Counter[str] = Counter()
        self.statuses: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("API switched off by the test", request=request)
        response = await self.inner.handle_async_request(request)
        if request.url.path == STATUS:
            await response.aread()
            if response.status_code == 200:
                body = json.loads(request.content)
                self.statuses.append(body["status"])
                self.commits.update(c["zipcode"] for c in body["commits"])
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
async def api(
    api_factory: Callable[..., AbstractAsyncContextManager[ApiServer]], sqlite_url: str
) -> AsyncIterator[ApiServer]:
    async with api_factory(sqlite_url) as server:
        yield server


def sim_source(market: RunningMarket) -> ListingSource:
    return ZillowSource(
        ZillowConfig(base_url=market.url, concurrency=8, backoff_initial=0.01, backoff_max=0.05,
                     source_name="sim")
    )  # fmt: skip


def make_miner(
    api: ApiServer,
    market: RunningMarket,
    workdir: Path,
    transport: RecordingTransport,
    **kwargs: Any,
) -> tuple[Miner, ApiClient]:
    client = ApiClient(api.base_url, api.keys.miner, transport=transport, attempts=1)
    miner = Miner(
        client,
        sim_source(market),
        api.keys.miner.ss58_address,
        workdir,
        concurrency=4,
        retry_initial=0.05,
        retry_max=0.2,
        **kwargs,
    )
    return miner, client


async def close(miner: Miner, client: ApiClient) -> None:
    await miner.aclose()
    await miner.source.aclose()
    await client.aclose()


async def verify_commits(api: ApiServer, tmp_path: Path) -> dict[str, int]:
    """Download every committed file; check hash, schema and metadata. Returns rows per zip."""
    epoch = api.epochs.active
    rows: dict[str, int] = {}
    for commit in await api.store.list_commits(epoch.epoch_id):
        assert commit.hotkey == api.keys.miner.ss58_address
        path = tmp_path / "check" / f"{commit.zipcode}.parquet"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(await api.s3.get_bytes(commit.key))
        assert sha256_file(path) == commit.sha256
        table, meta = read_listings(path)  # raises on schema problems
        assert (meta.epoch_id, meta.nonce, meta.miner_hotkey, meta.zipcode) == (
            epoch.epoch_id, epoch.nonce, api.keys.miner.ss58_address, commit.zipcode,
        )  # fmt: skip
        assert table.num_rows == commit.rows
        assert set(table["zipcode"].to_pylist()) <= {commit.zipcode}
        rows[commit.zipcode] = commit.rows
    return rows


async def test_miner_completes_an_epoch_and_every_file_verifies(
    api: ApiServer, sim_market: RunningMarket, tmp_path: Path
) -> None:
    transport = RecordingTransport()
    events: list[MinerEvent] = []
    miner, client = make_miner(
        api, sim_market, tmp_path / "w", transport, on_progress=events.append
    )
    try:
        outcome = await miner.run_once(wait=False)
    finally:
        await close(miner, client)
    assert isinstance(outcome, EpochOutcome)
    assert outcome.epoch_id == api.epochs.active.epoch_id
    assert outcome.committed == outcome.zipcodes == 4 and not outcome.deadline_reached
    rows = await verify_commits(api, tmp_path)
    assert set(rows) == {"10001", "60614", "94110", "00501"}
    assert rows["00501"] == 0  # the honeypot-type zipcode has no listings: an honest empty file
    for zipcode, expected in (("10001", 300), ("60614", 400), ("94110", 500)):
        assert rows[zipcode] >= 0.85 * expected
    assert transport.statuses[0] == "STARTED" and transport.statuses[-1] == "COMPLETED"
    assert all(n == 1 for n in transport.commits.values())
    statuses = await api.store.miner_statuses(api.epochs.active.epoch_id)
    assert statuses  # the server recorded our status reports
    kinds = Counter(e.kind for e in events)
    assert kinds["zipcode_committed"] == 4 and kinds["epoch_finished"] == 1


async def test_restart_mid_epoch_resumes_without_duplicate_commits(
    api: ApiServer, tmp_path: Path
) -> None:
    # A slowish site, so the empty zipcode is committed while the others are still scraping.
    async with start_sim_market(latency=0.05, page_size=20) as market:
        await _restart_scenario(api, market, tmp_path)


async def _restart_scenario(api: ApiServer, sim_market: RunningMarket, tmp_path: Path) -> None:
    workdir = tmp_path / "w"
    transport = RecordingTransport()
    stop = anyio.Event()

    def on_first_commit(event: MinerEvent) -> None:
        if event.kind == "zipcode_committed":
            stop.set()

    miner, client = make_miner(api, sim_market, workdir, transport, on_progress=on_first_commit)
    assignment = await client.current_assignment()
    async with anyio.create_task_group() as tg:

        async def run() -> None:
            await miner.run_epoch(assignment)

        tg.start_soon(run)
        await stop.wait()
        tg.cancel_scope.cancel()  # the "crash": cancelled mid-epoch
    await close(miner, client)
    first = dict(transport.commits)
    assert 1 <= sum(first.values()) < 4
    before = {c.zipcode: c.received_at for c in await api.store.list_commits(assignment.epoch_id)}

    events: list[MinerEvent] = []
    miner, client = make_miner(api, sim_market, workdir, transport, on_progress=events.append)
    try:
        outcome = await miner.run_once(wait=False)
    finally:
        await close(miner, client)
    assert outcome is not None and outcome.committed == 4
    assert all(n == 1 for n in transport.commits.values()), transport.commits  # never twice
    after = {c.zipcode: c.received_at for c in await api.store.list_commits(assignment.epoch_id)}
    for zipcode in first:
        assert after[zipcode] == before[zipcode]  # first commit time kept (rank not lost)
    scraped_again = {e.zipcode for e in events if e.kind == "zipcode_scraped"}
    assert not scraped_again & set(first)  # finished zipcodes were not scraped again
    await verify_commits(api, tmp_path)


async def test_api_outage_during_epoch_still_ends_with_commits(
    api: ApiServer, sim_market: RunningMarket, tmp_path: Path
) -> None:
    transport = RecordingTransport()
    outages: list[MinerEvent] = []
    enough = anyio.Event()

    def on_event(event: MinerEvent) -> None:
        if event.kind == "api_unavailable":
            outages.append(event)
            if len(outages) >= 3:
                enough.set()

    miner, client = make_miner(api, sim_market, tmp_path / "w", transport, on_progress=on_event)
    assignment = await client.current_assignment()
    await miner.store.save_assignment(assignment)
    transport.down = True  # the API goes away right after the assignment was fetched
    try:
        async with anyio.create_task_group() as tg:

            async def restore() -> None:
                await enough.wait()
                transport.down = False

            tg.start_soon(restore)
            # From the cached assignment, as a restarted miner would during the outage.
            cached = await miner.current_assignment(wait=False)
            assert cached is not None and cached.epoch_id == assignment.epoch_id
            outcome = await miner.run_epoch(cached)
    finally:
        await close(miner, client)
    assert outages
    assert outcome.committed == 4
    assert sum(transport.commits.values()) == 4
    rows = await verify_commits(api, tmp_path)
    assert len(rows) == 4


async def test_deadline_is_honoured(api: ApiServer, tmp_path: Path) -> None:
    transport = RecordingTransport()
    deadline = api.epochs.active.deadline
    started = datetime.now(UTC)
    # The miner's clock says the deadline is 1.5 s away; the slow site needs far longer.
    shift = deadline - started - timedelta(seconds=1.5)
    async with start_sim_market(latency=0.3, page_size=5) as slow:
        miner, client = make_miner(
            api, slow, tmp_path / "w", transport, now=lambda: datetime.now(UTC) + shift
        )
        try:
            outcome = await miner.run_once(wait=False)
        finally:
            await close(miner, client)
    assert outcome is not None and outcome.deadline_reached
    assert outcome.committed < outcome.zipcodes
    committed = await api.store.list_commits(api.epochs.active.epoch_id)
    assert len(committed) == outcome.committed
    assert "COMPLETED" not in transport.statuses


async def test_run_forever_does_not_redo_a_finished_epoch(
    api: ApiServer, sim_market: RunningMarket, tmp_path: Path
) -> None:
    transport = RecordingTransport()
    waits = 0
    done = anyio.Event()

    def on_event(event: MinerEvent) -> None:
        nonlocal waits
        if event.kind == "waiting":
            waits += 1
            if waits >= 3:
                done.set()

    miner, client = make_miner(
        api, sim_market, tmp_path / "w", transport, on_progress=on_event, poll_seconds=0.05
    )
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(miner.run_forever)
            await done.wait()
            tg.cancel_scope.cancel()
    finally:
        await close(miner, client)
    assert sorted(transport.commits.values()) == [1, 1, 1, 1]
    assert transport.statuses.count("COMPLETED") == 1
