"""Drill: the API is down for a whole epoch; nothing is configured for the fallback.

Real processes on loopback: `resi serve-api` (no wallet: it signs with its secret-derived key),
one `resi validate` with its relay (published as its axon on the devnet chain) and `resi mine`
runs with neither relay URLs nor the API's key configured.

- Epoch A: the miner works normally (and learns the API's key). The validator's relay caches
  epoch B's signed document as B starts; then the API is killed.
- Epoch B (the API is down all along): a miner run finds the relay on the chain, verifies the
  relayed assignment with the learned key, scrapes every zipcode and queues the files (no upload
  grant can be had), until its deadline.
- Epoch C: the API is back. The queued files are delivered and the API judges them: refused,
  409 ``EPOCH_CLOSED`` (the deadline is the API's). Epoch B has no commit at all, so validators
  treat it as void (``resi.validate.weights_keeper``): weights keep paying from epoch A rather
  than burning B's emission.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from resi.api.assignment_doc import SignedAssignment
from resi.chain.devnet import DevnetChain
from resi.epoch.clock import EpochClock
from resi.s3.local import LocalS3
from resi.scrape.late_commits import LATE_FILE
from resi.scrape.relay_client import PIN_FILE
from resi.wallet import load_keypair
from tests.drills.harness import (
    BLOCK_TIME,
    NETUID,
    Proc,
    Timer,
    api_env,
    api_proc,
    api_url,
    clean_env,
    drill_catalog,
    events,
    free_port,
    market_thread,
    pick_epoch,
    register_roles,
    resi_argv,
    run_to_end,
    running,
    seed_catalog,
    start_api,
    wait_until,
    with_store,
)
from tests.relay.test_validator_relay import signed_get

pytestmark = pytest.mark.drill

WEIGHTS_INTERVAL = 4  # blocks (2 s)


def chain_env(chain: Path, **extra: str) -> dict[str, str]:
    return clean_env(
        RESI_NETWORK="devnet",
        RESI_NETUID=str(NETUID),
        RESI_DEVNET_CHAIN_PATH=str(chain),
        RESI_BLOCK_TIME=str(BLOCK_TIME),
        **extra,
    )


def miner_run(name: str, wallet: Any, api: str, sim: str, workdir: Path, env: dict[str, str],
              logs: Path) -> Proc:  # fmt: skip
    """`resi mine --once`: no relay URL, no API key (both come from the chain and the API)."""
    argv = resi_argv(
        "mine", "--once", "--json",
        "--wallet", wallet.name, "--hotkey", wallet.hotkey, "--wallet-path", str(wallet.path),
        "--api-url", api, "--source", "sim", "--sim-url", sim, "--workdir", str(workdir),
    )  # fmt: skip
    return Proc(name, argv, env, logs / f"{name}.log")


def relayed_epoch(keypair: Any, relay_url: str) -> str | None:
    """The epoch id the relay serves right now (None: nothing, or unreachable)."""
    try:
        with httpx.Client(timeout=2.0) as http:
            response = http.send(signed_get(keypair, relay_url))
    except httpx.TransportError:
        return None
    if response.status_code != 200:
        return None
    return str(SignedAssignment.model_validate_json(response.content).document["epoch_id"])


def finished(workdir: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((workdir / "state.json").read_text())["finished"])
    except (FileNotFoundError, ValueError, KeyError):
        return {}


@pytest.mark.timeout(900)  # three short epochs plus validation on a loaded machine
def test_api_down_for_a_whole_epoch(
    tmp_path: Path, local_s3: LocalS3, wallets: Callable[[int], list[Any]]
) -> None:
    timer = Timer()
    catalog = drill_catalog()
    db_url = f"sqlite:///{tmp_path / 'api.db'}"
    seed_catalog(db_url, catalog)
    owner, miner, val = wallets(3)
    chain = DevnetChain(tmp_path / "chain.sqlite", netuid=NETUID, block_time=BLOCK_TIME)
    uids = register_roles(chain, owner, miner, val)  # the owner's uid 0 is the burn uid
    miner_uid = uids[miner.hotkey_ss58]

    # Epoch A must leave room for one miner run; every later wait is on an event.
    plan = pick_epoch(min_left=45, max_length=180)
    clock = EpochClock(plan.seconds)
    epoch_a = plan.epoch_id
    epoch_b = clock.next_id(epoch_a, 1)
    api = api_proc("api", api_env(db_url, local_s3, chain.path, plan.seconds), free_port(),
                   tmp_path)  # fmt: skip
    relay_port = free_port()
    vworkdir = tmp_path / "val"
    mworkdir = tmp_path / "miner"
    menv = chain_env(chain.path, RESI_POLL_SECONDS="0.5", RESI_HTTP_TIMEOUT="3")
    relay_url = f"http://127.0.0.1:{relay_port}"
    miner_key = load_keypair(miner.name, miner.hotkey, miner.path)

    with market_thread(catalog) as market, running(api), contextlib.ExitStack() as stack:
        vargv = resi_argv(
            "validate", "--json",
            "--wallet", val.name, "--hotkey", val.hotkey, "--wallet-path", str(val.path),
            "--api-url", api_url(api), "--source", "sim", "--sim-url", market.url,
            "--workdir", str(vworkdir), "--weights-interval", str(WEIGHTS_INTERVAL),
            "--relay-port", str(relay_port), "--set", "lookup_concurrency=1",
        )  # fmt: skip
        validator = Proc(
            "validator",
            vargv,
            chain_env(
                chain.path,
                RESI_RELAY_HOST="127.0.0.1",
                RESI_WEIGHTS_RATE_LIMIT="1",
                RESI_POLL_SECONDS="0.5",
                RESI_HTTP_TIMEOUT="3",
                RESI_BURN_UID=str(uids[owner.hotkey_ss58]),
                RESI_EPOCH_SECONDS=str(plan.seconds),
                RESI_WEIGHTS_STALE_EPOCHS="20",
                RESI_LOG_LEVEL="INFO",
            ),
            tmp_path / "validator.log",
        )
        stack.enter_context(running(validator))
        url = start_api(api)
        validator.start()
        timer.mark("api_and_validator_up")
        # --- epoch A: a normal run; the miner learns the API's key from the API.
        first = run_to_end(
            miner_run("miner-a", miner, url, market.url, mworkdir, menv, tmp_path),
            within=plan.left + 60,
        )
        outcome_a = events(first, "outcome")[-1]
        assert outcome_a["epoch_id"] == epoch_a and outcome_a["committed"] > 0, outcome_a
        assert (mworkdir / PIN_FILE).is_file()
        timer.mark("epoch_a_committed")
        # --- epoch B starts: once the validator's relay holds it, the API dies for all of B.
        wait_until(
            "the relay to serve epoch B",
            lambda: relayed_epoch(miner_key, relay_url) == epoch_b,
            within=clock.length.total_seconds() * 2 + 60,
            procs=(validator, api),
        )
        api.kill()
        timer.mark("api_killed")
        second = run_to_end(
            miner_run("miner-b", miner, url, market.url, mworkdir, menv, tmp_path),
            within=clock.length.total_seconds() + 120,
        )
        timer.mark("epoch_b_deadline")
        outcome_b = events(second, "outcome")[-1]
        scraped_b = {e["zipcode"] for e in events(second, "zipcode_scraped")}
        # --- epoch C: the API returns; the queue is delivered and judged.
        assert datetime.now(UTC) >= clock.window(epoch_b).deadline
        start_api(api)
        timer.mark("api_back")
        third = run_to_end(
            miner_run("miner-c", miner, url, market.url, mworkdir, menv, tmp_path),
            within=clock.length.total_seconds() + 120,
        )
        timer.mark("queue_judged")
        wait_until(
            "the validator to validate epochs A and B",
            lambda: {epoch_a, epoch_b} <= set(finished(vworkdir)),
            within=clock.length.total_seconds() * 2 + 180,
            procs=(validator, api),
        )
        b_done = time.time()
        timer.mark("a_and_b_validated")
        wait_until(
            "weights set after the void epoch was validated",
            lambda: any(r.time > b_done for r in chain.weights_history_sync(val.hotkey_ss58)),
            within=60,
            procs=(validator,),
        )
        timer.mark("weights_after_b")
        assert validator.alive, validator.tail()

    # Epoch B came from the relay the chain named, verified with the key learned from the API.
    relayed = [e for e in events(second, "api_unavailable") if "relayed" in e.get("detail", "")]
    assert relayed and relayed[0]["epoch_id"] == epoch_b, second.tail()
    assigned_b = with_store(db_url, lambda s: s.get_assignments(epoch_b))
    assert scraped_b == {a.zipcode for a in assigned_b}
    assert outcome_b["epoch_id"] == epoch_b and outcome_b["committed"] == 0
    assert outcome_b.get("deadline_reached")
    # When the API returned, every queued file of B was refused by the API's own clock.
    refused = [e for e in events(third, "zipcode_failed") if e.get("epoch_id") == epoch_b]
    assert {e["zipcode"] for e in refused} == scraped_b
    assert all("refused: 409 EPOCH_CLOSED" in e["detail"] for e in refused), refused
    assert (mworkdir / "epochs" / epoch_b / LATE_FILE).is_file()
    assert with_store(db_url, lambda s: s.list_commits(epoch_b)) == []
    # B is void: validated with no submission; weights keep paying the miner from epoch A.
    done = finished(vworkdir)
    assert done[epoch_b]["submissions"] == 0
    assert done[epoch_a]["submissions"] > 0
    assert done[epoch_a]["scores"].get(miner.hotkey_ss58, 0) > 0
    after = [r for r in chain.weights_history_sync(val.hotkey_ss58) if r.time > b_done]
    assert after and all(miner_uid in r.uids for r in after), after
    assert "from epoch " + epoch_a in validator.text()
    timer.report(
        f"API down for epoch {epoch_b} ({plan.seconds}s epochs): {len(scraped_b)} files queued "
        f"and refused on return; weights kept from {epoch_a}"
    )
