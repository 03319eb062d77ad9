"""Epoch look-ups for handlers, with small in-process caches of immutable epoch content.

An epoch's assignments never change after creation, so they are cached per epoch id; the
current epoch's `/current` body is cached until its window ends (the hot path does no reads).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from resi.api.schemas import CurrentAssignment, ZipcodeTask
from resi.api.state import ApiState, CurrentCache
from resi.epoch.models import Assignment, Epoch
from resi.errors import ApiError

_ASSIGNMENT_CACHE_SIZE = 16


async def find_current(state: ApiState, now: datetime) -> Epoch | None:
    """The epoch whose window contains ``now`` (start ≤ now < end), or None."""
    cached = state.current
    if cached is not None and cached.epoch.start <= now < cached.epoch.end:
        return cached.epoch
    for epoch in await state.store.list_epochs(limit=6):
        if epoch.start <= now < epoch.end:
            return epoch
    return None


async def find_next(state: ApiState, now: datetime) -> Epoch | None:
    """The earliest epoch starting after ``now``, or None."""
    later = [e for e in await state.store.list_epochs(limit=6) if e.start > now]
    return min(later, key=lambda e: e.start) if later else None


async def require_epoch(state: ApiState, epoch_id: str, *, status: int = 400) -> Epoch:
    """The stored epoch ``epoch_id``; raises ``ApiError(status, UNKNOWN_EPOCH)`` if absent."""
    epoch = await state.store.get_epoch(epoch_id)
    if epoch is None:
        raise ApiError(status, "UNKNOWN_EPOCH", "no such epoch")
    return epoch


async def assignments(state: ApiState, epoch_id: str) -> list[Assignment]:
    """The epoch's assignments (honeypot flag included; callers filter), cached."""
    cache = state.assignments
    found = cache.get(epoch_id)
    if found is None:
        found = await state.store.get_assignments(epoch_id)
        if found:  # never cache an empty read of an epoch being created
            if len(cache) >= _ASSIGNMENT_CACHE_SIZE:
                cache.pop(next(iter(cache)))
            cache[epoch_id] = found
    return found


def task_fields(a: Assignment) -> dict[str, Any]:
    """The ``ZipcodeTask`` fields of an assignment (validators' rows extend them)."""
    return {
        "zipcode": a.zipcode,
        "expected_listings": a.expected_listings,
        "state": a.state,
        "city": a.city,
        "county": a.county,
        "market_tier": str(a.market_tier),
        "region": a.region,
    }


def miner_view(epoch: Epoch, rows: list[Assignment]) -> CurrentAssignment:
    """What a miner sees of an epoch: everything except the honeypot flag."""
    return CurrentAssignment(
        epoch_id=epoch.epoch_id,
        start=epoch.start,
        end=epoch.end,
        deadline=epoch.deadline,
        nonce=epoch.nonce,
        target=epoch.target,
        tolerance=epoch.tolerance,
        zipcodes=[ZipcodeTask(**task_fields(a)) for a in rows],
    )


async def current_body(state: ApiState, now: datetime) -> bytes:
    """The serialised `/current` response; raises 404 ``NO_ACTIVE_EPOCH`` between epochs."""
    cached = state.current
    if cached is not None and cached.epoch.start <= now < cached.epoch.end:
        return cached.body
    epoch = await find_current(state, now)
    if epoch is None:
        raise ApiError(404, "NO_ACTIVE_EPOCH", "no epoch is active right now; retry shortly")
    rows = await assignments(state, epoch.epoch_id)
    body = miner_view(epoch, rows).model_dump_json().encode()
    state.current = CurrentCache(epoch, body)
    return body
