"""Devnet miner behaviours (honest and cheating), run as tasks of one process:
``python -m resi.devnet.scenarios --spec FILE``.

They live here, not in the real miner, and are built from its building blocks
(``resi.scrape.miner``: scrape, write, upload; the API client for commits), so everything they
send crosses real HTTP exactly like a real miner's traffic. Each miner logs what it saw to
``{workdir}/events.jsonl`` (e.g. the API refusing a late commit with 409).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx

from resi.api.client import ApiClient
from resi.api.schemas import CommitItem, CurrentAssignment, ZipcodeTask
from resi.devnet import fakes
from resi.errors import ApiError, ResiError
from resi.scrape.listing import (
    Listing,
    WrittenFile,
    read_listings,
    sha256_file,
    table_to_listings,
)
from resi.scrape.miner import scrape_zipcode, upload_zipcode_file, write_zipcode_file
from resi.scrape.source import ListingSource, open_source
from resi.wallet import load_keypair

log = logging.getLogger("resi.devnet.scenarios")

PAD_SHARE = 0.10  # `padder` adds this share of fabricated listings
SLOW_SHARE = 0.30  # `honest-slow` starts once this share of the epoch has passed


@dataclass(frozen=True)
class MinerSpec:
    name: str
    behaviour: str
    wallet_name: str
    wallet_hotkey: str
    workdir: Path
    victim_workdir: Path | None = None
    victim_hotkey: str | None = None


@dataclass(frozen=True)
class ScenarioSpec:
    api_url: str
    api_hotkey: str | None
    sim_url: str
    wallet_path: Path
    poll_seconds: float
    seed: int
    miners: tuple[MinerSpec, ...]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScenarioSpec:
        return cls(
            api_url=data["api_url"],
            api_hotkey=data.get("api_hotkey"),
            sim_url=data["sim_url"],
            wallet_path=Path(data["wallet_path"]),
            poll_seconds=float(data.get("poll_seconds", 1.0)),
            seed=int(data.get("seed", 0)),
            miners=tuple(
                MinerSpec(
                    name=m["name"],
                    behaviour=m["behaviour"],
                    wallet_name=m["wallet_name"],
                    wallet_hotkey=m["wallet_hotkey"],
                    workdir=Path(m["workdir"]),
                    victim_workdir=Path(m["victim_workdir"]) if m.get("victim_workdir") else None,
                    victim_hotkey=m.get("victim_hotkey"),
                )
                for m in data["miners"]
            ),
        )


@dataclass
class Ctx:
    """One scenario miner's connections and identity."""

    spec: ScenarioSpec
    miner: MinerSpec
    hotkey: str
    api: ApiClient
    http: httpx.AsyncClient
    source: ListingSource
    limiter: anyio.CapacityLimiter

    def epoch_dir(self, epoch_id: str) -> Path:
        return self.miner.workdir / "epochs" / epoch_id

    def event(self, epoch_id: str, event: str, note: str = "") -> None:
        """Append one event to ``events.jsonl`` (the orchestrator reads notes from it)."""
        self.miner.workdir.mkdir(parents=True, exist_ok=True)
        line = {"time": time.time(), "epoch_id": epoch_id, "event": event, "note": note}
        with (self.miner.workdir / "events.jsonl").open("a") as fh:
            fh.write(json.dumps(line) + "\n")

    def rng(self, *parts: str) -> random.Random:
        return fakes.rng_for(str(self.spec.seed), self.hotkey, *parts)


# --------------------------------------------------------------------------- building blocks


async def scrape(ctx: Ctx, task: ZipcodeTask) -> list[Listing]:
    """Every listing of ``task``'s zipcode from the simulated market (the real miner's scrape)."""
    async with ctx.limiter:
        return await scrape_zipcode(ctx.source, task.zipcode)


async def write(
    ctx: Ctx, a: CurrentAssignment, zipcode: str, listings: Sequence[Listing]
) -> WrittenFile:
    """Write this miner's Parquet file for ``zipcode`` (metadata names this epoch and miner)."""
    return await write_zipcode_file(ctx.miner.workdir, a, zipcode, list(listings), ctx.hotkey)


async def upload(ctx: Ctx, a: CurrentAssignment, zipcode: str, written: WrittenFile) -> str:
    """Upload ``written`` under this miner's prefix; returns the object key."""
    grant = await ctx.api.folder_access(a.epoch_id)
    return await upload_zipcode_file(
        ctx.http,
        grant,
        a,
        zipcode,
        written,
        ctx.hotkey,
        renew=lambda: ctx.api.folder_access(a.epoch_id),
    )


async def commit(
    ctx: Ctx, a: CurrentAssignment, items: Sequence[tuple[str, str, WrittenFile]]
) -> bool:
    """Commit ``(zipcode, key, file)`` items; a refusal is logged as an event, not raised."""
    commits = [CommitItem(zipcode=z, key=k, sha256=w.sha256, rows=w.rows) for z, k, w in items]
    try:
        await ctx.api.post_status(a.epoch_id, a.nonce, "IN_PROGRESS", commits)
    except ApiError as exc:
        ctx.event(a.epoch_id, "commit_refused", f"commit refused: {exc.status} {exc.code}")
        return False
    ctx.event(a.epoch_id, "committed", "")
    return True


async def submit(ctx: Ctx, a: CurrentAssignment, zipcode: str, listings: Sequence[Listing]) -> None:
    """Write, upload and commit one zipcode right away (earlier commits rank higher)."""
    written = await write(ctx, a, zipcode, listings)
    key = await upload(ctx, a, zipcode, written)
    await commit(ctx, a, [(zipcode, key, written)])


async def for_each_zipcode(
    a: CurrentAssignment, work: Callable[[ZipcodeTask], Coroutine[Any, Any, None]]
) -> None:
    async with anyio.create_task_group() as tg:
        for task in a.zipcodes:
            tg.start_soon(work, task)


def seconds_until(moment: datetime) -> float:
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


# --------------------------------------------------------------------------- behaviours


def transform_behaviour(
    transform: Callable[[Ctx, CurrentAssignment, ZipcodeTask, list[Listing]], list[Listing]],
) -> Callable[[Ctx, CurrentAssignment], Awaitable[None]]:
    """A behaviour that scrapes each zipcode, doctors the rows, and submits them."""

    async def run(ctx: Ctx, a: CurrentAssignment) -> None:
        async def one(task: ZipcodeTask) -> None:
            listings = await scrape(ctx, task)
            await submit(ctx, a, task.zipcode, transform(ctx, a, task, listings))

        await for_each_zipcode(a, one)

    return run


honest = transform_behaviour(lambda ctx, a, t, rows: rows)
lazy = transform_behaviour(lambda ctx, a, t, rows: fakes.halve(rows))
padder = transform_behaviour(
    lambda ctx, a, t, rows: fakes.pad(rows, PAD_SHARE, ctx.rng(a.epoch_id, t.zipcode))
)
fabricator = transform_behaviour(
    lambda ctx, a, t, rows: fakes.fabricate_all(rows, ctx.rng(a.epoch_id, t.zipcode))
)


async def honest_slow(ctx: Ctx, a: CurrentAssignment) -> None:
    """Honest, but starts only after ``SLOW_SHARE`` of the epoch (ranks behind faster miners)."""
    start_at = a.start + (a.deadline - a.start) * SLOW_SHARE
    await anyio.sleep(seconds_until(start_at))
    await honest(ctx, a)


async def honeypot_responder(ctx: Ctx, a: CurrentAssignment) -> None:
    """Submits listings for every zipcode, inventing them where the site has none (honeypots)."""
    scraped: dict[str, list[Listing]] = {}

    async def fetch(task: ZipcodeTask) -> None:
        scraped[task.zipcode] = await scrape(ctx, task)

    await for_each_zipcode(a, fetch)
    templates = [row for rows in scraped.values() for row in rows]
    for t in a.zipcodes:
        rows = scraped[t.zipcode] or fakes.fill_empty(
            t.zipcode,
            t.expected_listings,
            t.state,
            t.city,
            templates,
            ctx.rng(a.epoch_id, t.zipcode),
        )
        await submit(ctx, a, t.zipcode, rows)


async def late(ctx: Ctx, a: CurrentAssignment) -> None:
    """Scrapes and uploads honestly but commits only after the deadline (the API says 409)."""
    items = []
    for t in a.zipcodes:
        written = await write(ctx, a, t.zipcode, await scrape(ctx, t))
        items.append((t.zipcode, await upload(ctx, a, t.zipcode, written), written))
    await anyio.sleep(seconds_until(a.deadline) + 0.5)
    await commit(ctx, a, items)


async def stale_replay(ctx: Ctx, a: CurrentAssignment) -> None:
    """Re-uploads files from an earlier epoch as this epoch's; honest until it has some."""
    old = sorted(
        p for p in (ctx.miner.workdir / "epochs").glob("*/*.parquet") if p.parent.name < a.epoch_id
    )
    if not old:
        ctx.event(a.epoch_id, "no_old_files", "no earlier file yet: mined honestly")
        await honest(ctx, a)
        return
    for i, t in enumerate(a.zipcodes):
        path = ctx.epoch_dir(a.epoch_id) / f"{t.zipcode}.parquet"
        written = await anyio.to_thread.run_sync(_adopt, old[i % len(old)], path)
        key = await upload(ctx, a, t.zipcode, written)
        await commit(ctx, a, [(t.zipcode, key, written)])
    ctx.event(a.epoch_id, "replayed", f"replayed {len(old)} file(s) of earlier epochs")


def _adopt(source: Path, path: Path) -> WrittenFile:
    """Copy ``source`` byte for byte to ``path`` and hash and count it (blocking).

    The copy still names the old epoch and nonce in its metadata: that is the lie.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, path)
    table, _ = read_listings(path)
    return WrittenFile(path, sha256_file(path), table.num_rows, path.stat().st_size)


async def sybil(ctx: Ctx, a: CurrentAssignment) -> None:
    """A second hotkey: re-uploads the victim's committed files (metadata rewritten to itself)."""
    victim = ctx.miner.victim_workdir
    if victim is None:
        return
    copied: set[str] = set()
    while datetime.now(UTC) < a.deadline and len(copied) < len(a.zipcodes):
        for zipcode, file in _victim_committed(victim, a.epoch_id):
            if zipcode in copied:
                continue
            copied.add(zipcode)
            table, _ = await anyio.to_thread.run_sync(read_listings, file)
            rows = await anyio.to_thread.run_sync(table_to_listings, table)
            await submit(ctx, a, zipcode, rows)
        await anyio.sleep(0.5)
    ctx.event(a.epoch_id, "copied", f"copied {len(copied)} files of the victim")


def _victim_committed(workdir: Path, epoch_id: str) -> list[tuple[str, Path]]:
    """(zipcode, file) pairs the victim has committed in ``epoch_id`` (from its state file)."""
    epoch_dir = workdir / "epochs" / epoch_id
    try:
        state = json.loads((epoch_dir / "state.json").read_text())
    except (OSError, json.JSONDecodeError):
        state = None
    out: list[tuple[str, Path]] = []
    if isinstance(state, dict):
        for zipcode, z in dict(state.get("zipcodes", {})).items():
            if z.get("phase") == "committed" and z.get("file"):
                out.append((zipcode, epoch_dir / z["file"]))
        return out
    # A scenario victim has no state file: its events say when it committed.
    if (workdir / "events.jsonl").exists():
        out = [(p.stem, p) for p in sorted(epoch_dir.glob("*.parquet"))]
    return out


BEHAVIOURS: dict[str, Callable[[Ctx, CurrentAssignment], Awaitable[None]]] = {
    "honest": honest,
    "honest-slow": honest_slow,
    "lazy": lazy,
    "padder": padder,
    "fabricator": fabricator,
    "honeypot-responder": honeypot_responder,
    "sybil": sybil,
    "late": late,
    "stale-replay": stale_replay,
}


# --------------------------------------------------------------------------- loop


async def run_miner(spec: ScenarioSpec, miner: MinerSpec) -> None:
    """Run one behaviour forever: once per new epoch, as soon as it is active."""
    behaviour = BEHAVIOURS[miner.behaviour]
    keypair = await anyio.to_thread.run_sync(
        load_keypair, miner.wallet_name, miner.wallet_hotkey, spec.wallet_path
    )
    source = open_source("sim", sim_url=spec.sim_url, concurrency=8)
    done: set[str] = set()
    async with (
        ApiClient(spec.api_url, keypair, receiver_ss58=spec.api_hotkey, timeout=10) as api,
        httpx.AsyncClient(timeout=30) as http,
    ):
        ctx = Ctx(spec, miner, keypair.ss58_address, api, http, source, anyio.CapacityLimiter(4))
        try:
            while True:
                assignment = await _current(api)
                if assignment is not None and assignment.epoch_id not in done:
                    done.add(assignment.epoch_id)
                    ctx.event(assignment.epoch_id, "start", "")
                    try:
                        await behaviour(ctx, assignment)
                    except* ResiError as group:
                        # One bad epoch (e.g. the API briefly down, or the epoch closing while a
                        # zipcode is still uploading) must not end the scenario; behaviours run
                        # zipcodes in task groups, so the errors arrive grouped.
                        exc = group.exceptions[0]
                        ctx.event(assignment.epoch_id, "error", f"{type(exc).__name__}: {exc}")
                await anyio.sleep(spec.poll_seconds)
        finally:
            await source.aclose()


async def _current(api: ApiClient) -> CurrentAssignment | None:
    try:
        assignment = await api.current_assignment()
    except ApiError:
        return None  # no active epoch yet, or the API is starting; poll again
    if datetime.now(UTC) >= assignment.deadline:
        return None
    return assignment


async def run_spec(spec: ScenarioSpec) -> None:
    async with anyio.create_task_group() as tg:
        for miner in spec.miners:
            tg.start_soon(run_miner, spec, miner)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m resi.devnet.scenarios")
    parser.add_argument("--spec", required=True, type=Path, help="JSON written by `resi devnet`")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # One line per page fetch would drown the log; errors still show.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    spec = ScenarioSpec.from_json(json.loads(args.spec.read_text()))
    try:
        anyio.run(run_spec, spec)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
