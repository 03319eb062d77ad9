"""End to end: real API (SQLite) + SeaweedFS + simulated market + devnet chain, two validators.

Miners' files are scraped from the simulated market, uploaded to S3 and committed through the
store (server receive times chosen by the test). Two independent validators must publish the
same consensus hash; the uploaded report must replay offline to the same hash; a validator that
crashes after downloading and assessing resumes from its checkpoint to the same hash.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from resi.chain.devnet import DevnetChain
from resi.config import ValidatorSettings
from resi.epoch.models import Assignment, Commit, Epoch, EpochState
from resi.epoch.secrets import epoch_nonce
from resi.errors import SourceOutage
from resi.s3.layout import miner_key, validator_key
from resi.score.models import BURN_KEY, Reason
from resi.scrape.listing import FileMetadata, Listing, write_listings
from resi.scrape.source import open_source
from resi.validate.checkpoint import CHECKPOINT_NAME, EpochCheckpoint
from resi.validate.loop import Validator
from resi.validate.report import REPORT_NAME, load_report, replay_report
from resi.validate.spotcheck import spot_check
from tests.fixtures.api import NETUID, TEST_SECRET, ApiServer
from tests.fixtures.market import SIM_CATALOG, RunningMarket, start_sim_market
from tests.relay.test_validator_relay import closed_port_url

ZIPS = ("10001", "60614")
HONEYPOT = "00501"


@dataclass
class World:
    server: ApiServer
    market: RunningMarket
    epoch: Epoch
    miners: dict[str, Any]
    honest: dict[str, list[Listing]]


def _epoch(start: datetime) -> Epoch:
    epoch_id = start.strftime("%Y-%m-%dT%H-%M-%S")
    return Epoch(
        epoch_id=epoch_id,
        start=start,
        end=start + timedelta(hours=4),
        deadline=start + timedelta(hours=3, minutes=30),
        state=EpochState.COMPLETED,
        nonce=epoch_nonce(TEST_SECRET, epoch_id),
        target=1_000,
        tolerance=0.1,
        achieved_sum=700,
    )


_SHIFTS: dict[str, timedelta] = {}


async def _commit(
    world: World, tmp: Path, hotkey: str, zipcode: str, listings: list[Listing], at: int
) -> None:
    e = world.epoch
    # the epoch lies in the past: move the scrape times into it (scraped before received), by
    # one shift per epoch so identical rows stay identical
    shift = _SHIFTS.setdefault(e.epoch_id, e.start + timedelta(seconds=20) - datetime.now(UTC))
    listings = [Listing(**{**x.__dict__, "scraped_at": x.scraped_at + shift}) for x in listings]
    meta = FileMetadata(epoch_id=e.epoch_id, nonce=e.nonce, miner_hotkey=hotkey, zipcode=zipcode)
    written = write_listings(tmp / f"{hotkey}-{zipcode}.parquet", listings, meta)
    key = miner_key(hotkey, e.epoch_id, zipcode, written.sha256)
    await world.server.s3.put_bytes(key, written.path.read_bytes())
    commit = Commit(
        epoch_id=e.epoch_id,
        hotkey=hotkey,
        zipcode=zipcode,
        key=key,
        sha256=written.sha256,
        rows=written.rows,
        size=written.size,
        received_at=e.start + timedelta(seconds=at),
    )
    await world.server.store.upsert_commits([commit])


@pytest.fixture
async def world(api_factory: Any, tmp_path: Path, anyio_backend: str) -> Any:
    async with (
        api_factory(f"sqlite:///{tmp_path / 'api.db'}") as server,
        start_sim_market() as market,
    ):
        source = open_source("sim", sim_url=market.url)
        try:
            honest = {z: await source.search(z) for z in ZIPS}
        finally:
            await source.aclose()
        start = server.epochs.completed.start - timedelta(hours=8)
        epoch = _epoch(start)
        assignments = [
            Assignment(
                epoch_id=epoch.epoch_id,
                position=i,
                zipcode=z,
                expected_listings=len(honest[z]) if z in honest else 300,
                state=SIM_CATALOG[z].state,
                city=SIM_CATALOG[z].city,
                county=SIM_CATALOG[z].county,
                market_tier="STANDARD",
                region=SIM_CATALOG[z].region,
                lat=SIM_CATALOG[z].lat,
                lon=SIM_CATALOG[z].lon,
                honeypot=z == HONEYPOT,
            )
            for i, z in enumerate((*ZIPS, HONEYPOT))
        ]
        assert await server.store.insert_epoch(epoch, assignments)
        # extra miners registered on chain so weights can map them
        from bittensor.sp_core import Keypair

        padder = Keypair.create_from_uri("//padder-e2e")
        copier = Keypair.create_from_uri("//copier-e2e")
        server.chain.register(padder.ss58_address, "5cold-p", 1.0, False)
        server.chain.register(copier.ss58_address, "5cold-c", 1.0, False)
        miners = {
            "first": server.keys.miner.ss58_address,
            "second": server.keys.miner2.ss58_address,
            "padder": padder.ss58_address,
            "copier": copier.ss58_address,
        }
        w = World(server, market, epoch, miners, honest)
        files = tmp_path / "miner-files"
        files.mkdir()
        # first: honest everywhere, earliest
        for z in ZIPS:
            await _commit(w, files, miners["first"], z, honest[z], at=60)
        # second: honest 10001, later; a scrape of its own (different scraped_at)
        rescrape = [
            Listing(**{**x.__dict__, "scraped_at": x.scraped_at + timedelta(seconds=5)})
            for x in honest["10001"]
        ]
        await _commit(w, files, miners["second"], "10001", rescrape, at=120)
        # padder: earliest in 60614, but replaced real rows with fabricated ids (sample hits them)
        fake = [
            Listing(
                **{
                    **x.__dict__,
                    "listing_id": str(9_100_000_000 + i),
                    "url": f"{market.url}/homedetails/x/{9_100_000_000 + i}_zpid/",
                }
            )
            for i, x in enumerate(honest["60614"])
        ]
        await _commit(w, files, miners["padder"], "60614", fake, at=30)
        await _commit(w, files, miners["padder"], "10001", honest["10001"][::-1], at=200)
        # copier: the first miner's 10001 rows re-labelled under its own hotkey
        await _commit(w, files, miners["copier"], "10001", honest["10001"], at=90)
        yield w


def _validator(
    world: World, tmp: Path, name: str, http: httpx.AsyncClient, sim_url: str | None = None
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
    )
    chain = DevnetChain(
        s.settings.devnet_chain_path,
        netuid=NETUID,
        block_time=0.5,
        signer_hotkey=s.keys.validator.ss58_address,
        timeout=10.0,
    )
    source = open_source("sim", sim_url=sim_url or world.market.url, max_attempts=1)
    return Validator(
        s.client(s.keys.validator),
        chain,
        source,
        s.keys.validator.ss58_address,
        settings.workdir,
        settings,
        http,
        lookup_backoff=0.01,
    )


async def _close(v: Validator) -> None:
    await v.client.aclose()
    await v.source.aclose()
    await v.chain.close()


@pytest.mark.anyio
async def test_two_validators_agree_and_replay_reproduces(world: World, tmp_path: Path) -> None:
    epoch_id = world.epoch.epoch_id
    m = world.miners
    async with httpx.AsyncClient(timeout=20) as http:
        v1 = _validator(world, tmp_path, "v1", http)
        v2 = _validator(world, tmp_path, "v2", http)
        try:
            assert epoch_id in await v1.pending_epochs()
            out1 = await v1.validate(epoch_id)
            out2 = await v2.validate(epoch_id)
            receipt = await v1.maybe_set_weights(force=True)
        finally:
            await _close(v1)
            await _close(v2)
    assert out1.consensus_hash == out2.consensus_hash
    result = out1.result
    assert result.winners["10001"] == (m["first"], m["second"])
    assert result.winners["60614"] == (m["first"],)
    assert result.winners[HONEYPOT] == ()
    assert result.liars == frozenset({m["padder"]})
    assert result.scores[m["padder"]] == 0
    copier = next(d for d in result.decisions if d.hotkey == m["copier"])
    assert Reason.DUPLICATE_COPY in copier.reasons and result.scores[m["copier"]] == 0
    assert sum(result.scores.values()) == pytest.approx(1.0)

    # the report in S3 replays offline to the same hash
    key = validator_key(world.server.keys.validator.ss58_address, epoch_id, REPORT_NAME)
    doc = json.loads(await world.server.s3.get_bytes(key))
    assert doc["consensus_hash"] == out1.consensus_hash
    assert replay_report(doc).consensus_hash == out1.consensus_hash
    assert load_report(out1.report_path)["consensus_hash"] == out1.consensus_hash
    padder_60614 = next(
        d for d in doc["decisions"] if d["hotkey"] == m["padder"] and d["zipcode"] == "60614"
    )
    assert "T3_NOT_FOUND" in padder_60614["reasons"]
    assert padder_60614["spot"]["evidence"][0]["status"] == "GONE"
    # coldkeys come from the metagraph and are recorded with the commits (issue 14)
    coldkey_of = {n.hotkey: n.coldkey for n in world.server.chain.metagraph_sync().neurons}
    recorded = {c["hotkey"]: c["coldkey"] for c in doc["inputs"]["commits"]}
    assert recorded[m["padder"]] == "5cold-p"
    assert recorded == {hk: coldkey_of[hk] for hk in recorded}

    # the API holds the posted hash; weights went to the chain by uid
    async with world.server.client(None) as public:
        consensus = await public.consensus(epoch_id)
    assert consensus.majority_hash == out1.consensus_hash
    assert receipt is not None and receipt.ok
    metagraph = world.server.chain.metagraph_sync()
    first_uid = metagraph.by_hotkey(m["first"]).uid  # type: ignore[union-attr]
    history = world.server.chain.weights_history_sync(world.server.keys.validator.ss58_address)
    assert history and first_uid in history[-1].uids
    assert BURN_KEY in result.scores


@pytest.mark.anyio
async def test_crash_after_lookups_resumes_without_redoing_work(
    world: World, tmp_path: Path
) -> None:
    """A validator killed before publishing resumes from its checkpoint to the same hash.

    The resumed validator's listing source points at a dead port: had it redone any lookup, the
    lookup would be UNVERIFIABLE and the hash would differ.
    """
    epoch_id = world.epoch.epoch_id
    async with httpx.AsyncClient(timeout=20) as http:
        ref = _validator(world, tmp_path, "ref", http)
        crashy = _validator(world, tmp_path, "crashy", http)
        try:
            expected = (await ref.validate(epoch_id)).consensus_hash
            inputs = await crashy.client.epoch_inputs(epoch_id)
            edir = crashy._epoch_dir(epoch_id)
            ckpt = EpochCheckpoint.load(edir / CHECKPOINT_NAME, epoch_id)
            paths = await crashy._download_all(inputs, edir, ckpt)
            await crashy._score(inputs, paths, ckpt)
        finally:
            await _close(crashy)
        stored = EpochCheckpoint.load(edir / CHECKPOINT_NAME, epoch_id)
        assert len(stored.downloads) == len(inputs.commits)
        assert stored.lookups and set(stored.assessments) == {*ZIPS, HONEYPOT}
        files_before = {p: p.stat().st_mtime_ns for p in edir.rglob("*.parquet")}

        resumed = _validator(world, tmp_path, "crashy", http, sim_url="http://127.0.0.1:9")
        try:
            out = await resumed.validate(epoch_id)
            assert epoch_id not in await resumed.pending_epochs()
        finally:
            await _close(resumed)
            await _close(ref)
    after = {p: p.stat().st_mtime_ns for p in files_before}
    assert after == files_before  # nothing downloaded twice
    assert out.consensus_hash == expected


@pytest.mark.anyio
async def test_run_once_then_spot_check_shows_evidence(world: World, tmp_path: Path) -> None:
    """run_once validates every completed epoch once; spot-check replays the padder's sample."""
    m = world.miners
    async with httpx.AsyncClient(timeout=20) as http:
        v = _validator(world, tmp_path, "v", http)
        try:
            done = await v.run_once()
            assert world.epoch.epoch_id in {o.epoch_id for o in done}
            assert await v.run_once() == []  # nothing pending the second time
            assert v.state.last_weights_block is not None
            padder = await spot_check(v, world.epoch.epoch_id, m["padder"], "60614")
            honest = await spot_check(v, world.epoch.epoch_id, m["first"], "60614")
        finally:
            await _close(v)
    assert padder.spot is not None and padder.spot.reason is Reason.T3_NOT_FOUND
    assert padder.spot.evidence[0].claimed["listing_id"].startswith("91")
    assert honest.spot is not None and honest.spot.reason is Reason.T3_PASS
    assert honest.spot.verified == honest.assessment.k == 10
    assert all(e.observed is not None for e in honest.spot.evidence)


@pytest.mark.anyio
async def test_an_epoch_that_keeps_failing_is_recorded_and_later_epochs_go_on(
    world: World, tmp_path: Path
) -> None:
    """Issue 12: bounded attempts, then FAILED with its reason; the loop never stops."""
    epoch_id = world.epoch.epoch_id
    async with httpx.AsyncClient(timeout=20) as http:
        v = _validator(world, tmp_path, "v", http)
        v.settings = v.settings.model_copy(update={"epoch_max_attempts": 2})
        # a checkpoint this validator cannot read: every attempt at the epoch fails
        broken = tmp_path / "v" / "epochs" / epoch_id / CHECKPOINT_NAME
        broken.parent.mkdir(parents=True)
        broken.write_text("{ not json\n{ nor this\n")
        try:
            others = [e for e in await v.pending_epochs() if e != epoch_id]
            first = await v.run_once()
            assert epoch_id in await v.pending_epochs()  # one failed attempt: tried again
            assert v.failures.attempts[epoch_id] == 1
            second = await v.validate_pending()  # the path `run_forever` takes, too
            assert epoch_id not in await v.pending_epochs()  # given up on
        finally:
            await _close(v)
    assert {o.epoch_id for o in first} == set(others)  # the other epochs were validated
    assert second == []
    failed = v.failures.failed[epoch_id]
    assert failed["attempts"] == 2 and "ConfigError" in failed["reason"]
    out = tmp_path / "v" / "epochs" / epoch_id / "out"
    report = json.loads((out / "validation_failed.json").read_text())
    assert report["state"] == "FAILED" and report["epoch_id"] == epoch_id
    assert v.failures.failed_total == 1 and v.failures.attempts_total == 2


@pytest.mark.anyio
async def test_listing_site_down_waits_for_it_instead_of_publishing_every_file_unverified(
    world: World, tmp_path: Path
) -> None:
    """A validator-side outage must not cost miners an epoch: with the site unreachable, the
    epoch is retried (not counted as a failed attempt, nothing cached, nothing published)."""
    epoch_id = world.epoch.epoch_id
    async with httpx.AsyncClient(timeout=20) as http:
        down = _validator(world, tmp_path, "v", http, sim_url=closed_port_url())
        try:
            with pytest.raises(SourceOutage):
                await down.validate_pending()
            assert epoch_id in await down.pending_epochs()
        finally:
            await _close(down)
        assert down.failures.attempts.get(epoch_id, 0) == 0
        edir = tmp_path / "v" / "epochs" / epoch_id
        ckpt = EpochCheckpoint.load(edir / CHECKPOINT_NAME, epoch_id)
        assert ckpt.lookups == {}  # no UNVERIFIABLE verdict survives the outage
        assert not (edir / "out" / REPORT_NAME).exists()
        up = _validator(world, tmp_path, "v", http)  # same workdir; the site is back
        try:
            done = await up.validate_pending()
        finally:
            await _close(up)
    assert epoch_id in {o.epoch_id for o in done}
    assert up.state.finished[epoch_id]["scores"][world.miners["first"]] > 0
