"""A deliberately misconfigured validator finds out why it disagrees (issue 16, item 1).

Real API (SQLite) + SeaweedFS + simulated market + devnet chain, three validators on one
epoch. Two run the default rules; the third runs with ``tier1_max_ratio=0.5`` (so every honest
file is "too many rows"). After posting, the third reads the consensus view, finds itself in
the minority (it posted first, so it finds out on its next round), fetches the majority's report
through the API, re-derives, and exports the first differing decisions.
`resi replay-epoch ID --compare HOTKEY` prints the same diff for a person. The consensus view
reports quorum; nobody's weights are copied.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from bittensor.sp_core import Keypair

from resi.chain.devnet import DevnetChain
from resi.config import ValidatorSettings
from resi.errors import ApiError
from resi.scrape.source import open_source
from resi.validate.diagnose import DIFF_NAME, diff_reports, recheck_newest
from resi.validate.loop import Validator
from resi.validate.report import load_report
from tests.drills.harness import clean_env, resi_argv
from tests.fixtures.api import NETUID
from tests.validate.test_validator_e2e import World
from tests.validate.test_validator_e2e import world as e2e_world  # noqa: F401  (fixture)


def _validator(
    world: World, tmp: Path, name: str, key: Any, http: httpx.AsyncClient, **rules: Any
) -> Validator:
    s = world.server
    settings = ValidatorSettings(
        api_url=s.base_url,
        network="devnet",
        netuid=NETUID,
        devnet_chain_path=s.settings.devnet_chain_path,
        block_time=0.5,
        source="sim",
        sim_url=world.market.url,
        workdir=tmp / name,
        weights_interval=1,
        lookup_concurrency=4,
        **rules,
    )
    chain = DevnetChain(
        s.settings.devnet_chain_path,
        netuid=NETUID,
        block_time=0.5,
        signer_hotkey=key.ss58_address,
        timeout=10.0,
    )
    source = open_source("sim", sim_url=world.market.url, max_attempts=1)
    return Validator(
        s.client(key), chain, source, key.ss58_address, settings.workdir, settings, http,
        lookup_backoff=0.01,
    )  # fmt: skip


async def _close(v: Validator) -> None:
    await v.client.aclose()
    await v.source.aclose()
    await v.chain.close()


@pytest.mark.anyio
async def test_misconfigured_validator_exports_the_first_differing_decisions(
    e2e_world: World,  # noqa: F811
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    wallets: Callable[[int], list[Any]],
) -> None:
    world = e2e_world
    s = world.server
    epoch_id = world.epoch.epoch_id
    key_b = Keypair.create_from_uri("//diag-validator-b")
    key_c = Keypair.create_from_uri("//diag-validator-c")
    s.chain.register(key_b.ss58_address, "5cold-vb", 5_000.0, True)
    s.chain.register(key_c.ss58_address, "5cold-vc", 5_000.0, True)
    await s.refresh_metagraph()

    caplog.set_level(logging.INFO, logger="resi.validate.diagnose")
    async with httpx.AsyncClient(timeout=20) as http:
        a = _validator(world, tmp_path, "a", s.keys.validator, http)
        b = _validator(world, tmp_path, "b", key_b, http)
        c = _validator(world, tmp_path, "c", key_c, http, tier1_max_ratio=0.5)
        try:
            # c posts first: alone, it is the majority and sees nothing wrong yet...
            out_c = await c.validate(epoch_id)
            assert not (out_c.report_path.parent / DIFF_NAME).exists()
            out_a = await a.validate(epoch_id)
            out_b = await b.validate(epoch_id)
            # ...its next round re-reads the changed view and diagnoses; an unchanged view
            # is not diagnosed twice
            rechecked = await recheck_newest(c)
            assert rechecked is not None
            assert await recheck_newest(c) is None
            async with s.client(None) as public:
                consensus = await public.consensus(epoch_id)
            # the report link is for validators only, and only for a posted report
            with pytest.raises(ApiError) as refused:
                async with s.client(s.keys.miner) as miner:
                    await miner.report_link(epoch_id, key_b.ss58_address)
            with pytest.raises(ApiError) as missing:
                await a.client.report_link(epoch_id, s.keys.miner.ss58_address)
            with pytest.raises(ApiError) as still_open:
                await a.client.report_link(s.epochs.active.epoch_id, key_b.ss58_address)
            weights_c = await c.maybe_set_weights(force=True)
        finally:
            for v in (a, b, c):
                await _close(v)

    assert out_a.consensus_hash == out_b.consensus_hash != out_c.consensus_hash
    assert refused.value.status == 403
    assert missing.value.status == 404 and missing.value.code == "NO_REPORT"
    assert still_open.value.status == 409
    # The consensus view: 2 of 3 agree, and they hold enough stake for quorum.
    assert consensus.majority_hash == out_a.consensus_hash
    assert consensus.outliers == [key_c.ss58_address]
    assert consensus.agreement == pytest.approx(2 / 3)
    assert consensus.quorum is True and 0.5 <= consensus.majority_stake_share < 1

    # The minority validator exported the diff: its setting, then the first decisions.
    diff = json.loads((out_c.report_path.parent / DIFF_NAME).read_text())
    assert diff["cause"] == "rules"
    assert diff["majority_hash"] == out_a.consensus_hash
    assert diff["rederived_hash"] == out_c.consensus_hash
    assert diff["scoring"] == {"tier1_max_ratio": [0.5, None]}
    first = diff["decisions"][0]
    assert first["tier"] == "tier1" and first["reason"] == "T1_TOO_MANY"
    assert first["zipcode"] == "10001"  # sorted by zipcode, then commit order
    assert "T1_TOO_MANY" in first["own"]["reasons"]
    assert "T1_TOO_MANY" not in first["other"]["reasons"]
    logged = [r.getMessage() for r in caplog.records if "consensus diff" in r.getMessage()]
    assert any("T1_TOO_MANY" in line and "tier1" in line for line in logged)
    assert c.metrics.diffs.get("rules") == 1 and c.metrics.agreement.get() == 0.0
    assert a.metrics.diffs.get("rules") == 0  # the majority never diagnoses
    assert rechecked == diff
    # It never copies weights: what it sets comes from its own (minority) scores.
    assert weights_c is not None and weights_c.ok
    assert c.state.finished[epoch_id]["consensus_hash"] == out_c.consensus_hash

    # The same diff for a person: `resi replay-epoch ID --compare HOTKEY` (a real process,
    # reading its own report from validator c's workdir and a's through the API and S3).
    (person,) = wallets(1)
    s.chain.register(person.hotkey_ss58, person.coldkey_ss58, 5_000.0, True)
    await s.refresh_metagraph()
    argv = resi_argv(
        "replay-epoch", epoch_id, "--compare", s.keys.validator.ss58_address, "--json",
        "--workdir", str(tmp_path / "c"), "--api-url", s.base_url,
        "--wallet", person.name, "--hotkey", person.hotkey, "--wallet-path", str(person.path),
    )  # fmt: skip
    run = await anyio.run_process(argv, check=False, env=clean_env())
    assert run.returncode == 1, run.stderr.decode()  # the hashes differ
    printed = json.loads(run.stdout)
    expected = diff_reports(load_report(out_c.report_path), load_report(out_a.report_path))
    assert printed["decisions"] == expected["decisions"] == diff["decisions"]
    assert printed["source"].startswith("local validator workdir")
    # With no option at all it finds the report by itself and names the source.
    argv = resi_argv("replay-epoch", epoch_id, "--workdir", str(tmp_path / "c"), "--json")
    run = await anyio.run_process(argv, check=False, env=clean_env())
    assert run.returncode == 0, run.stderr.decode()
    replayed = json.loads(run.stdout)
    assert replayed["consensus_hash"] == out_c.consensus_hash and replayed["match"] is True
    assert replayed["source"].startswith("local validator workdir")
