"""Upload grants are one object each, sized and timed by settings (issue 13)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from resi.api.client import FOLDER_ACCESS, VALIDATOR_UPLOAD
from resi.s3.layout import miner_key
from tests.api.test_refusals import assert_error, send
from tests.fixtures.api import ApiServer

pytestmark = pytest.mark.anyio


def _body(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


async def test_grant_names_one_key_with_the_configured_bounds(
    db_url: str, api_factory: Callable[..., Any]
) -> None:
    async with api_factory(
        db_url, miner_upload_grant_seconds=120, min_upload_bytes=16, max_upload_bytes=4096
    ) as server:
        miner, active = server.keys.miner, server.epochs.active
        r = await send(
            server, miner, "POST", FOLDER_ACCESS, _body(zipcode="60614", sha256="a" * 64)
        )
        assert r.status_code == 200, r.text
        grant = r.json()
        assert grant["key"] == miner_key(miner.ss58_address, active.epoch_id, "60614", "a" * 64)
        assert grant["max_bytes"] == 4096
        expires = datetime.fromisoformat(grant["expires_at"].replace("Z", "+00:00"))
        assert expires <= server.state.now() + timedelta(seconds=121)
        policy = grant["fields"]["policy"]
        conditions = json.loads(base64.b64decode(policy))["conditions"]
        assert ["content-length-range", 16, 4096] in conditions
        assert {"key": grant["key"]} in conditions


async def test_grant_refusals(api_server: ApiServer) -> None:
    miner = api_server.keys.miner
    r = await send(
        api_server, miner, "POST", FOLDER_ACCESS, _body(zipcode="99999", sha256="a" * 64)
    )
    assert_error(r, 400, "NOT_ASSIGNED")
    r = await send(api_server, miner, "POST", FOLDER_ACCESS, _body(zipcode="10001"))
    assert_error(r, 422, "INVALID_BODY")  # no prefix grants any more: the file must be named
    r = await send(
        api_server, miner, "POST", FOLDER_ACCESS, _body(zipcode="10001", sha256="A" * 64)
    )
    assert_error(r, 422, "INVALID_BODY")
    # Two seconds before the deadline a grant could not carry an upload: closed, not "down".
    active = api_server.epochs.active
    api_server.clock.offset = active.deadline - api_server.clock() - timedelta(seconds=2)
    r = await send(
        api_server, miner, "POST", FOLDER_ACCESS, _body(zipcode="10001", sha256="a" * 64)
    )
    assert_error(r, 409, "EPOCH_CLOSED")


async def test_validator_grant_only_for_completed_epochs_and_report_names(
    api_server: ApiServer,
) -> None:
    validator = api_server.keys.validator
    for epoch in (api_server.epochs.active, api_server.epochs.pending):
        body = _body(epoch_id=epoch.epoch_id, name="validation_report.json")
        assert_error(await send(api_server, validator, "POST", VALIDATOR_UPLOAD, body), 409,
                     "EPOCH_NOT_COMPLETED")  # fmt: skip
    done = api_server.epochs.completed
    body = _body(epoch_id=done.epoch_id, name="notes.txt")
    assert_error(await send(api_server, validator, "POST", VALIDATOR_UPLOAD, body), 422,
                 "INVALID_BODY")  # fmt: skip
