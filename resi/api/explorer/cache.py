"""The explorer's page cache: the whole site rendered at once, served by dictionary lookup.

A request costs one lookup in the current snapshot. When the snapshot is older than
``explorer_ttl_seconds`` one rebuild starts in the background (single flight) while requests keep
getting the previous snapshot; only the very first request of a process waits for a build.
Unknown paths (random hotkeys, say) hit the same snapshot and get its 404 page, so nobody can make
the API do work per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

from resi.api.explorer import data, render
from resi.api.state import ApiState
from resi.errors import StoreError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    built_at: float
    pages: dict[str, bytes]
    not_found: bytes


@dataclass
class ExplorerCache:
    snapshot: Snapshot | None = None
    building: asyncio.Task[Snapshot] | None = None
    builds: int = 0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def get(self, state: ApiState) -> Snapshot:
        """The current snapshot (refreshing it in the background when stale)."""
        snap = self.snapshot
        ttl = state.settings.explorer_ttl_seconds
        if snap is not None and time.monotonic() - snap.built_at <= ttl:
            return snap
        if self.building is None or self.building.done():
            self.building = asyncio.create_task(self._build(state))
        if snap is not None:
            return snap
        return await asyncio.shield(self.building)

    async def _build(self, state: ApiState) -> Snapshot:
        async with self._lock:
            try:
                snap = await build_snapshot(state)
            except StoreError as exc:
                if self.snapshot is None:
                    raise  # the first request gets the usual 503 JSON
                # Keep serving the previous pages; the next request retries the rebuild.
                log.warning("explorer rebuild failed, serving the previous pages: %s", exc)
                return self.snapshot
            self.snapshot = snap
            self.builds += 1
            return snap

    async def close(self) -> None:
        if self.building is not None and not self.building.done():
            self.building.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.building


def miner_path(hotkey: str) -> str:
    return f"/miner/{hotkey}"


async def build_snapshot(state: ApiState) -> Snapshot:
    """Every page of the explorer for the current state of the store."""
    now = state.now()
    views = await data.recent_views(state, now)
    pages: dict[str, bytes] = {"/": render.epochs_page(views)}
    miners: set[str] = set()
    for v in views:
        pages[f"/epoch/{v.epoch_id}"] = render.epoch_page(v)
        miners.update(v.miners)
    for hotkey in sorted(miners):
        pages[miner_path(hotkey)] = render.miner_page(hotkey, views)
    validators = sorted({e.validator for v in views for e in v.consensus.validators})
    weights = await data.last_weights_blocks(state, validators)
    pages["/validators"] = render.validators_page(views, weights)
    return Snapshot(time.monotonic(), pages, render.not_found_page())
