"""Drill: a validator is SIGKILLed mid-validation and resumes from its workdir checkpoint.

A real miner fills a short epoch; once the API completes it, two `resi validate --once`
processes start on it. Validator A is killed as soon as its checkpoint shows the downloads done
(its spot-check lookups, slowed down by a laggy market, are still running). Rerun on the same
workdir it must not download anything again and must post the same consensus hash as validator
B, which ran uninterrupted.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from resi.chain.devnet import DevnetChain
from resi.epoch.models import EpochState
from resi.s3.local import LocalS3
from resi.validate.checkpoint import CHECKPOINT_NAME, EpochCheckpoint
from tests.drills.harness import (
    BLOCK_TIME,
    NETUID,
    Proc,
    Timer,
    api_env,
    api_proc,
    clean_env,
    drill_catalog,
    events,
    free_port,
    market_thread,
    miner_proc,
    pick_epoch,
    resi_argv,
    running,
    seed_catalog,
    start_api,
    wait_until,
    with_store,
)

pytestmark = pytest.mark.drill


def validator_proc(
    name: str, wallet: Any, api_url: str, sim_url: str, workdir: Path, chain: Path, logs: Path
) -> Proc:
    argv = resi_argv(
        "validate", "--once", "--json",
        "--wallet", wallet.name, "--hotkey", wallet.hotkey, "--wallet-path", str(wallet.path),
        "--api-url", api_url, "--source", "sim", "--sim-url", sim_url, "--workdir", str(workdir),
        "--set", "lookup_concurrency=1",
    )  # fmt: skip
    env = clean_env(
        RESI_NETWORK="devnet",
        RESI_NETUID=str(NETUID),
        RESI_DEVNET_CHAIN_PATH=str(chain),
        RESI_BLOCK_TIME=str(BLOCK_TIME),
        RESI_LOG_LEVEL="WARNING",
    )
    return Proc(name, argv, env, logs / f"{name}.log")


def outcome_hash(proc: Proc, epoch_id: str) -> str:
    found = [
        e for e in proc.json_lines() if e.get("epoch_id") == epoch_id and "consensus_hash" in e
    ]
    assert found, proc.tail()
    return str(found[-1]["consensus_hash"])


def read_json(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except (FileNotFoundError, ValueError):
        return {}


def read_checkpoint(path: Path, epoch_id: str) -> dict[str, Any]:
    """The checkpoint's downloads and lookups (as JSON), as a restarted validator would see them."""
    ckpt = EpochCheckpoint.load(path, epoch_id)
    return {
        "downloads": ckpt.downloads,
        "lookups": {k: v.to_json() for k, v in ckpt.lookups.items()},
    }


@pytest.mark.timeout(600)  # the epoch's own length plus validation on a loaded machine
def test_validator_killed_mid_validation_resumes_to_same_hash(
    tmp_path: Path, local_s3: LocalS3, wallets: Callable[[int], list[Any]]
) -> None:
    timer = Timer()
    catalog = drill_catalog()
    db_url = f"sqlite:///{tmp_path / 'api.db'}"
    seed_catalog(db_url, catalog)
    miner_w, val_a, val_b = wallets(3)
    chain = DevnetChain(tmp_path / "chain.sqlite", netuid=NETUID, block_time=BLOCK_TIME)
    chain.register(miner_w.hotkey_ss58, miner_w.coldkey_ss58, 10.0, False)
    for v in (val_a, val_b):
        chain.register(v.hotkey_ss58, v.coldkey_ss58, 5_000.0, True)
    # The epoch must outlast API start-up plus mining, then end soon (short wait to COMPLETED).
    # 90 s leaves a loaded 2-core machine room for both (mining alone took 22 s at load ~10).
    plan = pick_epoch(min_left=90, max_left=120, max_length=300)
    api = api_proc(
        "api", api_env(db_url, local_s3, chain.path, plan.seconds), free_port(), tmp_path
    )

    with (
        market_thread(catalog) as fast,
        market_thread(catalog, latency=0.3) as slow,  # same seed and clock: same listings
        running(api),
    ):
        url = start_api(api)
        miner = miner_proc("miner", miner_w, url, fast.url, tmp_path / "miner", tmp_path,
                           concurrency=4)  # fmt: skip
        with running(miner):
            miner.start()
            miner.wait(timeout=plan.left + 5)
        assert miner.returncode == 0, miner.tail()
        outcome = events(miner, "outcome")[-1]
        assert outcome["epoch_id"] == plan.epoch_id
        assert outcome["committed"] == outcome["zipcodes"], outcome
        timer.mark("mined")

        def completed() -> bool:
            epoch = with_store(db_url, lambda s: s.get_epoch(plan.epoch_id))
            return epoch is not None and epoch.state == EpochState.COMPLETED

        wait_until("the epoch to complete", completed, within=plan.left + 15, procs=(api,))
        timer.mark("completed")

        work_a = tmp_path / "val-a"
        ckpt = work_a / "epochs" / plan.epoch_id / CHECKPOINT_NAME
        a1 = validator_proc("val-a-1", val_a, url, slow.url, work_a, chain.path, tmp_path)
        b = validator_proc("val-b", val_b, url, slow.url, tmp_path / "val-b", chain.path, tmp_path)
        with running(b):
            with running(a1):
                a1.start()
                b.start()
                wait_until("A's download checkpoint", ckpt.exists, within=120, procs=(a1,))
                a1.kill()
                timer.mark("a_killed")
            at_kill = read_checkpoint(ckpt, plan.epoch_id)
            finished_at_kill = read_json(work_a / "state.json").get("finished", {})
            files = sorted((work_a / "epochs" / plan.epoch_id / "files").rglob("*.parquet"))
            mtimes = {p: p.stat().st_mtime_ns for p in files}

            a2 = validator_proc("val-a-2", val_a, url, slow.url, work_a, chain.path, tmp_path)
            with running(a2):
                a2.start()
                assert a2.wait(timeout=180) == 0, a2.tail()
                timer.mark("a_resumed_done")
            assert b.wait(timeout=180) == 0, b.tail()
            timer.mark("b_done")

    # A really was killed mid-validation: downloads checkpointed, epoch not finished.
    assert plan.epoch_id not in finished_at_kill
    assert len(at_kill["downloads"]) == outcome["zipcodes"]
    assert all(d["status"] == "OK" for d in at_kill["downloads"].values())
    # The rerun resumed: no file downloaded again, the checkpoint's verdicts kept.
    assert files and {p: p.stat().st_mtime_ns for p in files} == mtimes
    final = read_checkpoint(ckpt, plan.epoch_id)
    assert final["downloads"] == at_kill["downloads"]
    for key, lookup in at_kill["lookups"].items():
        assert final["lookups"][key] == lookup

    hash_a, hash_b = outcome_hash(a2, plan.epoch_id), outcome_hash(b, plan.epoch_id)
    assert hash_a == hash_b
    results = with_store(db_url, lambda s: s.validator_results(plan.epoch_id))
    assert {r.validator_hotkey: r.consensus_hash for r in results} == {
        val_a.hotkey_ss58: hash_a,
        val_b.hotkey_ss58: hash_b,
    }
    timer.report(
        f"validator kill (epoch {plan.seconds}s, {len(at_kill['lookups'])} lookups at kill, "
        f"{len(final['lookups'])} in the end)"
    )
