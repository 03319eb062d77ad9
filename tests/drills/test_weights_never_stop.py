"""Drill: weights never stop (DESIGN §9) while S3 and the API are gone, then burn.

A real `resi validate` process (its own loop, `--metrics-port`) runs against a real API on a
devnet chain with 30-second epochs. Its workdir holds one validated epoch (the state a previous
run leaves: scores that pay the miner). The object store is stopped, then the API is killed, so
every validation round fails from then on. The validator must go on setting weights every
interval from that epoch, and once more than ``weights_stale_epochs`` epochs have completed
after it, set all weight to the burn uid. Its own /metrics must tell the same story.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from resi.chain.devnet import DevnetChain
from resi.epoch.clock import EpochClock
from resi.s3.local import LocalS3
from resi.validate.checkpoint import CHECKPOINT_SCHEMA_VERSION
from tests.drills.harness import (
    BLOCK_TIME,
    NETUID,
    Proc,
    Timer,
    api_env,
    api_proc,
    clean_env,
    drill_catalog,
    free_port,
    register_roles,
    resi_argv,
    running,
    seed_catalog,
    start_api,
    wait_until,
)

pytestmark = pytest.mark.drill

EPOCH_SECONDS = 30
STALE_EPOCHS = 2
WEIGHTS_INTERVAL = 4  # blocks (2 s)


def seed_state(workdir: Path, clock: EpochClock, hotkey: str, scores: dict[str, float]) -> str:
    """Write a validator ``state.json`` holding the epoch that just ended; returns its id."""
    validated = clock.next_id(clock.epoch_id_at(datetime.now(UTC)), -1)
    workdir.mkdir(parents=True, exist_ok=True)
    finished = {
        "consensus_hash": "0" * 64,
        "report_key": f"validators/{hotkey}/epoch={validated}/validation_report.json",
        "scores": scores,
    }
    doc = {
        "schema_version": CHECKPOINT_SCHEMA_VERSION,
        "finished": {validated: finished},
        "last_weights_block": None,
    }
    (workdir / "state.json").write_text(json.dumps(doc))
    return validated


def metric(url: str, name: str, labels: str = "") -> float | None:
    """One sample of the validator's /metrics (None when absent or unreachable)."""
    try:
        text = httpx.get(url + "/metrics", timeout=2.0).text
    except httpx.TransportError:
        return None
    for line in text.splitlines():
        if line.startswith(f"{name}{labels} "):
            return float(line.split()[-1])
    return None


@pytest.fixture
def private_s3(tmp_path: Path) -> Iterator[LocalS3]:
    server = LocalS3(tmp_path / "seaweedfs", bucket="resi-drill")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_weights_continue_while_s3_and_the_api_are_down_then_burn(
    tmp_path: Path, private_s3: LocalS3, wallets: Callable[[int], list[Any]]
) -> None:
    timer = Timer()
    catalog = drill_catalog()
    db_url = f"sqlite:///{tmp_path / 'api.db'}"
    seed_catalog(db_url, catalog)
    owner, miner, val = wallets(3)
    chain = DevnetChain(tmp_path / "chain.sqlite", netuid=NETUID, block_time=BLOCK_TIME)
    uids = register_roles(chain, owner, miner, val)  # the owner's uid 0 is the burn uid
    burn_uid, miner_uid = uids[owner.hotkey_ss58], uids[miner.hotkey_ss58]

    clock = EpochClock(EPOCH_SECONDS)
    workdir = tmp_path / "val"
    api = api_proc(
        "api",
        api_env(db_url, private_s3, chain.path, EPOCH_SECONDS, RESI_WEIGHTS_RATE_LIMIT="1"),
        free_port(),
        tmp_path,
    )
    metrics_port = free_port()
    metrics_url = f"http://127.0.0.1:{metrics_port}"
    with running(api):
        url = start_api(api)
        timer.mark("api_up")
        # No epoch can validate from here on (its report cannot be uploaded), so the seeded
        # epoch stays the newest validated one and its age is known in advance.
        private_s3.stop()
        timer.mark("s3_down")
        argv = resi_argv(
            "validate", "--json",
            "--wallet", val.name, "--hotkey", val.hotkey, "--wallet-path", str(val.path),
            "--api-url", url, "--source", "sim", "--sim-url", "http://127.0.0.1:9",
            "--workdir", str(workdir), "--weights-interval", str(WEIGHTS_INTERVAL),
            "--metrics-port", str(metrics_port),
        )  # fmt: skip
        env = clean_env(
            RESI_NETWORK="devnet",
            RESI_NETUID=str(NETUID),
            RESI_DEVNET_CHAIN_PATH=str(chain.path),
            RESI_BLOCK_TIME=str(BLOCK_TIME),
            RESI_WEIGHTS_RATE_LIMIT="1",
            RESI_POLL_SECONDS="0.5",
            RESI_HTTP_TIMEOUT="2",
            RESI_BURN_UID=str(burn_uid),
            RESI_EPOCH_SECONDS=str(EPOCH_SECONDS),
            RESI_WEIGHTS_STALE_EPOCHS=str(STALE_EPOCHS),
            RESI_LOG_LEVEL="INFO",
        )
        validator = Proc("validator", argv, env, tmp_path / "validator.log")
        # The workdir as a previous run leaves it: the epoch that just ended, validated.
        validated = seed_state(workdir, clock, val.hotkey_ss58, {miner.hotkey_ss58: 1.0})
        # Burn is due once more than STALE_EPOCHS epochs completed after the validated one.
        burn_due = clock.window(validated).end + (STALE_EPOCHS + 1) * clock.length
        history = lambda: chain.weights_history_sync(val.hotkey_ss58)  # noqa: E731
        with running(validator):
            validator.start()
            wait_until("weights with S3 down", lambda: bool(history()),
                       within=60, procs=(validator, api))  # fmt: skip
            timer.mark("first_weights")
            api.stop()
            down_at = time.time()
            timer.mark("api_down")
            before = len(history())
            wait_until(
                "two more weight settings with the API down",
                lambda: len([r for r in history() if r.time > down_at]) >= 2,
                within=60,
                procs=(validator,),
            )
            timer.mark("weights_while_down")
            wait_until(
                "burn weights after the validated epoch went stale",
                lambda: any(r.uids == (burn_uid,) for r in history()),
                within=(burn_due - datetime.now(UTC)).total_seconds() + 60,
                procs=(validator,),
            )
            timer.mark("burn")
            round_errors = metric(metrics_url, "resi_validator_round_errors_total",
                                  '{kind="ApiUnavailable"}')  # fmt: skip
            burn_sets = metric(metrics_url, "resi_validator_weights_set_total", '{source="burn"}')
            epoch_sets = metric(metrics_url, "resi_validator_weights_set_total", '{source="epoch"}')
            last_block = metric(metrics_url, "resi_validator_last_weights_block")
            assert validator.alive, validator.tail()

    records = chain.weights_history_sync(val.hotkey_ss58)
    while_down = [r for r in records if r.time > down_at]
    from_epoch = [r for r in while_down if r.uids != (burn_uid,)]
    burned = [r for r in records if r.uids == (burn_uid,)]
    # Weights kept coming from the validated epoch (the miner paid) with no API to talk to...
    assert len(records) > before >= 1
    assert from_epoch and all(miner_uid in r.uids for r in from_epoch), records
    blocks = [r.block for r in records]
    assert blocks == sorted(blocks) and len(set(blocks)) == len(blocks)
    # (The interval is kept on the block the validator read before each call; the chain stamps
    # the block of inclusion, which a loaded machine delays by varying amounts, so gaps between
    # stamped blocks are not asserted.)
    # ...until the epoch was too old; burn came no earlier than the rule allows, and after
    # it every setting burns (nothing validated since).
    assert burned and min(r.time for r in burned) >= burn_due.timestamp() - 1.0
    first_burn = records.index(burned[0])
    assert all(r.uids == (burn_uid,) for r in records[first_burn:])
    assert all(r.weights_u16 == (65_535,) for r in burned)
    # The validator's /metrics saw the same: failed rounds, epoch and burn settings.
    assert round_errors is not None and round_errors >= 1, validator.tail()
    assert epoch_sets is not None and epoch_sets >= 2
    assert burn_sets is not None and burn_sets >= 1
    assert last_block is not None and last_block >= burned[0].block
    assert "weights set at block" in validator.text()
    timer.report(
        f"weights never stop ({len(while_down)} settings with the API down, "
        f"{len(burned)} to burn, epoch {EPOCH_SECONDS}s)"
    )
