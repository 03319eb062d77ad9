"""`GET /api/v1/miners/report[/{epoch_id}]`: a signed miner's own outcome from the summaries.

Only the caller's entries leave the API (its own claimed-vs-observed spot rows included), and
only for COMPLETED epochs, so nothing here helps one miner learn about another's files.
"""

from __future__ import annotations

from aiohttp import web

from resi.api import epochs as epoch_queries
from resi.api.auth import CALLER_KEY
from resi.api.explorer.data import DONE, RECENT_EPOCHS, parse_summaries
from resi.api.responses import json_model
from resi.api.schemas import MinerReport, MinerReportZipcode
from resi.api.state import ApiState, effective_state, state_of
from resi.api.validator_routes import path_epoch_id
from resi.epoch.models import Epoch
from resi.errors import ApiError


async def _latest_with_summaries(state: ApiState) -> Epoch:
    now = state.now()
    for epoch in await state.store.list_epochs(limit=RECENT_EPOCHS):
        if effective_state(epoch, now) in DONE and await state.store.result_summaries(
            epoch.epoch_id
        ):
            return epoch
    raise ApiError(404, "NO_REPORT", "no validator has posted a report summary yet")


async def miner_report(request: web.Request) -> web.Response:
    """The caller's rank, reasons and spot-check rows per zipcode, per validator."""
    state = state_of(request)
    hotkey = request[CALLER_KEY].hotkey
    if "epoch_id" not in request.match_info:
        epoch = await _latest_with_summaries(state)
    else:
        epoch = await epoch_queries.require_epoch(state, path_epoch_id(request), status=404)
        if effective_state(epoch, state.now()) not in DONE:
            raise ApiError(409, "EPOCH_NOT_COMPLETED", "reports exist once the epoch completes")
    parsed = parse_summaries(await state.store.result_summaries(epoch.epoch_id))
    zipcodes = [
        MinerReportZipcode(
            zipcode=item.zipcode,
            validator=row.validator_hotkey,
            rank=item.rank,
            reasons=list(item.reasons),
            liar=item.liar,
            spot=item.spot,
        )
        for row, summary in parsed
        for item in summary.miners.get(hotkey, [])
    ]
    report = MinerReport(
        epoch_id=epoch.epoch_id,
        miner=hotkey,
        validators=[row.validator_hotkey for row, _ in parsed],
        scores={
            row.validator_hotkey: summary.scores[hotkey]
            for row, summary in parsed
            if hotkey in summary.scores
        },
        zipcodes=sorted(zipcodes, key=lambda z: (z.zipcode, z.validator)),
    )
    return json_model(report)
