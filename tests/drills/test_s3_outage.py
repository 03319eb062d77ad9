"""Drill: the object store goes away during a miner's uploads and comes back on the same ports.

A private SeaweedFS (``LocalS3``) is stopped right after the miner's first upload and started
again, once an upload has given up its own retries, on the same data directory and ports.
Uploads must be retried, every zipcode must end committed, and nothing may be committed that
is not stored: every commit's object exists and its bytes hash to the committed sha256.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from resi.chain.devnet import DevnetChain
from resi.epoch.models import Commit
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


def failed_uploads(miner: Any) -> list[dict[str, Any]]:
    return [e for e in events(miner, "api_unavailable") if "upload" in str(e)]


def stored_sha256(s3: LocalS3, key: str) -> str | None:
    client = boto3.client(
        "s3",
        endpoint_url=s3.endpoint,
        region_name=s3.region,
        aws_access_key_id=s3.access_key,
        aws_secret_access_key=s3.secret_key,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    try:
        body = client.get_object(Bucket=s3.bucket, Key=key)["Body"].read()
    except client.exceptions.NoSuchKey:
        return None
    finally:
        client.close()
    return hashlib.sha256(body).hexdigest()


@pytest.fixture
def private_s3(tmp_path: Path) -> Iterator[LocalS3]:
    server = LocalS3(tmp_path / "seaweedfs", bucket="resi-drill")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_s3_outage_commits_only_stored_files(
    tmp_path: Path, private_s3: LocalS3, wallets: Callable[[int], list[Any]]
) -> None:
    timer = Timer()
    catalog = drill_catalog()
    db_url = f"sqlite:///{tmp_path / 'api.db'}"
    seed_catalog(db_url, catalog)
    (wallet,) = wallets(1)
    chain = DevnetChain(tmp_path / "chain.sqlite", netuid=NETUID, block_time=BLOCK_TIME)
    chain.register(wallet.hotkey_ss58, wallet.coldkey_ss58, 10.0, False)
    plan = pick_epoch(min_left=MIN_EPOCH_LEFT)
    env = api_env(db_url, private_s3, chain.path, plan.seconds)
    api = api_proc("api", env, free_port(), tmp_path)

    with market_thread(catalog, latency=0.25) as market, running(api):
        url = start_api(api)
        timer.mark("api_up")
        miner = miner_proc("miner", wallet, url, market.url, tmp_path / "miner", tmp_path)
        with running(miner):
            miner.start()
            wait_until("the first upload", lambda: bool(events(miner, "zipcode_uploaded")),
                       within=120, procs=(miner, api))  # fmt: skip
            private_s3.stop()
            timer.mark("s3_stopped")
            uploaded_before = len(events(miner, "zipcode_uploaded"))
            # The store stays down until an upload has used up its own retries (about 8-10 s) and
            # the miner's outer loop took over: waited for as an event, however slow the machine.
            wait_until("an upload to give up during the outage",
                       lambda: bool(failed_uploads(miner)), within=180, procs=(miner,))  # fmt: skip
            failed_during = failed_uploads(miner)
            private_s3.restart()
            timer.mark("s3_restarted")
            assert private_s3.endpoint == env["RESI_S3_ENDPOINT"]
            miner.wait(timeout=180)
            timer.mark("miner_done")
        assert miner.returncode == 0, miner.tail()

    outcome = events(miner, "outcome")[-1]
    epoch_id = outcome["epoch_id"]
    # The outage really hit uploads: some gave up their inner retries while the store was down
    # (the miner's outer loop waited them out), and every zipcode got uploaded in the end.
    assert failed_during, miner.tail()
    assert len(events(miner, "zipcode_uploaded")) == outcome["zipcodes"]
    assert outcome["committed"] == outcome["zipcodes"] > uploaded_before, outcome
    commits: list[Commit] = with_store(db_url, lambda s: s.list_commits(epoch_id))
    assigned = with_store(db_url, lambda s: s.get_assignments(epoch_id))
    assert {c.zipcode for c in commits} == {a.zipcode for a in assigned}
    for commit in commits:
        assert stored_sha256(private_s3, commit.key) == commit.sha256, commit.key
    timer.report(f"s3 outage ({len(commits)} commits, {len(failed_during)} failed uploads seen)")
