"""Drill: the API process is SIGKILLed mid-epoch and restarted on the same port and database.

A `resi mine --once` subprocess is working through the epoch when the API dies. The miner must
carry on (cached assignment, retried uploads and commits), every assigned zipcode must end
committed, and every commit the miner made must be in the database with the file's sha256.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from resi.chain.devnet import DevnetChain
from resi.s3.local import LocalS3
from tests.drills.harness import (
    BLOCK_TIME,
    NETUID,
    Timer,
    api_env,
    api_proc,
    drill_catalog,
    events,
    free_port,
    market_thread,
    miner_proc,
    pick_epoch,
    running,
    seed_catalog,
    start_api,
    wait_until,
    with_store,
)

pytestmark = pytest.mark.drill

# The drill never waits for the epoch to end, so a long one costs nothing and keeps a slow
# (loaded) machine from reaching the deadline mid-drill; every wait below is on an event.
MIN_EPOCH_LEFT = 600


def test_api_killed_mid_epoch_loses_no_commit(
    tmp_path: Path, local_s3: LocalS3, wallets: Callable[[int], list[Any]]
) -> None:
    timer = Timer()
    catalog = drill_catalog()
    db_url = f"sqlite:///{tmp_path / 'api.db'}"
    seed_catalog(db_url, catalog)
    (wallet,) = wallets(1)
    chain = DevnetChain(tmp_path / "chain.sqlite", netuid=NETUID, block_time=BLOCK_TIME)
    chain.register(wallet.hotkey_ss58, wallet.coldkey_ss58, 10.0, False)
    plan = pick_epoch(min_left=MIN_EPOCH_LEFT)  # room for mining plus the outage
    port = free_port()
    api = api_proc("api", api_env(db_url, local_s3, chain.path, plan.seconds), port, tmp_path)

    # Latency keeps the miner busy for several seconds, so the kill lands mid-epoch.
    with market_thread(catalog, latency=0.25) as market, running(api):
        url = start_api(api)
        timer.mark("api_up")
        miner = miner_proc("miner", wallet, url, market.url, tmp_path / "miner", tmp_path)
        with running(miner):
            miner.start()
            wait_until("the first commit", lambda: bool(events(miner, "zipcode_committed")),
                       within=120, procs=(miner, api))  # fmt: skip
            committed_before = len(events(miner, "zipcode_committed"))
            api.kill()
            timer.mark("api_killed")
            # The API stays down until the miner has run into the outage (an event, not a sleep).
            wait_until("the miner to notice the outage",
                       lambda: bool(events(miner, "api_unavailable")),
                       within=120, procs=(miner,))  # fmt: skip
            assert miner.alive, miner.tail()
            start_api(api)
            timer.mark("api_restarted")
            miner.wait(timeout=180)
            timer.mark("miner_done")
        assert miner.returncode == 0, miner.tail()

    outcome = events(miner, "outcome")[-1]
    epoch_id = outcome["epoch_id"]
    assert epoch_id == plan.epoch_id
    assert outcome["committed"] == outcome["zipcodes"] > committed_before, outcome
    assert not outcome.get("deadline_reached")
    assert api.starts == 2
    assert events(miner, "api_unavailable")  # the miner did notice the outage

    assigned = with_store(db_url, lambda s: s.get_assignments(epoch_id))
    commits = with_store(db_url, lambda s: s.list_commits(epoch_id))
    assert {c.zipcode for c in commits} == {a.zipcode for a in assigned}
    assert len(commits) == len(assigned) == outcome["zipcodes"]
    assert {c.hotkey for c in commits} == {wallet.hotkey_ss58}
    # No commit lost or stale: each stored commit names the miner's file by its content hash.
    files = tmp_path / "miner" / "epochs" / epoch_id
    for commit in commits:
        local = hashlib.sha256((files / f"{commit.zipcode}.parquet").read_bytes()).hexdigest()
        assert commit.sha256 == local
        assert commit.key.endswith(f"{local}.parquet")
    timer.report(f"api restart (epoch {plan.seconds}s, {len(commits)} commits)")
