"""Validator routes: inputs of a COMPLETED epoch, report upload grants, and result submission."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from fractions import Fraction

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
from resi.score.consensus import consensus_hash

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
    # Both checks refuse before anything is recorded.
    summary_json = None if body.summary is None else check_summary(state, epoch, body)
    reports = await _zipcode_reports(state, epoch.epoch_id, body)
    await state.store.record_validator_result(
        epoch.epoch_id, hotkey, body.consensus_hash, body.report_key, received_at
    )
    if summary_json is not None:
        await state.store.record_result_summary(
            epoch.epoch_id, hotkey, body.consensus_hash, summary_json, received_at
        )
    if reports:
        # Stake at report time, from the cached metagraph the auth gate already checked.
        stake = float(request[CALLER_KEY].stake)
        await state.store.record_zipcode_reports(
            epoch.epoch_id, hotkey, stake, reports, received_at
        )
    receipt = ValidatorResultReceipt(
        epoch_id=epoch.epoch_id,
        validator=hotkey,
        consensus_hash=body.consensus_hash,
        received_at=received_at,
    )
    return json_model(receipt)


def check_summary(state: ApiState, epoch: Epoch, body: ValidatorResult) -> str:
    """The summary's JSON text once it is within bounds and describes the posted result.

    The hash is recomputed from the summary's scores and winners with the epoch's stored nonce,
    so a summary can only ever describe the result it came with. Raises ``ApiError`` 413
    ``SUMMARY_TOO_LARGE`` or 422 ``SUMMARY_MISMATCH``.
    """
    summary = body.summary
    assert summary is not None
    text = summary.model_dump_json()
    limit = state.settings.max_result_summary_bytes
    if len(text.encode()) > limit:
        raise ApiError(413, "SUMMARY_TOO_LARGE", f"report summary exceeds {limit} bytes")
    if summary.epoch_id != epoch.epoch_id:
        raise ApiError(422, "SUMMARY_MISMATCH", "summary is for another epoch")
    scores = {hk: Fraction(v) for hk, v in summary.scores.items()}
    winners = {z: z_sum.winners for z, z_sum in summary.zipcodes.items()}
    if consensus_hash(epoch.epoch_id, epoch.nonce, scores, winners) != body.consensus_hash:
        raise ApiError(
            422, "SUMMARY_MISMATCH", "summary scores and winners do not give the posted hash"
        )
    return text


async def _zipcode_reports(
    state: ApiState, epoch_id: str, body: ValidatorResult
) -> list[tuple[str, int, bool]]:
    """The result's per-zipcode counts as store rows; raises 422 ``INVALID_ZIPCODE_COUNTS`` if
    a zipcode is not one of the epoch's or appears twice (nothing is recorded then)."""
    if not body.zipcode_counts:
        return []
    assigned = {a.zipcode for a in await epochs.assignments(state, epoch_id)}
    seen: set[str] = set()
    for item in body.zipcode_counts:
        if item.zipcode not in assigned or item.zipcode in seen:
            raise ApiError(
                422,
                "INVALID_ZIPCODE_COUNTS",
                f"zipcode {item.zipcode} is not assigned in the epoch, or is reported twice",
            )
        seen.add(item.zipcode)
    return [(c.zipcode, c.validated_count, c.honeypot_contradicted) for c in body.zipcode_counts]
