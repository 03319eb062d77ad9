"""`GET /api/v1/epochs/{epoch_id}/reports/{hotkey}`: a presigned URL of a posted validation report.

Validators (and `resi replay-epoch`) use it to read another validator's report when their hashes
disagree. Only validators may ask, and only for a COMPLETED epoch: a report names the honeypots.
"""

from __future__ import annotations

import re

from aiohttp import web

from resi.api import epochs
from resi.api.responses import json_model
from resi.api.schemas import ReportLink
from resi.api.state import state_of
from resi.api.validator_routes import DOWNLOAD_URL_SECONDS, _require_completed, path_epoch_id
from resi.errors import ApiError

_HOTKEY_RE = re.compile(r"^[1-9A-HJ-NP-Za-km-z]{46,48}$")  # ss58 (base58, 46-48 characters)


async def report_link(request: web.Request) -> web.Response:
    """404 ``NO_REPORT`` when that validator posted nothing for the epoch; 409 while it is open."""
    state = state_of(request)
    epoch = await epochs.require_epoch(state, path_epoch_id(request), status=404)
    _require_completed(state, epoch)
    hotkey = request.match_info["hotkey"]
    if not _HOTKEY_RE.fullmatch(hotkey):
        raise ApiError(400, "INVALID_HOTKEY", "hotkey must be an ss58 address")
    rows = await state.store.validator_results(epoch.epoch_id)
    row = next((r for r in rows if r.validator_hotkey == hotkey), None)
    if row is None:
        raise ApiError(404, "NO_REPORT", f"validator {hotkey} posted no result for this epoch")
    url = await state.s3.presigned_get(row.report_key, expires_in=DOWNLOAD_URL_SECONDS)
    return json_model(
        ReportLink(
            epoch_id=epoch.epoch_id,
            validator=hotkey,
            consensus_hash=row.consensus_hash,
            report_key=row.report_key,
            url=url,
        )
    )
