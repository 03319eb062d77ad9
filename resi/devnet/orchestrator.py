"""`resi devnet`: start the whole subnet on 127.0.0.1, run some epochs, and collect the outcome.

Order: local S3 → wallets and chain registrations → simulated market and API → validators and
miners. Then it watches the API's public stats until the last mined epoch has been validated by
every validator and their weights are on the chain, and summarises what happened. Children are
stopped (newest first) on success, error and Ctrl-C alike; their logs stay in the data dir.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import anyio
import anyio.to_thread
import httpx

from resi.api.schemas import Stats
from resi.devnet import commands
from resi.devnet.beliefs import seed_beliefs
from resi.devnet.collect import collect_result, weights_settled
from resi.devnet.identities import Identities, create_identities
from resi.devnet.plan import HONEST, DevnetPlan
from resi.devnet.procs import Supervisor, wait_http_ok
from resi.devnet.report import DevnetResult
from resi.epoch.catalog import builtin_catalog
from resi.epoch.clock import EpochClock
from resi.epoch.models import ZipcodeInfo
from resi.errors import DevnetError
from resi.s3.local import LocalS3
from resi.scrape.sim.runner import SimMarket

BUCKET = "resi-data"
STATS_PATH = "/api/v1/zipcode-assignments/stats"
# Mine the current epoch only if at least this share of it is still ahead of us.
MIN_SHARE_LEFT = 0.65


@dataclass
class Progress:
    """What the progress display shows; updated about once a second."""

    phase: str = "starting"
    epoch_id: str | None = None
    seconds_to_next: float = 0.0
    mined: list[str] = field(default_factory=list)
    target_epochs: int = 0
    commits: int = 0
    miners_committed: int = 0
    validated: int = 0


Observer = Callable[[Progress], None]


async def run_devnet(
    plan: DevnetPlan,
    observe: Observer,
    on_result: Callable[[DevnetResult], None] | None = None,
) -> DevnetResult:
    """Run the devnet described by ``plan``; ``observe`` gets progress updates.

    Returns the summary. Raises ``DevnetError`` when a part fails to start or dies (its log
    path is in the error, and the data dir is then kept), ``ConfigError`` for bad options.
    """
    plan.validate()
    plan.data_dir.mkdir(parents=True, exist_ok=True)
    supervisor = Supervisor(plan.data_dir / "logs")
    s3 = LocalS3(plan.data_dir / "s3", BUCKET)
    progress = Progress(target_epochs=plan.epochs)
    finished = False
    async with AsyncExitStack() as services:
        try:
            result = await _run(plan, supervisor, s3, services, progress, observe, on_result)
            finished = True
        finally:
            with anyio.CancelScope(shield=True):
                progress.phase = "stopping"
                observe(progress)
                await supervisor.stop_all()
                await services.aclose()
                await anyio.to_thread.run_sync(s3.stop)
    if finished and not result.kept:
        shutil.rmtree(plan.data_dir, ignore_errors=True)
    return result


async def _run(
    plan: DevnetPlan,
    supervisor: Supervisor,
    s3: LocalS3,
    services: AsyncExitStack,
    progress: Progress,
    observe: Observer,
    on_result: Callable[[DevnetResult], None] | None = None,
) -> DevnetResult:
    def phase(text: str) -> None:
        progress.phase = text
        observe(progress)

    phase("starting local S3, creating wallets, loading the zipcode catalog")
    catalog: list[list[ZipcodeInfo]] = []
    identities: list[Identities] = []
    started: list[LocalS3] = []
    async with anyio.create_task_group() as tg:
        # Independent and each a second or more: overlap them.
        tg.start_soon(_append, started, s3.start)
        tg.start_soon(_append, identities, lambda: create_identities(plan))
        tg.start_soon(_append, catalog, builtin_catalog)
    ids = identities[0]
    ep = commands.Endpoints.around(s3)
    phase("starting the API and the simulated market")
    # Honeypot beliefs from the market's inventory export, as an operator's import would do.
    await seed_beliefs(
        commands.api_db_url(plan), catalog[0], plan.seed,
        plan.min_zip_listings, plan.max_zip_listings, plan.data_dir,
    )  # fmt: skip
    api_spec = commands.api_server(plan, ids, ep)
    api = await supervisor.start(api_spec.name, api_spec.argv, api_spec.env)
    # The market runs in this process while the API boots (its start-up takes seconds).
    sim = SimMarket({z.zipcode: z for z in catalog[0]}, seed=plan.seed, port=ep.sim_port)
    try:
        await sim.start()
    except OSError as exc:
        raise DevnetError(f"cannot start the simulated market: {exc.strerror}") from None
    services.push_async_callback(sim.stop)
    await wait_http_ok(f"{ep.api_url}/health", within=120, child=api)
    phase("starting validators and miners")
    await _start_participants(plan, ids, ep, supervisor)
    mined, problems = await _watch(plan, ids, ep, supervisor, progress, observe)
    if plan.outlier_name is not None and not problems:
        phase(f"waiting for {plan.outlier_name} (the outlier) to write its consensus diffs")
        problems = await _wait_outlier_diffs(plan, plan.outlier_name, mined, supervisor)
    phase("collecting results")
    result = await collect_result(plan, ids, ep, mined, supervisor, problems)
    result = replace(result, explorer_url=f"{ep.api_url}/")
    if plan.keep_api_seconds > 0:
        # The run is over; the parts keep going so the explorer can be browsed (Ctrl-C stops),
        # and the caller shows the result now rather than after the wait.
        if on_result is not None:
            on_result(result)
        phase(
            f"explorer at {ep.api_url}/ — kept running for {plan.keep_api_seconds:.0f} s "
            "(Ctrl-C to stop)"
        )
        await anyio.sleep(plan.keep_api_seconds)
    return result


async def _append(out: list[Any], fn: Callable[[], Any]) -> None:
    out.append(await anyio.to_thread.run_sync(fn))


async def _start_participants(
    plan: DevnetPlan, ids: Identities, ep: commands.Endpoints, supervisor: Supervisor
) -> None:
    for v in ids.validators:
        spec = commands.validator(plan, ids, v, ep)
        await supervisor.start(spec.name, spec.argv, spec.env)
    scenario = commands.scenario_miners(plan, ids, ep)
    if scenario is not None:
        path = commands.scenario_spec_path(plan)
        path.write_text(json.dumps(commands.scenario_spec(plan, ids, ep), indent=2))
        await supervisor.start(scenario.name, scenario.argv, scenario.env)
    for m in ids.miners:
        if m.behaviour == HONEST:
            spec = commands.honest_miner(plan, ids, m, ep)
            await supervisor.start(spec.name, spec.argv, spec.env)


async def _stats(http: httpx.AsyncClient, ep: commands.Endpoints) -> Stats | None:
    try:
        response = await http.get(f"{ep.api_url}{STATS_PATH}")
    except httpx.TransportError:
        return None  # a slow moment of the API; the supervisor notices real deaths
    if response.status_code != 200:
        return None
    return Stats.model_validate_json(response.content)


def choose_mined_epochs(
    clock: EpochClock, now: datetime, epochs: int, min_share_left: float = MIN_SHARE_LEFT
) -> list[str]:
    """The epochs the run mines: the current one if enough of it is left, then the next ones."""
    window = clock.window_at(now)
    left = (window.deadline - now).total_seconds() / clock.epoch_seconds
    first = window.epoch_id if left >= min_share_left else clock.next_id(window.epoch_id)
    return [clock.next_id(first, k) for k in range(epochs)]


async def _watch(
    plan: DevnetPlan,
    ids: Identities,
    ep: commands.Endpoints,
    supervisor: Supervisor,
    progress: Progress,
    observe: Observer,
) -> tuple[list[str], tuple[str, ...]]:
    """Follow the run until the last mined epoch is validated and weighted.

    Returns the mined epoch ids and the problems seen (empty, or why it stopped waiting: the
    tables are still worth printing then). Raises ``DevnetError`` when a child dies.
    """
    clock = EpochClock(plan.epoch_seconds)
    mined = choose_mined_epochs(clock, datetime.now(UTC), plan.epochs)
    last_end = clock.window(mined[-1]).end
    # Validators work during the next epoch; give them all of it plus generous slack (a loaded
    # machine is slow, not broken; the wait ends as soon as the weights are set).
    give_up = last_end.timestamp() + 3 * plan.epoch_seconds + 240
    progress.mined = mined
    async with httpx.AsyncClient(timeout=5.0) as http:
        while True:
            supervisor.check()
            now = datetime.now(UTC)
            stats = await _stats(http, ep)
            if stats is not None and stats.current is not None:
                progress.epoch_id = stats.current.epoch_id
                progress.seconds_to_next = stats.seconds_to_next
                progress.commits = stats.current.commits
                progress.miners_committed = stats.current.miners_committed
            if now < clock.window(mined[0]).start:
                progress.phase = f"waiting for epoch {mined[0]}"
            elif now < last_end:
                index = mined.index(clock.epoch_id_at(now)) + 1
                progress.phase = f"mining epoch {index}/{len(mined)}"
            else:
                progress.phase = f"validators checking epoch {mined[-1]}"
            progress.validated = await anyio.to_thread.run_sync(_count_validated, plan, ids, mined)
            observe(progress)
            if now >= last_end and progress.validated == len(mined):
                if await anyio.to_thread.run_sync(weights_settled, plan, ids, mined[-1]):
                    return mined, ()
            if now.timestamp() > give_up:
                what = "set its weights" if progress.validated == len(mined) else "validate"
                problem = (
                    f"a validator did not {what} epoch {mined[-1]} within "
                    f"{3 * plan.epoch_seconds + 240} s after it ended; see {supervisor.log_dir}"
                )
                return mined, (problem,)
            await anyio.sleep(1.0)


async def _wait_outlier_diffs(
    plan: DevnetPlan, name: str, mined: list[str], supervisor: Supervisor
) -> tuple[str, ...]:
    """Wait until the outlier ``name`` has written its consensus diff of every mined epoch.

    It writes one in the round after the view it reads from the API shows the majority against
    it (it may have posted first, before there was a majority). Returns the problems: empty, or
    which diffs did not appear before the deadline. Raises ``DevnetError`` when a child dies.
    """
    from resi.devnet.collect import diff_path, load_diff

    within = 2 * plan.epoch_seconds + 60
    give_up = anyio.current_time() + within
    missing = list(mined)
    while True:
        supervisor.check()
        missing = [
            e for e in missing if await anyio.to_thread.run_sync(load_diff, plan, name, e) is None
        ]
        if not missing or anyio.current_time() > give_up:
            break
        await anyio.sleep(0.5)
    return tuple(
        f"{name} (the outlier) wrote no {diff_path(plan, name, e).name} for epoch {e} within "
        f"{within} s after the weights were set; see {supervisor.log_dir / (name + '.log')}"
        for e in missing
    )


def _count_validated(plan: DevnetPlan, ids: Identities, mined: list[str]) -> int:
    from resi.devnet.collect import load_reports

    count = 0
    for epoch_id in mined:
        reports, _ = load_reports(plan, ids, epoch_id)
        if len(reports) == len(ids.validators):
            count += 1
    return count
