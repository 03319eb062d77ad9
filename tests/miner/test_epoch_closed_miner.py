"""Issue 12: the real miner treats 409 EPOCH_CLOSED (here from folder_access) as the end of the
epoch's work: it logs it, stops every zipcode task and returns, instead of failing.

The API is real; the transport answers `folder_access` with the API's own 409 EPOCH_CLOSED
body, as the server does once the epoch stops accepting submissions under load.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import httpx
import pytest

from resi.api.client import FOLDER_ACCESS
from resi.scrape.miner import MinerEvent
from tests.fixtures.api import ApiServer
from tests.fixtures.market import RunningMarket
from tests.miner.test_miner import RecordingTransport, close, make_miner

pytestmark = pytest.mark.anyio


class ClosingTransport(RecordingTransport):
    """Real HTTP to the API, except that folder_access answers 409 EPOCH_CLOSED."""

    def __init__(self) -> None:
        super().__init__()
        self.refused = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == FOLDER_ACCESS:
            self.refused += 1
            body = {"error": "EPOCH_CLOSED", "message": "epoch is not accepting submissions"}
            return httpx.Response(409, content=json.dumps(body).encode(), request=request)
        return await super().handle_async_request(request)


@pytest.fixture
async def api(
    api_factory: Callable[..., AbstractAsyncContextManager[ApiServer]], sqlite_url: str
) -> AsyncIterator[ApiServer]:
    async with api_factory(sqlite_url) as server:
        yield server


async def test_epoch_closed_from_folder_access_ends_the_epoch_quietly(
    api: ApiServer, sim_market: RunningMarket, tmp_path: Path
) -> None:
    transport = ClosingTransport()
    events: list[MinerEvent] = []
    miner, client = make_miner(
        api, sim_market, tmp_path / "w", transport, on_progress=events.append
    )
    try:
        outcome = await miner.run_once(wait=False)  # returns: no exception, no endless retry
    finally:
        await close(miner, client)
    kinds = Counter(e.kind for e in events)
    assert outcome is not None and outcome.committed == 0
    assert kinds["epoch_closed"] >= 1 and kinds["epoch_finished"] == 1
    assert kinds["zipcode_failed"] == 0  # closing is not a failure
    assert transport.refused >= 1 and not transport.commits
