"""Background loops of the API process: metagraph refresh, epoch manager, expiry purge.

Each loop survives failures of its dependency (logged, visible in /health) and keeps the last
good state, so requests keep working on the last good metagraph snapshot.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from resi.api.state import ApiState, Membership
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


async def run_manager_once(state: ApiState, manager: EpochManagerLike) -> bool:
    """One ``ensure`` pass; records success/failure for /health. Returns True on success."""
    try:
        outcome = await manager.ensure(state.now())
    except (StoreError, EpochError) as exc:
        state.manager_error = f"{type(exc).__name__}: {exc}"
        log.warning("epoch manager pass failed: %s", state.manager_error)
        return False
    _count_transitions(state, outcome)
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


async def every(seconds: float, step: Callable[[], Awaitable[Any]]) -> None:
    """Run ``step`` every ``seconds`` forever (until cancelled)."""
    while True:
        await asyncio.sleep(seconds)
        await step()


def manager_interval(epoch_seconds: int) -> float:
    """How often to run ``ensure``: often enough for seconds-long devnet epochs, ≤ 30 s."""
    return max(0.5, min(30.0, epoch_seconds / 20))
