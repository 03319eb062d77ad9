"""Miners fall back to validator relays when the API is unreachable; forged documents lose.

Also the long outage: commits queued past the deadline are sent when the API returns and come
back refused (409), visible as failed zipcodes, never silently forgiven.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from aiohttp import web
from bittensor.sp_core import Keypair

from resi.api.assignment_doc import sign_assignment
from resi.api.client import FOLDER_ACCESS, STATUS, ApiClient
from resi.scrape.late_commits import LATE_FILE
from resi.scrape.miner import Miner, MinerEvent
from resi.scrape.relay_client import RELAY_PATH, RelayFallback
from resi.scrape.zillow import ZillowConfig, ZillowSource
from resi.validate.relay import AssignmentRelay, running_relay
from tests.fixtures.market import RunningMarket
from tests.relay.conftest import SigningApi
from tests.relay.test_validator_relay import closed_port_url

pytestmark = pytest.mark.anyio


@contextlib.asynccontextmanager
async def validator_relay(api: SigningApi) -> AsyncIterator[str]:
    server = api.server
    async with server.client(server.keys.validator) as client:
        relay = AssignmentRelay(
            client, server.chain, server.keys.validator.ss58_address, api_hotkey=api.hotkey
        )
        async with running_relay(relay, "127.0.0.1", 0, interval=60) as url:
            yield url


@contextlib.asynccontextmanager
async def forged_relay(api: SigningApi) -> AsyncIterator[str]:
    """A malicious relay: the real epoch with other zipcodes, signed by some other key."""
    server = api.server
    async with server.client(server.keys.miner) as miner:
        genuine = await miner.signed_assignment()
    doc = dict(genuine.document)
    doc["zipcodes"] = [{**z, "zipcode": "99999"} for z in doc["zipcodes"]]
    forged = sign_assignment(doc, Keypair.create_from_uri("//forger")).model_copy(
        update={"api_hotkey": api.hotkey}  # claims to be the API
    )

    async def handle(request: web.Request) -> web.Response:
        return web.Response(body=forged.model_dump_json(), content_type="application/json")

    app = web.Application()
    app.router.add_get(RELAY_PATH, handle)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


def sim_source(market: RunningMarket) -> ZillowSource:
    config = ZillowConfig(
        base_url=market.url, concurrency=8, backoff_initial=0.01, backoff_max=0.05,
        source_name="sim",
    )  # fmt: skip
    return ZillowSource(config)


def make_miner(
    client: ApiClient, api: SigningApi, market: RunningMarket, workdir: Path, **kw: Any
) -> Miner:
    return Miner(
        client,
        sim_source(market),
        api.server.keys.miner.ss58_address,
        workdir,
        concurrency=4,
        retry_initial=0.05,
        retry_max=0.2,
        **kw,
    )


async def test_miner_with_unreachable_api_scrapes_from_a_relayed_assignment(
    signing_api: SigningApi, sim_market: RunningMarket, tmp_path: Path
) -> None:
    server = signing_api.server
    events: list[MinerEvent] = []
    scraped = anyio.Event()

    def on_event(event: MinerEvent) -> None:
        events.append(event)
        if sum(e.kind == "zipcode_scraped" for e in events) == 4:
            scraped.set()

    async with (
        validator_relay(signing_api) as relay_url,
        RelayFallback([closed_port_url(), relay_url], server.keys.miner, signing_api.hotkey)
        as relay,
        ApiClient(closed_port_url(), server.keys.miner, attempts=1) as client,
    ):  # fmt: skip
        miner = make_miner(client, signing_api, sim_market, tmp_path / "w", relay=relay,
                           on_progress=on_event)  # fmt: skip
        try:
            assignment = await miner.current_assignment(wait=False)
            assert assignment is not None
            with anyio.fail_after(60):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(miner.run_epoch, assignment)
                    await scraped.wait()  # uploads wait for the API; scraping does not
                    tg.cancel_scope.cancel()
        finally:
            await miner.aclose()
            await miner.source.aclose()
    assert assignment.epoch_id == server.epochs.active.epoch_id
    assert assignment.nonce == server.epochs.active.nonce
    # The dead relay was skipped (and recorded), the second one answered.
    assert list(relay.last_errors.values()) == ["UNREACHABLE"]
    assert {e.zipcode for e in events if e.kind == "zipcode_scraped"} == {
        "10001", "60614", "94110", "00501",
    }  # fmt: skip
    assert any(e.kind == "api_unavailable" and "relayed" in e.detail for e in events)
    cached = await miner.store.cached_assignment()
    assert cached == assignment  # kept for the rest of the outage


async def test_relay_serving_a_forged_document_is_rejected(
    signing_api: SigningApi, tmp_path: Path, sim_market: RunningMarket
) -> None:
    server = signing_api.server
    async with (
        forged_relay(signing_api) as bad_url,
        validator_relay(signing_api) as good_url,
    ):
        async with RelayFallback([bad_url], server.keys.miner, signing_api.hotkey) as only_bad:
            assert await only_bad() is None
            assert only_bad.last_errors == {bad_url: "BAD_SIGNATURE"}
        async with (
            RelayFallback([bad_url, good_url], server.keys.miner, signing_api.hotkey) as relay,
            ApiClient(closed_port_url(), server.keys.miner, attempts=1) as client,
        ):
            miner = make_miner(client, signing_api, sim_market, tmp_path / "w", relay=relay)
            try:
                assignment = await miner.current_assignment(wait=False)
            finally:
                await miner.aclose()
                await miner.source.aclose()
    assert assignment is not None
    assert "99999" not in {z.zipcode for z in assignment.zipcodes}
    assert relay.last_errors == {bad_url: "BAD_SIGNATURE"}


async def test_miner_without_relay_or_cache_waits(
    signing_api: SigningApi, sim_market: RunningMarket, tmp_path: Path
) -> None:
    events: list[MinerEvent] = []
    async with ApiClient(closed_port_url(), signing_api.server.keys.miner, attempts=1) as client:
        miner = make_miner(client, signing_api, sim_market, tmp_path / "w",
                           on_progress=events.append)  # fmt: skip
        try:
            assert await miner.current_assignment(wait=False) is None
        finally:
            await miner.aclose()
            await miner.source.aclose()
    assert events and events[-1].kind == "waiting"


class StatusOutage(httpx.AsyncBaseTransport):
    """Real HTTP to the API, except that ``blocked`` (commits, by default) cannot get through
    while ``down``."""

    def __init__(self, blocked: str = STATUS) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.blocked = blocked
        self.down = False
        self.status_posts = 0  # status posts that carry commits
        self.grant_requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.down and request.url.path == self.blocked:
            raise httpx.ConnectError("API unreachable (test outage)", request=request)
        if request.url.path == STATUS:
            self.status_posts += bool(json.loads(request.content)["commits"])
        self.grant_requests += request.url.path == FOLDER_ACCESS
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.mark.parametrize(
    ("blocked", "queued_as"),
    [(STATUS, "zipcode_uploaded"), (FOLDER_ACCESS, "zipcode_scraped")],
    ids=["commits-blocked", "grants-blocked"],
)
async def test_long_outage_past_the_deadline_ends_in_refused_commits(
    signing_api: SigningApi,
    sim_market: RunningMarket,
    tmp_path: Path,
    blocked: str,
    queued_as: str,
) -> None:
    """Files queue as uploaded (commits blocked) or only written (no upload grant either, as
    when the API is down all epoch); both are delivered on return and refused by the API."""
    server = signing_api.server
    epoch = server.epochs.active
    transport = StatusOutage(blocked)
    shift = timedelta()
    events: list[MinerEvent] = []
    queued = anyio.Event()

    def on_event(event: MinerEvent) -> None:
        events.append(event)
        if sum(e.kind == queued_as for e in events) == 4:
            queued.set()

    client = ApiClient(server.base_url, server.keys.miner, transport=transport, attempts=1)
    miner = make_miner(client, signing_api, sim_market, tmp_path / "w", on_progress=on_event,
                       now=lambda: datetime.now(UTC) + shift)  # fmt: skip
    try:
        assignment = await client.current_assignment()
        transport.down = True  # the API stops taking commits: uploads queue up
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                tg.start_soon(miner.run_epoch, assignment)
                await queued.wait()
                tg.cancel_scope.cancel()  # the miner stops, as at its deadline
        assert await server.store.list_commits(epoch.epoch_id) == []
        # The outage outlasts the deadline; both clocks are now past it (not past the end).
        shift = epoch.deadline - datetime.now(UTC) + timedelta(minutes=10)
        server.clock.offset = shift
        transport.down = False
        outcome = await miner.run_once(wait=False)
        posts_after_flush, grants_after_flush = transport.status_posts, transport.grant_requests
        # every queued file was delivered once the API was back (its grant, or its commit)
        assert (grants_after_flush if blocked == FOLDER_ACCESS else posts_after_flush) >= 4
        await miner.run_once(wait=False)  # a refusal is final: not sent again
    finally:
        await miner.aclose()
        await miner.source.aclose()
        await client.aclose()
    refused = [e for e in events if e.kind == "zipcode_failed"]
    assert {e.zipcode for e in refused} == {"10001", "60614", "94110", "00501"}
    assert all("refused: 409 EPOCH_CLOSED" in e.detail for e in refused)
    assert outcome is not None and outcome.committed == 0 and outcome.deadline_reached
    assert await server.store.list_commits(epoch.epoch_id) == []  # judged by the API's clock
    assert (transport.status_posts, transport.grant_requests) == (
        posts_after_flush,
        grants_after_flush,
    )
    assert (miner.store.epoch_dir(epoch.epoch_id) / LATE_FILE).is_file()
