"""Background loops of the API process: metagraph refresh, epoch manager, expiry purge.

Each loop survives failures of its dependency (logged, visible in /health) and keeps the last
good state, so requests keep working on the last good metagraph snapshot.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Protocol

from resi.api.state import ApiState, Membership
from resi.epoch.models import EpochState
from resi.epoch.store.admin import selection_paused
from resi.errors import ChainError, EpochError, StoreError

log = logging.getLogger(__name__)

PURGE_SECONDS = 60.0


class EpochManagerLike(Protocol):
    async def ensure(self, now: Any) -> Any: ...


async def refresh_metagraph(state: ApiState) -> bool:
    """Take a fresh snapshot; on failure keep the last good one. Returns True on success."""
    try:
        snapshot = await asyncio.wait_for(
            state.chain.metagraph(), timeout=state.settings.chain_timeout
        )
    except (ChainError, TimeoutError) as exc:
        state.metagraph_error = f"{type(exc).__name__}: {exc}"
        log.warning("metagraph refresh failed (keeping last snapshot): %s", state.metagraph_error)
        return False
    state.membership = Membership.of(snapshot, state.now())
    state.metagraph_error = None
    return True


def _count_transitions(state: ApiState, outcome: Any) -> None:
    # The manager's EpochStatus reports what it did as tuples `created` and `transitions`.
    for kind in ("created", "transitions"):
        value = getattr(outcome, kind, None)
        n = len(value) if isinstance(value, list | tuple | set | dict) else value
        if isinstance(n, int) and not isinstance(n, bool) and n > 0:
            state.metrics.epoch_transitions.inc(kind, amount=n)


async def export_completed(state: ApiState, epoch_id: str) -> None:
    """Set the per-epoch gauges from ``epoch_id`` if it is COMPLETED (never earlier: the honeypot
    count and achieved sum of an open epoch must stay secret). Store errors are logged."""
    try:
        epoch = await state.store.get_epoch(epoch_id)
        if epoch is None or epoch.state != EpochState.COMPLETED:
            return
        current = state.metrics.completed_epoch_start.get()
        if current is not None and current > epoch.start.timestamp():
            return  # an older epoch completing late (e.g. after an outage): keep the newest
        assignments = await state.store.get_assignments(epoch_id)
    except StoreError as exc:
        log.warning("cannot export metrics of epoch %s: %s", epoch_id, exc)
        return
    m = state.metrics
    m.completed_zipcodes.set(len(assignments))
    m.completed_honeypots.set(sum(1 for a in assignments if a.honeypot))
    m.completed_achieved.set(epoch.achieved_sum)
    m.completed_target.set(epoch.target)
    m.completed_epoch_start.set(epoch.start.timestamp())


async def run_manager_once(state: ApiState, manager: EpochManagerLike) -> bool:
    """One ``ensure`` pass; records success/failure for /health. Returns True on success."""
    started = time.perf_counter()
    try:
        paused = await selection_paused(state.store)
        state.metrics.selection_paused.set(1.0 if paused else 0.0)
        if paused and hasattr(manager, "advance"):
            outcome = await manager.advance(state.now())  # states move on; nothing is created
        else:
            outcome = await manager.ensure(state.now())
    except (StoreError, EpochError) as exc:
        state.manager_error = f"{type(exc).__name__}: {exc}"
        state.metrics.transition_failures.inc()
        log.warning("epoch manager pass failed: %s", state.manager_error)
        return False
    if getattr(outcome, "created", None):
        state.metrics.selection_seconds.observe(time.perf_counter() - started)
    _count_transitions(state, outcome)
    completed = [
        e for e, s in getattr(outcome, "transitions", ()) or () if s == EpochState.COMPLETED
    ]
    if not completed and state.metrics.completed_epoch_start.get() is None:
        # First pass after a start: describe the newest epoch that completed before it.
        try:
            newest = await state.store.list_epochs(limit=1, states=(EpochState.COMPLETED,))
        except StoreError:
            newest = []
        completed = [e.epoch_id for e in newest]
    for epoch_id in completed:
        await export_completed(state, epoch_id)
    state.manager_ok_at = state.now()
    state.manager_error = None
    return True


async def purge_once(state: ApiState) -> int:
    """Delete expired nonces and old rate windows; returns rows deleted (0 on a store error)."""
    try:
        return await state.store.purge_expired(state.now())
    except StoreError as exc:
        log.warning("purge failed: %s", exc)
        return 0


async def prune_once(state: ApiState) -> list[str]:
    """Delete ARCHIVED epochs past ``archived_retention_epochs`` (never within the zipcode
    cooldown, whose assignments selection still reads). Returns the pruned ids ([] when off or
    on a store error)."""
    keep = state.settings.archived_retention_epochs
    if keep is None:
        return []
    s = state.settings
    horizon = max(keep * s.epoch_seconds, s.cooldown_hours * 3600)
    try:
        pruned = await state.store.prune_archived(state.now() - timedelta(seconds=horizon))
    except StoreError as exc:
        log.warning("pruning archived epochs failed: %s", exc)
        return []
    if pruned:
        log.info("pruned %d archived epochs: %s .. %s", len(pruned), pruned[0], pruned[-1])
    return pruned


async def housekeeping(state: ApiState) -> None:
    """One purge of expired nonces/rate windows and one retention pass."""
    await purge_once(state)
    await prune_once(state)


async def every(seconds: float, step: Callable[[], Awaitable[Any]]) -> None:
    """Run ``step`` every ``seconds`` forever (until cancelled)."""
    while True:
        await asyncio.sleep(seconds)
        await step()


def housekeeping_interval(epoch_seconds: int) -> float:
    """How often to purge and prune: every minute, more often for short (devnet) epochs."""
    return min(PURGE_SECONDS, max(1.0, epoch_seconds / 4))


def manager_interval(epoch_seconds: int) -> float:
    """How often to run ``ensure``: often enough for seconds-long devnet epochs, ≤ 30 s."""
    return max(0.5, min(30.0, epoch_seconds / 20))
