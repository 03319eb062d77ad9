"""Drill: two API replicas on one PostgreSQL database run across an epoch boundary.

Both `resi serve-api` processes run the epoch manager. Across the boundary they race to create
the new "next" epoch and to move the old one forward. Afterwards every epoch exists exactly
once with exactly one set of assignments, each epoch was inserted by exactly one replica (their
``created`` metrics add up to the row count), the stored content is what the pure selection
computes, and both replicas serve byte-for-byte the same assignment and the same next epoch.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from resi.api.client import ApiClient
from resi.chain.devnet import DevnetChain
from resi.config import ApiServerSettings
from resi.epoch.clock import EpochClock
from resi.epoch.manager import EpochManager
from resi.epoch.models import Assignment, EpochState
from resi.epoch.store.base import Store
from resi.s3.local import LocalS3
from tests.drills.harness import (
    BLOCK_TIME,
    DRILL_SECRET,
    NETUID,
    SMALL_EPOCH,
    Timer,
    api_env,
    api_proc,
    drill_catalog,
    free_port,
    pick_epoch,
    running,
    seed_catalog,
    wait_api,
    wait_until,
    with_store,
)

pytestmark = pytest.mark.drill

REPLICAS = 2
_CREATED = re.compile(r'^resi_api_epoch_transitions_total\{kind="created"\} (\d+)', re.M)


def created_count(url: str) -> int:
    text = httpx.get(url + "/metrics", timeout=5).text
    found = _CREATED.search(text)
    return int(found.group(1)) if found else 0


async def _served(urls: list[str], keypair: Any) -> list[tuple[str, str | None]]:
    """(raw `/current` body, next epoch id) as each replica serves them."""
    out = []
    for url in urls:
        async with ApiClient(url, keypair, attempts=1) as client:
            current = await client.current_assignment()
            stats = await client.stats()
        out.append((current.model_dump_json(), stats.next.epoch_id if stats.next else None))
    return out


async def _built_and_stored(
    store: Store, settings: ApiServerSettings, epoch_id: str
) -> tuple[list[Assignment], list[Assignment]]:
    """(assignments the pure selection computes for ``epoch_id`` from the stored history,
    assignments stored)."""
    manager = EpochManager(store, settings, DRILL_SECRET, await store.load_catalog())
    window = manager.clock.window(epoch_id)
    cooldown = await store.zipcodes_used_since(
        window.start - timedelta(hours=settings.cooldown_hours), window.start
    )
    history = await store.validated_history()
    _, built = manager.build(epoch_id, EpochState.PENDING, cooldown=cooldown, history=history)
    return built, await store.get_assignments(epoch_id)


async def _all_epochs(store: Store) -> list[Any]:
    return list(await store.list_epochs(limit=100))


def test_two_replicas_cross_a_boundary_with_one_epoch_each(
    tmp_path: Path, postgres_url: str, local_s3: LocalS3
) -> None:
    from bittensor.sp_core import Keypair

    timer = Timer()
    seed_catalog(postgres_url, drill_catalog())
    keypair = Keypair.create_from_uri("//" + secrets.token_hex(8))
    chain = DevnetChain(tmp_path / "chain.sqlite", netuid=NETUID, block_time=BLOCK_TIME)
    chain.register(keypair.ss58_address, "5cold-drill-miner", 10.0, False)
    # A short epoch whose boundary comes after both replicas are up (start-up takes seconds).
    # At least 60 s long: after the boundary the replicas have one epoch's length to settle,
    # and a loaded 2-core machine needs more than the 20 s a shorter one would give.
    plan = pick_epoch(min_left=60, max_left=90, max_length=180)
    env = api_env(postgres_url, local_s3, chain.path, plan.seconds)
    apis = [api_proc(f"api{i}", env, free_port(), tmp_path) for i in range(REPLICAS)]
    clock = EpochClock(plan.seconds)
    manager_step = max(0.5, min(30.0, plan.seconds / 20))

    with running(*apis):
        for api in apis:  # started together: they race for the first epochs too
            api.start()
        urls = [wait_api(api) for api in apis]
        timer.mark("replicas_up")
        # The first boundary at least a second after both serve (the planned one, normally).
        boundary = clock.start_of(datetime.now(UTC) + timedelta(seconds=1)) + clock.length
        before_id = clock.epoch_id_at(boundary - timedelta(seconds=1))
        current_id = clock.epoch_id_at(boundary)
        next_id = clock.next_id(current_id)
        # The boundary is a wall-clock instant, so sleeping until it is inherent; after it the
        # replicas' managers are waited for as a condition (however slowly a loaded machine
        # steps them), bounded by the current epoch's end.
        time.sleep(max(0.0, boundary.timestamp() - time.time()) + manager_step)

        def crossed() -> bool:
            states = {e.epoch_id: e.state for e in with_store(postgres_url, _all_epochs)}
            return (
                states.get(before_id) == EpochState.COMPLETED
                and states.get(current_id) == EpochState.ACTIVE
                and states.get(next_id) == EpochState.PENDING
                and all(
                    f'"epoch_id":"{current_id}"' in body and nxt == next_id
                    for body, nxt in asyncio.run(_served(urls, keypair))
                )
            )

        wait_until("both replicas to cross the boundary", crossed,
                   within=max(5.0, boundary.timestamp() + plan.seconds - 2 - time.time()),
                   procs=tuple(apis))  # fmt: skip
        timer.mark("after_boundary")
        served = asyncio.run(_served(urls, keypair))
        created = [created_count(url) for url in urls]
        assert all(api.alive for api in apis)
    assert {body for body, _ in served} == {served[0][0]}  # same bytes from both replicas
    assert f'"epoch_id":"{current_id}"' in served[0][0]
    assert {nxt for _, nxt in served} == {next_id}

    epochs = with_store(postgres_url, lambda s: s.list_epochs(limit=100))
    ids = [e.epoch_id for e in epochs]
    assert len(ids) == len(set(ids))
    assert {before_id, current_id, next_id} <= set(ids)
    # Every row was inserted by exactly one replica; the loser of each race inserted nothing.
    assert sum(created) == len(ids), (created, ids)
    states = {e.epoch_id: e.state for e in epochs}
    assert states[before_id] == EpochState.COMPLETED
    assert states[current_id] == EpochState.ACTIVE
    assert states[next_id] == EpochState.PENDING

    settings = ApiServerSettings(epoch_seconds=plan.seconds, **{
        k.removeprefix("RESI_").lower(): v for k, v in SMALL_EPOCH.items()
    })  # fmt: skip
    for epoch_id in (current_id, next_id):
        built, stored = with_store(
            postgres_url, lambda s, e=epoch_id: _built_and_stored(s, settings, e)
        )
        assert [a.position for a in stored] == list(range(len(stored)))
        assert len({a.zipcode for a in stored}) == len(stored)
        assert [(a.zipcode, a.expected_listings, a.honeypot) for a in stored] == [
            (a.zipcode, a.expected_listings, a.honeypot) for a in built
        ]
    timer.report(f"replica boundary (epoch {plan.seconds}s, created per replica {created})")
