"""Validator routes: inputs of a COMPLETED epoch, report upload grants, and result submission."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

from aiohttp import web

from resi.api import epochs
from resi.api.auth import BODY_KEY, CALLER_KEY
from resi.api.responses import json_model, upload_grant
from resi.api.schemas import (
    EPOCH_ID,
    AssignmentForValidator,
    CommitForValidator,
    EpochInputs,
    ValidatorResult,
    ValidatorResultReceipt,
    ValidatorUploadRequest,
)
from resi.api.state import ApiState, effective_state, state_of
from resi.epoch.models import Commit, Epoch, EpochState
from resi.epoch.secrets import validation_seed
from resi.errors import ApiError
from resi.s3.layout import is_in_prefix, validator_key, validator_prefix

_EPOCH_ID_RE = re.compile(EPOCH_ID)
_DONE = (EpochState.COMPLETED, EpochState.ARCHIVED)
# Validators download during the next epoch; URLs outlive it comfortably.
DOWNLOAD_URL_SECONDS = 12 * 3600
_PRESIGN_CONCURRENCY = 64


def path_epoch_id(request: web.Request) -> str:
    """The ``{epoch_id}`` path parameter; raises 400 ``INVALID_EPOCH_ID`` if malformed."""
    epoch_id = request.match_info["epoch_id"]
    if not _EPOCH_ID_RE.fullmatch(epoch_id):
        raise ApiError(400, "INVALID_EPOCH_ID", "epoch id must look like YYYY-MM-DDTHH-MM-SS")
    return epoch_id


def _require_completed(state: ApiState, epoch: Epoch) -> None:
    if effective_state(epoch, state.now()) not in _DONE:
        raise ApiError(409, "EPOCH_NOT_COMPLETED", "epoch inputs are revealed once it completes")


async def epoch_inputs(request: web.Request) -> web.Response:
    """`GET /api/v1/zipcode-assignments/epoch/{epoch_id}`: everything needed to score the epoch."""
    state = state_of(request)
    epoch = await epochs.require_epoch(state, path_epoch_id(request), status=404)
    _require_completed(state, epoch)
    rows = await epochs.assignments(state, epoch.epoch_id)
    commits = await state.store.list_commits(epoch.epoch_id)
    urls = await _download_urls(state, commits)
    inputs = EpochInputs(
        epoch_id=epoch.epoch_id,
        start=epoch.start,
        end=epoch.end,
        deadline=epoch.deadline,
        state=str(effective_state(epoch, state.now())),
        nonce=epoch.nonce,
        validation_seed=validation_seed(state.secret, epoch.epoch_id),
        target=epoch.target,
        tolerance=epoch.tolerance,
        assignments=[
            AssignmentForValidator(
                **epochs.task_fields(a), lat=a.lat, lon=a.lon, honeypot=a.honeypot
            )
            for a in rows
        ],
        commits=[
            CommitForValidator(
                hotkey=c.hotkey,
                zipcode=c.zipcode,
                key=c.key,
                sha256=c.sha256,
                rows=c.rows,
                size=c.size,
                received_at=c.received_at,
                download_url=url,
            )
            for c, url in zip(commits, urls, strict=True)
        ],
    )
    return json_model(inputs)


async def _download_urls(state: ApiState, commits: list[Commit]) -> list[str]:
    limiter = asyncio.Semaphore(_PRESIGN_CONCURRENCY)

    async def one(key: str) -> str:
        async with limiter:
            url: str = await state.s3.presigned_get(key, expires_in=DOWNLOAD_URL_SECONDS)
            return url

    return list(await asyncio.gather(*(one(c.key) for c in commits)))


async def validator_upload(request: web.Request) -> web.Response:
    """`POST /api/v1/s3-access/validator-upload`: grant for one report file of a done epoch.

    Only for COMPLETED (or archived) epochs, only ``validators/{caller}/epoch={id}/{name}`` with
    ``name`` one of the three report files; lives ``validator_upload_grant_seconds``.
    """
    state = state_of(request)
    body: ValidatorUploadRequest = request[BODY_KEY]
    epoch = await epochs.require_epoch(state, body.epoch_id)
    _require_completed(state, epoch)
    key = validator_key(request[CALLER_KEY].hotkey, epoch.epoch_id, body.name)
    expires = state.now() + timedelta(seconds=state.settings.validator_upload_grant_seconds)
    return json_model(await upload_grant(state, key, expires))


async def post_result(request: web.Request) -> web.Response:
    """`POST /api/v1/validators/results`: record this validator's consensus hash and report key."""
    state = state_of(request)
    received_at = state.now()
    body: ValidatorResult = request[BODY_KEY]
    hotkey = request[CALLER_KEY].hotkey
    epoch = await epochs.require_epoch(state, body.epoch_id)
    _require_completed(state, epoch)
    if not is_in_prefix(body.report_key, validator_prefix(hotkey, epoch.epoch_id)):
        raise ApiError(403, "FOREIGN_PREFIX", "report key must be inside the caller's own prefix")
    await state.store.record_validator_result(
        epoch.epoch_id, hotkey, body.consensus_hash, body.report_key, received_at
    )
    receipt = ValidatorResultReceipt(
        epoch_id=epoch.epoch_id,
        validator=hotkey,
        consensus_hash=body.consensus_hash,
        received_at=received_at,
    )
    return json_model(receipt)
