"""`resi mine --once --json` as a real subprocess against the API, local S3 and the sim market."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import anyio
import pytest

from resi.wallet import create_wallet
from tests.fixtures.api import ApiServer
from tests.fixtures.market import RunningMarket

pytestmark = pytest.mark.anyio


@pytest.fixture
async def api(
    api_factory: Callable[..., AbstractAsyncContextManager[ApiServer]], sqlite_url: str
) -> AsyncIterator[ApiServer]:
    async with api_factory(sqlite_url) as server:
        yield server


async def test_mine_once_commits_every_zipcode(
    api: ApiServer, sim_market: RunningMarket, tmp_path: Path
) -> None:
    wallets = tmp_path / "wallets"
    info = create_wallet("miner", "default", wallets)
    api.chain.register(info.hotkey_ss58, info.coldkey_ss58, 10.0, False)
    await api.refresh_metagraph()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESI_")}
    result = await anyio.run_process(
        [
            str(Path(sys.executable).parent / "resi"),
            "mine",
            "--once",
            "--json",
            "--subtensor.network",
            "devnet",
            "--wallet.name",
            "miner",
            "--wallet.hotkey",
            "default",
            "--wallet.path",
            str(wallets),
            "--api-url",
            api.base_url,
            "--source",
            "sim",
            "--sim-url",
            sim_market.url,
            "--workdir",
            str(tmp_path / "work"),
        ],
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    lines = [json.loads(line) for line in result.stdout.decode().splitlines() if line.strip()]
    outcome = lines[-1]
    assert outcome["event"] == "outcome"
    assert outcome["committed"] == outcome["zipcodes"] == 4
    assert sum(1 for line in lines if line["event"] == "zipcode_committed") == 4
    commits = await api.store.list_commits(api.epochs.active.epoch_id)
    assert {c.hotkey for c in commits} == {info.hotkey_ss58}
    assert len(commits) == 4
