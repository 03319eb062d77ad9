"""Public routes: consensus per epoch, stats, health, metrics (no signature needed)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime

from aiohttp import web

from resi.api import epochs
from resi.api.responses import json_model
from resi.api.schemas import Consensus, ConsensusEntry, EpochSummary, Health, HealthPart, Stats
from resi.api.state import ApiState, effective_state, state_of
from resi.api.validator_routes import path_epoch_id
from resi.epoch.models import Epoch, EpochState, ValidatorResultRow
from resi.errors import StorageError, StoreError

RECENT_EPOCHS = 10
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Public, unauthenticated and comparatively expensive: serve one cached body per few seconds.
STATS_TTL_SECONDS = 2.0


def summarize_consensus(
    epoch_id: str,
    rows: Sequence[ValidatorResultRow],
    *,
    stakes: Mapping[str, float] | None = None,
    min_validators: int = 2,
    min_stake_share: float = 0.5,
) -> Consensus:
    """Majority hash (held by most validators, None on a tie or no results), agreement share
    (validators holding the majority hash / all) and outliers (validators with another hash).

    ``stakes`` maps every permitted validator's hotkey to its stake; the majority's share of
    their total is ``majority_stake_share``. ``quorum`` is true when at least ``min_validators``
    posted the majority hash and they hold at least ``min_stake_share`` of the stake."""
    entries = [
        ConsensusEntry(
            validator=r.validator_hotkey,
            consensus_hash=r.consensus_hash,
            report_key=r.report_key,
            received_at=r.at,
        )
        for r in rows
    ]
    counts = Counter(r.consensus_hash for r in rows).most_common()
    majority: str | None = None
    if counts and (len(counts) == 1 or counts[0][1] > counts[1][1]):
        majority = counts[0][0]
    agreement = counts[0][1] / len(rows) if majority is not None else 0.0
    outliers = sorted(
        r.validator_hotkey for r in rows if majority is not None and r.consensus_hash != majority
    )
    holders = {
        r.validator_hotkey for r in rows if majority is not None and r.consensus_hash == majority
    }
    total_stake = sum((stakes or {}).values())
    share = (
        sum((stakes or {}).get(h, 0.0) for h in holders) / total_stake if total_stake > 0 else 0.0
    )
    return Consensus(
        epoch_id=epoch_id,
        validators=entries,
        majority_hash=majority,
        agreement=agreement,
        outliers=outliers,
        majority_stake_share=share,
        quorum=len(holders) >= min_validators and share >= min_stake_share,
    )


def validator_stakes(state: ApiState) -> dict[str, float]:
    """Stake of every validator-permit hotkey in the cached metagraph (empty without one)."""
    if state.membership is None:
        return {}
    return {
        n.hotkey: float(n.stake) for n in state.membership.snapshot.neurons if n.validator_permit
    }


async def consensus(request: web.Request) -> web.Response:
    """`GET /api/v1/epochs/{epoch_id}/consensus`."""
    state = state_of(request)
    epoch = await epochs.require_epoch(state, path_epoch_id(request), status=404)
    rows = await state.store.validator_results(epoch.epoch_id)
    return json_model(
        summarize_consensus(
            epoch.epoch_id,
            rows,
            stakes=validator_stakes(state),
            min_validators=state.settings.quorum_min_validators,
            min_stake_share=state.settings.quorum_min_stake_share,
        )
    )


async def _summary(state: ApiState, epoch: Epoch, now: datetime) -> EpochSummary:
    rows = await epochs.assignments(state, epoch.epoch_id)
    commits = await state.store.list_commits(epoch.epoch_id)
    return EpochSummary(
        epoch_id=epoch.epoch_id,
        start=epoch.start,
        end=epoch.end,
        deadline=epoch.deadline,
        state=str(effective_state(epoch, now)),
        zipcodes=len(rows),
        miners_committed=len({c.hotkey for c in commits}),
        commits=len(commits),
    )


async def build_stats(state: ApiState, now: datetime) -> Stats:
    """Current and next epoch, recent non-pending epochs (COMPLETED included) and counts."""
    listed = await state.store.list_epochs(limit=RECENT_EPOCHS + 2)
    current = next((e for e in listed if e.start <= now < e.end), None)
    upcoming = sorted((e for e in listed if e.start > now), key=lambda e: e.start)
    nxt = upcoming[0] if upcoming else None
    recent = [e for e in listed if effective_state(e, now) is not EpochState.PENDING]
    if nxt is not None:
        to_next = (nxt.start - now).total_seconds()
    elif current is not None:
        to_next = (current.end - now).total_seconds()
    else:
        to_next = 0.0
    return Stats(
        now=now,
        current=await _summary(state, current, now) if current else None,
        next=await _summary(state, nxt, now) if nxt else None,
        seconds_to_next=max(0.0, to_next),
        recent=[await _summary(state, e, now) for e in recent[:RECENT_EPOCHS]],
    )


async def stats(request: web.Request) -> web.Response:
    """`GET /api/v1/zipcode-assignments/stats`."""
    state = state_of(request)
    cached = state.stats_cache
    if cached is None or time.monotonic() - cached[0] > STATS_TTL_SECONDS:
        body = (await build_stats(state, state.now())).model_dump_json().encode()
        cached = state.stats_cache = (time.monotonic(), body)
    return web.Response(body=cached[1], content_type="application/json")


async def _database_part(state: ApiState) -> HealthPart:
    try:
        await state.store.ping()
    except StoreError as exc:
        return HealthPart(name="database", ok=False, required=True, detail=str(exc))
    return HealthPart(name="database", ok=True, required=True, detail=state.store.backend)


async def _s3_part(state: ApiState) -> HealthPart:
    try:
        probe = await state.s3.probe()
    except StorageError as exc:
        return HealthPart(name="object_store", ok=False, required=True, detail=str(exc))
    return HealthPart(name="object_store", ok=probe.ok, required=True, detail=probe.detail)


def _chain_part(state: ApiState, now: datetime) -> HealthPart:
    membership = state.membership
    if membership is None:
        detail = state.metagraph_error or "no metagraph snapshot yet"
        return HealthPart(name="chain", ok=False, required=True, detail=detail)
    age = (now - membership.taken_at).total_seconds()
    stale = age > 3 * state.settings.metagraph_refresh_seconds
    detail = (
        f"snapshot block {membership.snapshot.block}, {len(membership.by_hotkey)} neurons, "
        f"age {age:.0f}s" + (" (STALE: " + (state.metagraph_error or "") + ")" if stale else "")
    )
    return HealthPart(name="chain", ok=not stale, required=True, detail=detail)


def _manager_part(state: ApiState, now: datetime) -> HealthPart:
    last = state.manager_ok_at
    if last is None:
        detail = state.manager_error or "epoch manager has not run yet"
        return HealthPart(name="epoch_manager", ok=False, required=True, detail=detail)
    age = (now - last).total_seconds()
    ok = age < 5 * 60
    detail = f"last ensure {age:.0f}s ago" + ("" if ok else f": {state.manager_error}")
    return HealthPart(name="epoch_manager", ok=ok, required=True, detail=detail)


async def health(request: web.Request) -> web.Response:
    """`GET /health`: 200 when every required part is up, else 503 (same body shape)."""
    state = state_of(request)
    now = state.now()
    parts = [
        await _database_part(state),
        await _s3_part(state),
        _chain_part(state, now),
        _manager_part(state, now),
    ]
    ok = all(p.ok for p in parts if p.required)
    return json_model(Health(ok=ok, parts=parts), status=200 if ok else 503)


async def metrics(request: web.Request) -> web.Response:
    """`GET /metrics`: Prometheus text exposition format."""
    text = state_of(request).metrics.render()
    return web.Response(body=text.encode(), headers={"Content-Type": PROMETHEUS_CONTENT_TYPE})
