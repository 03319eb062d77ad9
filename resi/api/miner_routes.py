"""Miner routes: the current assignment, status reports with commits, and upload grants."""

from __future__ import annotations

import asyncio
import hmac
from datetime import datetime, timedelta

from aiohttp import web

from resi.api import epochs
from resi.api.auth import BODY_KEY, CALLER_KEY
from resi.api.responses import json_model, upload_grant
from resi.api.schemas import (
    CommitAccepted,
    CommitItem,
    FolderAccessRequest,
    StatusReceipt,
    StatusUpdate,
)
from resi.api.state import ApiState, effective_state, state_of
from resi.chain.base import Neuron
from resi.epoch.models import Commit, Epoch, EpochState
from resi.errors import ApiError, KeyLayoutError
from resi.s3.layout import is_in_prefix, miner_key, miner_prefix

_HEAD_CONCURRENCY = 16
_MIN_GRANT_LIFETIME = timedelta(seconds=3)


async def current(request: web.Request) -> web.Response:
    """`GET /api/v1/zipcode-assignments/current`: the active epoch without honeypot flags."""
    state = state_of(request)
    body = await epochs.current_body(state, state.now())
    return web.Response(body=body, content_type="application/json")


def _require_open(epoch: Epoch, now: datetime) -> None:
    if effective_state(epoch, now) is not EpochState.ACTIVE or not (
        epoch.start <= now < epoch.deadline
    ):
        raise ApiError(409, "EPOCH_CLOSED", "epoch is not accepting submissions")


async def status(request: web.Request) -> web.Response:
    """`POST /api/v1/zipcode-assignments/status`: record a status and commit files.

    Every check runs before anything is written, so a refused request leaves no trace.
    """
    state = state_of(request)
    received_at = state.now()  # the server's receive time is what ranks commits
    body: StatusUpdate = request[BODY_KEY]
    hotkey = request[CALLER_KEY].hotkey
    epoch = await epochs.require_epoch(state, body.epoch_id)
    if not hmac.compare_digest(body.nonce.encode(), epoch.nonce.encode()):
        raise ApiError(400, "WRONG_NONCE", "nonce does not match the epoch")
    _require_open(epoch, received_at)
    commits = await _checked_commits(state, epoch, hotkey, body.commits, received_at)
    stored = await state.store.upsert_commits(commits) if commits else []
    await state.store.record_miner_status(
        epoch.epoch_id, hotkey, body.status, body.detail, received_at
    )
    state.metrics.commits.inc(amount=len(stored))
    receipt = StatusReceipt(
        epoch_id=epoch.epoch_id,
        status=body.status,
        accepted=[
            CommitAccepted(zipcode=c.zipcode, key=c.key, received_at=c.received_at) for c in stored
        ],
    )
    return json_model(receipt)


async def _checked_commits(
    state: ApiState,
    epoch: Epoch,
    hotkey: str,
    items: list[CommitItem],
    received_at: datetime,
) -> list[Commit]:
    """Validate commit items (prefix, assignment, object in S3); returns rows to store.

    Raises ``ApiError`` 403 ``FOREIGN_PREFIX``, 400 ``NOT_ASSIGNED`` / ``DUPLICATE_ZIPCODE`` /
    ``OBJECT_MISSING`` / ``OBJECT_TOO_LARGE``.
    """
    if not items:
        return []
    try:
        prefix = miner_prefix(hotkey, epoch.epoch_id)
    except KeyLayoutError:
        raise ApiError(403, "FOREIGN_PREFIX", "hotkey cannot own an upload prefix") from None
    assigned = {a.zipcode for a in await epochs.assignments(state, epoch.epoch_id)}
    seen: set[str] = set()
    for item in items:
        expected = miner_key(hotkey, epoch.epoch_id, item.zipcode, item.sha256)
        if not is_in_prefix(item.key, prefix) or item.key != expected:
            raise ApiError(
                403, "FOREIGN_PREFIX", "commit key must be the caller's own key for this zipcode"
            )
        if item.zipcode not in assigned:
            raise ApiError(400, "NOT_ASSIGNED", f"zipcode {item.zipcode} is not in this epoch")
        if item.zipcode in seen:
            raise ApiError(400, "DUPLICATE_ZIPCODE", f"zipcode {item.zipcode} committed twice")
        seen.add(item.zipcode)
    sizes = await _object_sizes(state, [item.key for item in items])
    out: list[Commit] = []
    for item in items:
        size = sizes[item.key]
        if size is None:
            raise ApiError(400, "OBJECT_MISSING", f"no uploaded object for zipcode {item.zipcode}")
        if size > state.settings.max_upload_bytes:
            raise ApiError(400, "OBJECT_TOO_LARGE", f"object for {item.zipcode} is too large")
        out.append(
            Commit(
                epoch_id=epoch.epoch_id,
                hotkey=hotkey,
                zipcode=item.zipcode,
                key=item.key,
                sha256=item.sha256,
                rows=item.rows,
                size=size,
                received_at=received_at,
            )
        )
    return out


async def _object_sizes(state: ApiState, keys: list[str]) -> dict[str, int | None]:
    """HEAD every key concurrently (bounded); the local S3 server enforces too little to skip it."""
    limiter = asyncio.Semaphore(_HEAD_CONCURRENCY)

    async def one(key: str) -> int | None:
        async with limiter:
            info = await state.s3.head(key)
        return None if info is None else int(info.size)

    # gather (not a task group) so a StorageError surfaces as itself, not an ExceptionGroup.
    sizes = await asyncio.gather(*(one(key) for key in keys))
    return dict(zip(keys, sizes, strict=True))


async def folder_access(request: web.Request) -> web.Response:
    """`POST /get-folder-access`: a presigned POST for ONE object, the caller's file of a zipcode.

    The key is ``miner_key(caller, epoch, zipcode, sha256)``; the zipcode must be assigned in the
    open epoch. The grant lives ``miner_upload_grant_seconds``, never past the deadline.
    """
    state = state_of(request)
    now = state.now()
    body: FolderAccessRequest = request[BODY_KEY]
    neuron: Neuron = request[CALLER_KEY]
    if body.epoch_id is None:
        epoch = await epochs.find_current(state, now)
        if epoch is None:
            raise ApiError(409, "EPOCH_CLOSED", "no epoch is accepting submissions")
    else:
        epoch = await epochs.require_epoch(state, body.epoch_id)
    _require_open(epoch, now)
    assigned = {a.zipcode for a in await epochs.assignments(state, epoch.epoch_id)}
    if body.zipcode not in assigned:
        raise ApiError(400, "NOT_ASSIGNED", f"zipcode {body.zipcode} is not in this epoch")
    try:
        key = miner_key(neuron.hotkey, epoch.epoch_id, body.zipcode, body.sha256)
    except KeyLayoutError:
        raise ApiError(403, "FOREIGN_PREFIX", "hotkey cannot own an upload prefix") from None
    lifetime = timedelta(seconds=state.settings.miner_upload_grant_seconds)
    expires = min(epoch.deadline, now + lifetime)
    if expires - now < _MIN_GRANT_LIFETIME:
        # A policy living under a few seconds cannot carry an upload; it is closed, not down.
        raise ApiError(409, "EPOCH_CLOSED", "too close to the deadline for an upload")
    return json_model(await upload_grant(state, key, expires))
