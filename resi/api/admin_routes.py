"""Operator controls (`resi admin`): extend an epoch, pause/resume selection, list actions.

Every request is btauth/1-signed by a hotkey in ``owner_hotkeys`` (401 bad signature or replay,
403 ``NOT_OWNER``); the gate middleware treats these routes as public, so the check happens here
(owners need not be registered on the subnet). Each action is written to the ``admin_actions``
audit table together with its effect, and counted in /metrics.
"""

from __future__ import annotations

from datetime import datetime

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from resi.api.auth import nonce_expiry, verify_signature
from resi.api.responses import json_model
from resi.api.schemas import EPOCH_ID
from resi.api.state import ApiState, state_of
from resi.epoch.store import admin as store_admin
from resi.errors import ApiError


class ExtendEpochRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    epoch_id: str = Field(pattern=EPOCH_ID)
    minutes: float = Field(gt=0)
    reason: str = Field("", max_length=500)


class SelectionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field("", max_length=500)


class AdminActionOut(BaseModel):
    action_id: str
    at: datetime
    hotkey: str
    action: str
    epoch_id: str | None
    detail: dict[str, object]


class AdminActions(BaseModel):
    """`GET /api/v1/admin/actions`: the audit trail, newest first, and the pause state."""

    selection_paused: bool
    actions: list[AdminActionOut]


async def _owner(request: web.Request, state: ApiState) -> tuple[str, bytes]:
    """Verify the signature, the owner list and the nonce; returns (hotkey, raw body)."""
    raw = await request.read()
    caller = verify_signature(request, raw, state)
    if caller.hotkey_ss58 not in state.settings.owner_hotkeys:
        state.metrics.auth_failures.inc("NOT_OWNER")
        raise ApiError(403, "NOT_OWNER", "this hotkey is not an owner of this API")
    expires = nonce_expiry(caller.nonce_ns, state)
    if not await state.store.check_and_store_nonce(caller.hotkey_ss58, caller.nonce_ns, expires):
        state.metrics.auth_failures.inc("ReplayedRequest")
        raise ApiError(401, "ReplayedRequest", "this nonce was already accepted from this hotkey")
    return caller.hotkey_ss58, raw


def _parse(model: type[BaseModel], raw: bytes) -> BaseModel:
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ApiError(422, "INVALID_BODY", f"{where}: {first['msg']}") from None


def _out(a: store_admin.AdminAction) -> AdminActionOut:
    return AdminActionOut(**a.__dict__)


async def extend_epoch(request: web.Request) -> web.Response:
    """`POST /api/v1/admin/extend-epoch`: move an open epoch's end and deadline later."""
    state = state_of(request)
    hotkey, raw = await _owner(request, state)
    body = _parse(ExtendEpochRequest, raw)
    assert isinstance(body, ExtendEpochRequest)
    if body.minutes > state.settings.max_extend_minutes:
        raise ApiError(
            422, "EXTENSION_TOO_LONG", f"at most {state.settings.max_extend_minutes} minutes"
        )
    action = store_admin.new_action(
        hotkey,
        store_admin.EXTEND,
        state.now(),
        body.epoch_id,
        {"minutes": body.minutes, "reason": body.reason},
    )
    moved = await store_admin.extend_epoch(state.store, action, body.minutes)
    if moved is None:
        raise ApiError(409, "EPOCH_NOT_OPEN", "only a PENDING or ACTIVE epoch can be extended")
    # This replica's caches hold the old window; other replicas re-read at the old end.
    state.current = None
    state.stats_cache = None
    state.metrics.admin_actions.inc(store_admin.EXTEND)
    end, deadline = moved
    detail = {**action.detail, "end": end.isoformat(), "deadline": deadline.isoformat()}
    return json_model(_out(store_admin.AdminAction(**{**action.__dict__, "detail": detail})))


async def _selection(request: web.Request, kind: str) -> web.Response:
    state = state_of(request)
    hotkey, raw = await _owner(request, state)
    body = _parse(SelectionRequest, raw)
    assert isinstance(body, SelectionRequest)
    action = store_admin.new_action(hotkey, kind, state.now(), None, {"reason": body.reason})
    await store_admin.record_action(state.store, action)
    state.metrics.admin_actions.inc(kind)
    state.metrics.selection_paused.set(1.0 if kind == store_admin.PAUSE else 0.0)
    return json_model(_out(action))


async def pause_selection(request: web.Request) -> web.Response:
    """`POST /api/v1/admin/pause-selection`: create no new epochs until resumed."""
    return await _selection(request, store_admin.PAUSE)


async def resume_selection(request: web.Request) -> web.Response:
    """`POST /api/v1/admin/resume-selection`: create epochs again."""
    return await _selection(request, store_admin.RESUME)


async def list_actions(request: web.Request) -> web.Response:
    """`GET /api/v1/admin/actions`: the newest 100 actions and whether selection is paused."""
    state = state_of(request)
    await _owner(request, state)
    actions = await store_admin.list_actions(state.store, limit=100)
    paused = await store_admin.selection_paused(state.store)
    return json_model(AdminActions(selection_paused=paused, actions=[_out(a) for a in actions]))
