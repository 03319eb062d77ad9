"""The API's per-process state: collaborators, the cached metagraph, caches and metrics.

Everything a handler needs hangs off one ``ApiState`` stored in the aiohttp app, so handlers stay
small functions of (request, state). Cached values are replaced whole, never mutated in place.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from resi.api.metrics import ApiMetrics
from resi.chain.base import Chain, MetagraphSnapshot, Neuron
from resi.config import ApiServerSettings
from resi.epoch.models import Assignment, Epoch, EpochState
from resi.epoch.store.admission import AdmissionBatcher
from resi.epoch.store.base import Store

NowFn = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, timezone-aware UTC (the default clock of the API)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Membership:
    """A metagraph snapshot indexed by hotkey, with the wall time it was taken."""

    snapshot: MetagraphSnapshot
    taken_at: datetime
    by_hotkey: dict[str, Neuron]

    @classmethod
    def of(cls, snapshot: MetagraphSnapshot, taken_at: datetime) -> Membership:
        return cls(snapshot, taken_at, {n.hotkey: n for n in snapshot.neurons})


@dataclass
class CurrentCache:
    """The serialised `/current` response of one epoch; valid while the epoch window lasts."""

    epoch: Epoch
    body: bytes


@dataclass
class ApiState:
    settings: ApiServerSettings
    store: Store
    chain: Chain
    s3: Any
    now: NowFn
    self_hotkey: str
    secret: str
    metrics: ApiMetrics = field(default_factory=ApiMetrics)
    membership: Membership | None = None
    metagraph_error: str | None = None
    manager_ok_at: datetime | None = None
    manager_error: str | None = None
    current: CurrentCache | None = None
    assignments: dict[str, list[Assignment]] = field(default_factory=dict)
    stats_cache: tuple[float, bytes] | None = None
    started_monotonic: float = field(default_factory=time.monotonic)
    admission: AdmissionBatcher | None = None


STATE_KEY: web.AppKey[ApiState] = web.AppKey("resi_api_state", ApiState)


def state_of(request: web.Request) -> ApiState:
    """The ApiState of the app serving ``request``."""
    return request.app[STATE_KEY]


def admissions_of(state: ApiState) -> AdmissionBatcher:
    """The process's request-admission batcher over ``state.store`` (created on first use)."""
    if state.admission is None:
        state.admission = AdmissionBatcher(state.store.admit_requests)
    return state.admission


def effective_state(epoch: Epoch, now: datetime) -> EpochState:
    """The epoch's state at ``now``: the stored state, moved forward by the clock if it lags.

    The manager loop updates stored states every few seconds; requests at a boundary must not
    see a stale ACTIVE (or PENDING) epoch, so time wins when it is further along.
    """
    order = [EpochState.PENDING, EpochState.ACTIVE, EpochState.COMPLETED, EpochState.ARCHIVED]
    by_time = (
        EpochState.PENDING
        if now < epoch.start
        else EpochState.ACTIVE
        if now < epoch.end
        else EpochState.COMPLETED
    )
    stored = EpochState(epoch.state)
    return max(stored, by_time, key=order.index)
