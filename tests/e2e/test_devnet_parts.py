"""Fast tests of the devnet's own pieces: plan, process supervision, fakes, summary tables."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
from aiohttp import web

from resi.chain.base import WeightsRecord
from resi.chain.conform import conform_weights
from resi.devnet import fakes
from resi.devnet.identities import Identities, Identity
from resi.devnet.orchestrator import choose_mined_epochs
from resi.devnet.plan import CHEATERS, DevnetPlan, behaviours_for, sybil_victims
from resi.devnet.procs import Supervisor, free_port, wait_http_ok
from resi.devnet.report import expected_weights, summarise_epoch
from resi.epoch.clock import EpochClock
from resi.errors import ConfigError, DevnetError
from resi.score.models import BURN_KEY
from resi.scrape.listing import Listing
from resi.wallet import WalletInfo

# --------------------------------------------------------------------------- plan


def test_scenario_is_cycled_to_the_miner_count() -> None:
    assert behaviours_for("honest", 5) == ("honest", "honest", "honest-slow", "honest", "honest")
    assert behaviours_for("lazy", 2) == ("lazy", "lazy")
    assert behaviours_for("honest,late", None) == ("honest", "late")
    assert len(behaviours_for("mixed", None)) >= 4


def test_unknown_scenario_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown scenario"):
        behaviours_for("nope", None)
    with pytest.raises(ConfigError):
        behaviours_for("mixed", 0)


def test_sybil_copies_the_first_honest_miner() -> None:
    assert sybil_victims(("fabricator", "honest", "sybil")) == {2: 1}
    with pytest.raises(ConfigError, match="sybil"):
        sybil_victims(("sybil",))


def test_default_scenario_mixes_honest_miners_and_cheaters() -> None:
    mixed = behaviours_for("mixed", None)
    assert "honest" in mixed
    assert set(mixed) & CHEATERS


@pytest.mark.parametrize("seconds", [15, 70])  # too short; does not divide a day
def test_plan_rejects_unusable_epoch_lengths(tmp_path: Path, seconds: int) -> None:
    plan = DevnetPlan(("honest",), 1, 1, seconds, tmp_path, keep=False)
    with pytest.raises(ConfigError):
        plan.validate()


def test_mines_the_current_epoch_only_when_most_of_it_is_left() -> None:
    clock = EpochClock(60)
    early = datetime(2026, 1, 1, 0, 0, 5, tzinfo=UTC)
    late = datetime(2026, 1, 1, 0, 0, 40, tzinfo=UTC)
    assert choose_mined_epochs(clock, early, 2) == ["2026-01-01T00-00-00", "2026-01-01T00-01-00"]
    assert choose_mined_epochs(clock, late, 1) == ["2026-01-01T00-01-00"]


# --------------------------------------------------------------------------- processes


def test_free_port_can_be_bound() -> None:
    import socket

    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


@pytest.mark.anyio
async def test_supervisor_reports_a_crashed_child_with_its_log(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path)
    await sup.start("boom", [sys.executable, "-c", "print('kaput'); raise SystemExit(3)"])
    await _eventually(lambda: bool(sup.crashed()))
    with pytest.raises(DevnetError, match="boom exited with code 3") as info:
        sup.check()
    assert "kaput" in str(info.value)
    assert info.value.log_path == str(tmp_path / "boom.log")
    await sup.stop_all()


@pytest.mark.anyio
async def test_stop_all_terminates_children_and_their_children(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path)
    code = (
        "import subprocess, sys, time;"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
        "print(p.pid, flush=True); time.sleep(60)"
    )
    child = await sup.start("sleeper", [sys.executable, "-c", code])
    await _eventually(lambda: bool(child.log_path.read_text().strip()))
    grandchild = int(child.log_path.read_text().split()[0])
    await sup.stop_all(grace=5)
    assert child.returncode is not None
    # The grandchild is gone (or a zombie waiting for init to reap it).
    await _eventually(lambda: _proc_state(grandchild) == "Z")


async def _eventually(predicate: Callable[[], bool], within: float = 20.0) -> None:
    """Wait until ``predicate()`` holds; fail the test after ``within`` seconds."""
    for _ in range(int(within / 0.05)):
        if predicate():
            return
        await anyio.sleep(0.05)
    raise AssertionError("condition not reached in time")


def _proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0]
    except (OSError, IndexError):
        return "Z"


@pytest.mark.anyio
async def test_wait_http_ok_returns_once_the_server_answers() -> None:
    async def health(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/health", health)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await wait_http_ok(f"http://127.0.0.1:{port}/health", within=10)
        with pytest.raises(DevnetError, match="did not answer 200"):
            await wait_http_ok(f"http://127.0.0.1:{port}/missing", within=0.5)
    finally:
        await runner.cleanup()


@pytest.mark.anyio
async def test_wait_http_ok_fails_fast_when_the_child_dies(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path)
    child = await sup.start("api", [sys.executable, "-c", "raise SystemExit(2)"])
    with anyio.fail_after(20), pytest.raises(DevnetError, match="api exited with code 2"):
        await wait_http_ok(f"http://127.0.0.1:{free_port()}/health", within=60, child=child)
    await sup.stop_all()


# --------------------------------------------------------------------------- fakes


def _listing(i: int, zipcode: str = "10001") -> Listing:
    return Listing(
        listing_id=str(1000 + i),
        source="sim",
        url=f"http://sim/homedetails/{1000 + i}_zpid/",
        zipcode=zipcode,
        address=f"{i} Main St",
        city="New York",
        state="NY",
        price=500_000 + i,
        status="FOR_SALE",
        property_type="CONDO",
        scraped_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def test_padder_adds_about_a_tenth_of_invented_listings() -> None:
    real = [_listing(i) for i in range(100)]
    padded = fakes.pad(real, 0.10, fakes.rng_for("t"))
    real_ids = {r.listing_id for r in real}
    fake = [p for p in padded if p.listing_id not in real_ids]
    assert len(padded) == 110 and len(fake) == 10
    assert all(f.listing_id in f.url for f in fake)  # passes tier 2's url/id consistency
    assert len({p.listing_id for p in padded}) == 110


def test_fabricator_invents_every_listing_and_is_repeatable() -> None:
    real = [_listing(i) for i in range(20)]
    one = fakes.fabricate_all(real, fakes.rng_for("seed"))
    two = fakes.fabricate_all(real, fakes.rng_for("seed"))
    assert one == two
    assert not {f.listing_id for f in one} & {r.listing_id for r in real}


def test_lazy_keeps_half_and_honeypot_responder_fills_empty_zipcodes() -> None:
    real = [_listing(i) for i in range(11)]
    assert len(fakes.halve(real)) == 5
    filled = fakes.fill_empty("99999", 7, "TX", "Nowhere", real, fakes.rng_for("h"))
    assert len(filled) == 7 and {f.zipcode for f in filled} == {"99999"}
    assert fakes.fill_empty("99999", 7, "TX", "Nowhere", [], fakes.rng_for("h")) == []


# --------------------------------------------------------------------------- summary


def _identity(role: str, name: str, behaviour: str, uid: int) -> Identity:
    hotkey = f"5{name.upper():0<47}"
    return Identity(role, name, behaviour, uid, WalletInfo(name, "default", "5C", hotkey, Path()))


def _identities() -> Identities:
    return Identities(
        burn=_identity("burn", "owner", "burn", 0),
        api=_identity("api", "api", "api", 1),
        validators=(_identity("validator", "v0", "validator", 2),),
        miners=(
            _identity("miner", "honest", "honest", 3),
            _identity("miner", "liar", "fabricator", 4),
        ),
    )


def test_summary_joins_report_chain_weights_and_consensus() -> None:
    ids = _identities()
    honest, liar = ids.miners
    v = ids.validators[0]
    report: dict[str, Any] = {
        "epoch_id": "2026-01-01T00-00-00",
        "consensus_hash": "ab" * 32,
        "scores": {honest.hotkey: 0.9, BURN_KEY: 0.1, liar.hotkey: 0.0},
        "winners": {"10001": [honest.hotkey]},
        "assignments": [
            {"zipcode": "10001", "expected_listings": 100, "honeypot": False},
            {"zipcode": "99999", "expected_listings": 80, "honeypot": True},
        ],
        "decisions": [
            {"zipcode": "10001", "hotkey": liar.hotkey, "position": 0, "reasons": ["T3_NOT_FOUND"],
             "liar": True, "rank": None},
            {"zipcode": "10001", "hotkey": honest.hotkey, "position": 1, "reasons": ["RANKED"],
             "liar": False, "rank": 1},
        ],
    }  # fmt: skip
    conformed = conform_weights([0, 3], [0.1, 0.9], self_uid=2)
    record = WeightsRecord(46, 10, v.hotkey, 2, conformed.uids, conformed.weights_u16, 0.0)
    assert expected_weights(report["scores"], ids, v.uid) == (
        conformed.uids,
        conformed.weights_u16,
    )
    summary = summarise_epoch(
        "2026-01-01T00-00-00", {v.hotkey: report}, ids, {v.hotkey: [record]},
        {v.hotkey: "ab" * 32}, "ab" * 32, 1.0,
        {"liar": ["commit refused: 409 EPOCH_CLOSED"]},
    )  # fmt: skip
    rows = {m.name: m for m in summary.miners}
    assert rows["honest"].ranks == (("10001", 1),) and rows["honest"].chain_u16 == 65_535
    assert rows["liar"].liar and rows["liar"].chain_u16 == 0
    assert rows["liar"].reasons == ("T3_NOT_FOUND",)
    assert rows["liar"].notes == ("commit refused: 409 EPOCH_CLOSED",)
    assert summary.validators[0].weights_match and summary.validators[0].weights_block == 10
    zips = {z.zipcode: z for z in summary.zipcodes}
    assert zips["10001"].first_committer == "liar" and zips["10001"].winners == ("honest",)
    assert zips["99999"].honeypot and zips["99999"].committers == 0
    assert summary.burn_score == pytest.approx(0.1)


def test_weights_that_differ_from_the_report_do_not_match() -> None:
    ids = _identities()
    v = ids.validators[0]
    honest = ids.miners[0]
    report = {"epoch_id": "e", "scores": {honest.hotkey: 1.0}, "decisions": []}
    record = WeightsRecord(46, 3, v.hotkey, 2, (0,), (65_535,), 0.0)
    summary = summarise_epoch("e", {v.hotkey: report}, ids, {v.hotkey: [record]}, {}, None, 0.0)
    assert not summary.validators[0].weights_match


def test_weights_set_before_the_report_was_written_do_not_count() -> None:
    # Two epochs with equal scores: the older setting must not pass for this epoch's weights.
    ids = _identities()
    v = ids.validators[0]
    honest = ids.miners[0]
    report = {"epoch_id": "e", "scores": {honest.hotkey: 1.0}, "decisions": []}
    old = WeightsRecord(46, 3, v.hotkey, 2, (3,), (65_535,), 100.0)
    summary = summarise_epoch(
        "e", {v.hotkey: report}, ids, {v.hotkey: [old]}, {}, None, 0.0, written_at={v.hotkey: 150.0}
    )
    assert not summary.validators[0].weights_match
    new = WeightsRecord(46, 9, v.hotkey, 2, (3,), (65_535,), 160.0)
    summary = summarise_epoch(
        "e", {v.hotkey: report}, ids, {v.hotkey: [old, new]}, {}, None, 0.0,
        written_at={v.hotkey: 150.0},
    )  # fmt: skip
    assert summary.validators[0].weights_block == 9


def test_tables_show_winners_weights_and_agreement() -> None:
    from resi.cli.common import console
    from resi.cli.devnet import render
    from resi.devnet.report import DevnetResult

    ids = _identities()
    v = ids.validators[0]
    honest = ids.miners[0]
    report = {
        "epoch_id": "2026-01-01T00-00-00",
        "consensus_hash": "cd" * 32,
        "scores": {honest.hotkey: "1.000000000"},
        "winners": {"10001": [honest.hotkey]},
        "decisions": [
            {"zipcode": "10001", "hotkey": honest.hotkey, "position": 0, "reasons": ["RANKED"],
             "liar": False, "rank": 1},
        ],
    }  # fmt: skip
    record = WeightsRecord(46, 12, v.hotkey, 2, (3,), (65_535,), 0.0)
    epoch = summarise_epoch(
        "2026-01-01T00-00-00", {v.hotkey: report}, ids, {v.hotkey: [record]},
        {v.hotkey: "cd" * 32}, "cd" * 32, 1.0,
    )  # fmt: skip
    result = DevnetResult("/tmp/x", kept=True, epochs=(epoch,), complete=True)
    with console.capture() as captured:
        render(result)
    out = captured.get()
    assert "epoch 2026-01-01T00-00-00" in out
    assert "1.0000 (65535)" in out and "match at block 12" in out
    assert "agreement 100%" in out and "replay-epoch" in out


def test_tables_show_each_validators_agreement_and_the_quorum() -> None:
    """Issue 16: per validator, whether it posted the majority hash; per epoch, the quorum."""
    from dataclasses import replace

    from resi.cli.common import console
    from resi.cli.devnet import render
    from resi.devnet.report import DevnetResult

    base = _identities()
    ids = Identities(
        burn=base.burn,
        api=base.api,
        validators=(*base.validators, _identity("validator", "v1", "validator", 5)),
        miners=base.miners,
    )
    v0, v1 = ids.validators[0], ids.validators[1]
    posted = {v0.hotkey: "cd" * 32, v1.hotkey: "ef" * 32}
    epoch = summarise_epoch(
        "2026-01-01T00-00-00", {}, ids, {}, posted, "cd" * 32, 0.5,
    )  # fmt: skip
    assert epoch.agrees(epoch.validators[0]) is True
    assert epoch.agrees(epoch.validators[1]) is False
    for quorum, text in ((False, "quorum not reached"), (True, "quorum reached")):
        shown = replace(epoch, quorum=quorum, majority_stake_share=0.4)
        with console.capture() as captured:
            render(DevnetResult("/tmp/x", kept=True, epochs=(shown,), complete=False))
        out = " ".join(captured.get().split())  # the console wraps at its width
        assert "agreement 50%" in out and text in out and "majority stake 40%" in out
        assert "agrees" in out


# --------------------------------------------------------------------------- child commands


def _endpoints() -> Any:
    from resi.devnet.commands import Endpoints

    return Endpoints(8000, 8100, "http://127.0.0.1:9000", "resi-data", "us-east-1", "ak", "sk")


def test_every_child_shares_the_chain_file_and_fast_blocks(tmp_path: Path) -> None:
    from resi.devnet import commands

    plan = DevnetPlan(("honest", "sybil", "late"), 2, 1, 30, tmp_path, keep=True)
    ids = _identities()
    ids = Identities(ids.burn, ids.api, (ids.validators[0],) * 2, (*ids.miners, ids.miners[1]))
    ep = _endpoints()
    specs = [
        commands.api_server(plan, ids, ep),
        commands.validator(plan, ids, ids.validators[0], ep),
        commands.honest_miner(plan, ids, ids.miners[0], ep),
    ]
    for spec in specs:
        assert spec.env["RESI_DEVNET_CHAIN_PATH"] == str(tmp_path / "chain.sqlite")
        assert spec.env["RESI_BLOCK_TIME"] == str(plan.block_time)
        assert spec.env["RESI_NETWORK"] == "devnet"
    api, validator, miner = specs
    assert api.env["RESI_EPOCH_SECONDS"] == "30" and api.env["RESI_DB_URL"].startswith("sqlite:///")
    assert validator.env["RESI_WEIGHTS_INTERVAL"] == str(plan.weights_interval_blocks)
    assert "validate" in validator.argv and "mine" in miner.argv
    # `mine`/`validate` default to finney: the devnet chain is asked for on the command line.
    for spec in specs:
        at = spec.argv.index("--subtensor.network")
        assert spec.argv[at + 1] == "devnet"
    assert miner.env["RESI_API_HOTKEY"] == ids.api.hotkey  # signed for the API (receiver)


def test_scenario_spec_points_the_sybil_at_the_honest_miners_workdir(tmp_path: Path) -> None:
    from resi.devnet import commands

    plan = DevnetPlan(("honest", "sybil"), 1, 1, 30, tmp_path, keep=True)
    base = _identities()
    sybil = _identity("miner", "miner1-sybil", "sybil", 4)
    ids = Identities(base.burn, base.api, base.validators, (base.miners[0], sybil))
    spec = commands.scenario_spec(plan, ids, _endpoints())
    (entry,) = spec["miners"]
    assert entry["behaviour"] == "sybil"
    assert entry["victim_workdir"] == str(tmp_path / "work" / "honest")
    assert entry["victim_hotkey"] == base.miners[0].hotkey


# ------------------------------------------------------------------ mechanism v2 (issue 14)


def test_restamp_and_invented_values_keep_ids_but_change_what_tier_3_compares() -> None:
    real = [_listing(i) for i in range(20)]
    fresh = datetime(2026, 6, 1, tzinfo=UTC)
    assert {r.scraped_at for r in fakes.restamp(real, fresh)} == {fresh}
    invented = fakes.invent_values(real, fakes.rng_for("m"))
    assert [r.listing_id for r in invented] == [r.listing_id for r in real]
    # every row is off by more than tier 3's price tolerance
    assert all(i.price > r.price * 1.1 for i, r in zip(invented, real, strict=True))


def test_delisted_padder_claims_old_listings_active() -> None:
    real = [_listing(i) for i in range(10)]
    gone = [dataclasses_replace(_listing(100 + i), status="SOLD") for i in range(30)]
    padded = fakes.pad_with_delisted(real, [*real[:2], *gone], 2.0)
    assert len(padded) == 30  # 10 real + 20 delisted (real ones are not repeated)
    assert {p.status for p in padded} == {"FOR_SALE"}


def dataclasses_replace(item: Listing, **changes: Any) -> Listing:
    import dataclasses

    return dataclasses.replace(item, **changes)


def test_new_behaviours_are_cheaters_with_a_runner() -> None:
    from resi.devnet.scenarios import BEHAVIOURS as RUNNERS

    new = {
        "stale", "delisted-padder", "mismatch-fabricator", "late-fabricator",
        "honeypot-avoider", "sybil-coldkey",
    }  # fmt: skip
    assert new <= CHEATERS and new <= set(RUNNERS)
    assert sybil_victims(("honest", "sybil-coldkey")) == {1: 0}


def test_same_coldkey_sybil_is_registered_under_its_victims_coldkey(tmp_path: Path) -> None:
    from resi.devnet.identities import create_identities, open_devnet_chain

    plan = DevnetPlan(("sybil-coldkey", "honest", "fabricator"), 1, 1, 30, tmp_path, keep=True)
    ids = create_identities(plan)
    sybil, victim, other = ids.miners
    assert sybil.behaviour == "sybil-coldkey" and victim.behaviour == "honest"
    assert sybil.wallet.coldkey_ss58 == victim.wallet.coldkey_ss58
    assert sybil.hotkey != victim.hotkey
    assert other.wallet.coldkey_ss58 != victim.wallet.coldkey_ss58
    metagraph = open_devnet_chain(plan).metagraph_sync()
    coldkey_of = {n.hotkey: n.coldkey for n in metagraph.neurons}
    assert coldkey_of[sybil.hotkey] == coldkey_of[victim.hotkey] == victim.wallet.coldkey_ss58


@pytest.mark.anyio
async def test_old_scrape_is_mostly_sold_on_the_site_now(tmp_path: Path) -> None:
    """`stale`'s data: the market as it was 120 days ago; the site shows nearly all of it gone."""
    from resi.devnet.scenarios import STALE_DAYS, Ctx, MinerSpec, ScenarioSpec, _market, old_scrape
    from resi.epoch.catalog import builtin_catalog

    zipcode = next(
        z.zipcode
        for z in builtin_catalog()
        if z.zip_type == "STANDARD" and 100 <= z.expected_listings <= 300
    )
    spec = ScenarioSpec("http://api", None, "http://sim", tmp_path, 1.0, 7, ())
    miner = MinerSpec("m", "stale", "w", "h", tmp_path)
    ctx = Ctx(spec, miner, "hk", None, None, None, anyio.CapacityLimiter(1))  # type: ignore[arg-type]
    old = await old_scrape(ctx, zipcode)
    assert len(old) >= 80 and {o.zipcode for o in old} == {zipcode}
    now = datetime.now(UTC)
    data = _market(7)
    still = [o for o in old if (f := data.find(int(o.listing_id), now)) and f.status == "FOR_SALE"]
    assert len(still) < 0.2 * len(old), f"{len(still)} of {len(old)} still for sale"
    assert STALE_DAYS >= 90


# ------------------------------------------------------- outlier validator (issue 16, item 2)


def test_outlier_needs_a_majority_and_a_file_the_majority_pays(tmp_path: Path) -> None:
    def plan(behaviours: tuple[str, ...], validators: int) -> DevnetPlan:
        return DevnetPlan(
            behaviours, validators, 1, 30, tmp_path, keep=False, outlier_validator=True
        )

    with pytest.raises(ConfigError, match="--validators 3 or more"):
        plan(("honest",), 2).validate()
    with pytest.raises(ConfigError, match="honest miner"):
        plan(("fabricator", "lazy"), 3).validate()
    plan(("honest-slow", "fabricator"), 3).validate()
    assert plan(("honest",), 4).outlier_name == "validator3"
    assert DevnetPlan(("honest",), 3, 1, 30, tmp_path, keep=False).outlier_name is None


def test_only_the_last_validator_runs_the_outlier_setting(tmp_path: Path) -> None:
    from resi.config import ValidatorSettings, load_settings
    from resi.devnet import commands

    plan = DevnetPlan(("honest",), 3, 1, 30, tmp_path, keep=True, outlier_validator=True)
    base = _identities()
    validators = tuple(
        _identity("validator", f"validator{i}", "validator", 2 + i) for i in range(3)
    )
    ids = Identities(base.burn, base.api, validators, base.miners)
    envs = [commands.validator(plan, ids, v, _endpoints()).env for v in validators]
    assert [e.get("RESI_TIER1_MAX_RATIO") for e in envs] == [None, None, "0.5"]
    # the variable is the real setting's name: the outlier's `resi validate` reads it
    read = load_settings(ValidatorSettings, env=envs[2])
    assert read.tier1_max_ratio == 0.5
    assert load_settings(ValidatorSettings, env=envs[0]).tier1_max_ratio is None
    honest = replace(plan, outlier_validator=False)
    assert (
        "RESI_TIER1_MAX_RATIO"
        not in commands.validator(honest, ids, validators[2], _endpoints()).env
    )


def test_cli_refuses_an_outlier_without_a_majority_in_one_line() -> None:
    from typer.testing import CliRunner

    from resi.cli.app import app

    result = CliRunner().invoke(app, ["devnet", "--outlier-validator", "--validators", "2"])
    assert result.exit_code == 2
    assert "--outlier-validator needs --validators 3 or more (got 2)" in result.output
    assert "Traceback" not in result.output


def _decision(
    zipcode: str, hotkey: str, position: int, reasons: list[str], rank: int | None
) -> Any:
    return {"zipcode": zipcode, "hotkey": hotkey, "position": position, "reasons": reasons,
            "liar": False, "participant": False, "rank": rank, "rows": 120}  # fmt: skip


def test_summary_and_tables_show_the_outliers_first_differing_decisions() -> None:
    """The diff comes from the validator's real `diff_reports`; the summary names each side's
    reasons and shows that quorum holds without the outlier."""
    from resi.cli.common import console
    from resi.cli.devnet import render
    from resi.devnet.report import DevnetResult, summarise_outlier
    from resi.validate.diagnose import diff_reports

    base = _identities()
    validators = tuple(
        _identity("validator", f"validator{i}", "validator", 2 + i) for i in range(3)
    )
    ids = Identities(base.burn, base.api, validators, base.miners)
    honest, liar = ids.miners
    v0, v1, out = validators
    epoch_id = "2026-01-01T00-00-00"
    majority: dict[str, Any] = {
        "epoch_id": epoch_id, "validator": v0.hotkey, "consensus_hash": "ab" * 32,
        "scoring": {"tier1_max_ratio": None}, "scores": {honest.hotkey: 1.0},
        "winners": {"10001": [honest.hotkey]},
        "decisions": [
            _decision("10001", liar.hotkey, 0, ["T3_NOT_FOUND"], None),
            _decision("10001", honest.hotkey, 1, ["T3_PASS", "RANKED"], 1),
        ],
    }  # fmt: skip
    outlier: dict[str, Any] = {
        **majority, "validator": out.hotkey, "consensus_hash": "ef" * 32,
        "scoring": {"tier1_max_ratio": 0.5}, "scores": {BURN_KEY: 1.0}, "winners": {},
        "decisions": [
            _decision("10001", liar.hotkey, 0, ["T3_NOT_FOUND"], None),
            _decision("10001", honest.hotkey, 1, ["T1_TOO_MANY"], None),
        ],
    }  # fmt: skip
    diff = {**diff_reports(outlier, majority), "cause": "rules", "majority_hash": "ab" * 32}
    reports = {v0.hotkey: majority, v1.hotkey: majority, out.hotkey: outlier}
    posted = {v0.hotkey: "ab" * 32, v1.hotkey: "ab" * 32, out.hotkey: "ef" * 32}
    epoch = summarise_epoch(epoch_id, reports, ids, {}, posted, "ab" * 32, 2 / 3)
    view = summarise_outlier(
        out, {"RESI_TIER1_MAX_RATIO": "0.5"}, diff, reports, ids, posted, "ab" * 32
    )
    epoch = replace(epoch, quorum=True, majority_stake_share=2 / 3, outlier=view)
    assert view.disagrees and view.diff_found and view.compared_with == "validator0"
    assert view.scoring == {"tier1_max_ratio": (0.5, None)}
    (row,) = view.decisions  # the liar's decision is the same on both sides
    assert (row.zipcode, row.miner, row.tier, row.reason) == (
        "10001",
        "honest",
        "tier1",
        "T1_TOO_MANY",
    )
    assert row.outlier_reasons == ("T1_TOO_MANY",)
    assert row.majority_reasons == ("T3_PASS", "RANKED")
    assert row.outlier is not None and row.outlier["rank"] is None
    assert row.majority is not None and row.majority["rank"] == 1
    shown = DevnetResult("/tmp/x", kept=True, epochs=(epoch,), complete=True).to_json()
    assert shown["epochs"][0]["outlier"]["decisions"][0]["majority_reasons"] == (
        "T3_PASS",
        "RANKED",
    )
    with console.capture() as captured:
        render(DevnetResult("/tmp/x", kept=True, epochs=(epoch,), complete=True))
    out_text = " ".join(captured.get().split())
    assert "outlier validator2 (RESI_TIER1_MAX_RATIO=0.5) disagrees" in out_text
    assert "(validator0, validator1); quorum still reached" in out_text
    assert "setting tier1_max_ratio: outlier 0.5, majority None" in out_text
    assert "first 1 of 1 differing decisions" in out_text
    assert "T1_TOO_MANY" in out_text and "T3_PASS, RANKED" in out_text
    cut = summarise_outlier(out, {}, diff, reports, ids, posted, "ab" * 32, file_limit=1)
    assert cut.decisions_more and not view.decisions_more  # the file may hold only the first
    # no file: said so, not a crash
    missing = summarise_outlier(out, {}, None, reports, ids, posted, "ab" * 32)
    assert missing.disagrees and not missing.diff_found and missing.decisions == ()
