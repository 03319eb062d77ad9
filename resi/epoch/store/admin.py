"""Operator actions in the store: the ``admin_actions`` audit table, epoch extension, pause state.

Every signed admin request becomes one row (who, when, what, on which epoch, details as JSON) in
the same transaction as its effect, so the audit trail and the state cannot disagree. Whether
selection is paused is the newest pause/resume row, so every replica reads the same answer.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from resi.errors import StoreError

EXTEND = "extend-epoch"
PAUSE = "pause-selection"
RESUME = "resume-selection"
ACTIONS = (EXTEND, PAUSE, RESUME)


@dataclass(frozen=True)
class AdminAction:
    action_id: str
    at: datetime
    hotkey: str
    action: str
    epoch_id: str | None
    detail: dict[str, Any]


def _sql(store: Any) -> tuple[Any, Any]:
    """The store's driver and dialect (admin actions exist only on the SQL store)."""
    try:
        return store._driver, store._d
    except AttributeError:
        raise StoreError("this store does not support admin actions") from None


async def _insert(c: Any, d: Any, action: AdminAction) -> None:
    await c.execute(
        "INSERT INTO admin_actions (action_id, at, hotkey, action, epoch_id, detail) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        action.action_id,
        d.ts_in(action.at),
        action.hotkey,
        action.action,
        action.epoch_id,
        json.dumps(action.detail, sort_keys=True),
    )


def new_action(
    hotkey: str, action: str, at: datetime, epoch_id: str | None, detail: dict[str, Any]
) -> AdminAction:
    """An action row with a fresh id."""
    return AdminAction(uuid.uuid4().hex, at, hotkey, action, epoch_id, detail)


async def record_action(store: Any, action: AdminAction) -> None:
    """Store one action row. Raises ``StoreError``."""
    driver, d = _sql(store)
    async with driver.transaction() as c:
        await _insert(c, d, action)


async def extend_epoch(
    store: Any, action: AdminAction, minutes: float
) -> tuple[datetime, datetime] | None:
    """Move a PENDING/ACTIVE epoch's end and deadline ``minutes`` later and record ``action``
    (one transaction). Returns the new (end, deadline), or None when the epoch does not exist
    or is already COMPLETED/ARCHIVED (nothing recorded then)."""
    driver, d = _sql(store)
    shift = timedelta(minutes=minutes)
    async with driver.transaction() as c:
        rows = await c.fetch(
            "SELECT end_at, deadline_at FROM epochs WHERE epoch_id = ? AND state IN (?, ?)",
            action.epoch_id,
            "PENDING",
            "ACTIVE",
        )
        if not rows:
            return None
        end = d.ts_out(rows[0]["end_at"]) + shift
        deadline = d.ts_out(rows[0]["deadline_at"]) + shift
        await c.execute(
            "UPDATE epochs SET end_at = ?, deadline_at = ? WHERE epoch_id = ?",
            d.ts_in(end),
            d.ts_in(deadline),
            action.epoch_id,
        )
        detail = {**action.detail, "end": end.isoformat(), "deadline": deadline.isoformat()}
        await _insert(c, d, AdminAction(**{**action.__dict__, "detail": detail}))
    return end, deadline


async def list_actions(store: Any, *, limit: int = 100) -> list[AdminAction]:
    """The newest ``limit`` actions, newest first. Raises ``StoreError``."""
    driver, d = _sql(store)
    async with driver.connection() as c:
        rows = await c.fetch(
            "SELECT action_id, at, hotkey, action, epoch_id, detail FROM admin_actions "
            "ORDER BY at DESC, action_id DESC LIMIT ?",
            int(limit),
        )
    return [
        AdminAction(
            action_id=r["action_id"],
            at=d.ts_out(r["at"]),
            hotkey=r["hotkey"],
            action=r["action"],
            epoch_id=r["epoch_id"],
            detail=json.loads(r["detail"]),
        )
        for r in rows
    ]


async def selection_paused(store: Any) -> bool:
    """True when the newest pause/resume action is a pause. Raises ``StoreError``."""
    driver, _ = _sql(store)
    async with driver.connection() as c:
        rows = await c.fetch(
            "SELECT action FROM admin_actions WHERE action IN (?, ?) "
            "ORDER BY at DESC, action_id DESC LIMIT 1",
            PAUSE,
            RESUME,
        )
    return bool(rows) and rows[0]["action"] == PAUSE
