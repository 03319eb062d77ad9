"""Every refusal gets its documented status and JSON error, and nothing is written.

Each test names the attack or mistake it closes; all run on SQLite and PostgreSQL against the
real server, devnet chain and local S3.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from bittensor import http_auth

from resi.api.client import CURRENT, EPOCH_INPUTS, STATUS, VALIDATOR_RESULTS, VALIDATOR_UPLOAD
from resi.api.schemas import CommitItem
from resi.s3.layout import miner_key, validator_key
from tests.fixtures.api import ApiServer, within_one_rate_window

pytestmark = pytest.mark.anyio


async def send(
    server: ApiServer,
    keypair: Any | None,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    signed_body: bytes | None = None,
    nonce_ns: int | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """Send a raw request; sign ``signed_body`` (default: the sent body) when a key is given."""
    hdrs = dict(headers or {})
    if keypair is not None:
        hdrs.update(
            http_auth.sign(
                keypair,
                method=method,
                path=path,
                body=body if signed_body is None else signed_body,
                nonce_ns=nonce_ns,
            )
        )
    if body:
        hdrs.setdefault("Content-Type", "application/json")
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        return await http.request(method, path, content=body, headers=hdrs)


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    data = response.json()
    assert set(data) == {"error", "message"}
    assert data["error"] == code
    assert "Traceback" not in data["message"]
    return data


async def assert_nothing_written(server: ApiServer) -> None:
    for epoch in (server.epochs.active, server.epochs.completed):
        assert await server.store.list_commits(epoch.epoch_id) == []
        assert await server.store.miner_statuses(epoch.epoch_id) == []
        assert await server.store.validator_results(epoch.epoch_id) == []


async def uploaded_item(server: ApiServer, hotkey: str, zipcode: str = "10001") -> CommitItem:
    data = f"file of {hotkey} for {zipcode}".encode()
    digest = hashlib.sha256(data).hexdigest()
    key = miner_key(hotkey, server.epochs.active.epoch_id, zipcode, digest)
    await server.s3.put_bytes(key, data)
    return CommitItem(zipcode=zipcode, key=key, sha256=digest, rows=5)


def status_body(server: ApiServer, items: list[CommitItem], **over: Any) -> bytes:
    active = server.epochs.active
    payload: dict[str, Any] = {
        "epoch_id": active.epoch_id,
        "nonce": active.nonce,
        "status": "IN_PROGRESS",
        "commits": [i.model_dump() for i in items],
    }
    payload.update(over)
    return json.dumps(payload).encode()


# ------------------------------------------------------------------ 401


async def test_unsigned_commit_is_refused(api_server: ApiServer) -> None:
    item = await uploaded_item(api_server, api_server.keys.miner.ss58_address)
    r = await send(api_server, None, "POST", STATUS, status_body(api_server, [item]))
    assert_error(r, 401, "MalformedAuth")
    await assert_nothing_written(api_server)


async def test_signature_over_other_body_is_refused(api_server: ApiServer) -> None:
    miner = api_server.keys.miner
    item = await uploaded_item(api_server, miner.ss58_address)
    honest = status_body(api_server, [item])
    tampered = status_body(api_server, [item.model_copy(update={"rows": 999})])
    r = await send(api_server, miner, "POST", STATUS, tampered, signed_body=honest)
    assert_error(r, 401, "BadSignature")
    await assert_nothing_written(api_server)


async def test_replayed_request_is_refused(api_server: ApiServer) -> None:
    miner = api_server.keys.miner
    item = await uploaded_item(api_server, miner.ss58_address)
    body = status_body(api_server, [item])
    headers = http_auth.sign(miner, method="POST", path=STATUS, body=body)
    headers["Content-Type"] = "application/json"
    async with httpx.AsyncClient(base_url=api_server.base_url) as http:
        first = await http.post(STATUS, content=body, headers=headers)
        assert first.status_code == 200, first.text
        # the attacker now deletes evidence of the first... and replays a byte-identical copy
        replay = await http.post(STATUS, content=body, headers=headers)
    assert_error(replay, 401, "ReplayedRequest")
    assert len(await api_server.store.list_commits(api_server.epochs.active.epoch_id)) == 1


async def test_stale_nonce_is_refused(api_server: ApiServer) -> None:
    old = time.time_ns() - 60 * 10**9
    r = await send(api_server, api_server.keys.miner, "GET", CURRENT, nonce_ns=old)
    assert_error(r, 401, "StaleRequest")


async def test_auth_is_checked_before_body_validation(api_server: ApiServer) -> None:
    r = await send(api_server, None, "POST", STATUS, b"{not json")
    assert_error(r, 401, "MalformedAuth")


# ------------------------------------------------------------------ 403


async def test_unregistered_hotkey_is_refused(api_server: ApiServer) -> None:
    stranger = api_server.keys.stranger
    item = await uploaded_item(api_server, stranger.ss58_address)
    r = await send(api_server, stranger, "POST", STATUS, status_body(api_server, [item]))
    assert_error(r, 403, "NOT_REGISTERED")
    r = await send(api_server, stranger, "GET", CURRENT)
    assert_error(r, 403, "NOT_REGISTERED")
    await assert_nothing_written(api_server)


@pytest.mark.parametrize("who", ["miner", "weak_validator"])
async def test_non_validator_on_validator_routes_is_refused(
    api_server: ApiServer, who: str
) -> None:
    key = getattr(api_server.keys, who)
    done = api_server.epochs.completed
    r = await send(api_server, key, "GET", EPOCH_INPUTS.format(epoch_id=done.epoch_id))
    assert_error(r, 403, "NOT_VALIDATOR")
    body = json.dumps({"epoch_id": done.epoch_id, "name": "validation_report.json"}).encode()
    assert_error(await send(api_server, key, "POST", VALIDATOR_UPLOAD, body), 403, "NOT_VALIDATOR")
    result = {
        "epoch_id": done.epoch_id,
        "consensus_hash": "b" * 64,
        "report_key": validator_key(key.ss58_address, done.epoch_id, "validation_report.json"),
    }
    r = await send(api_server, key, "POST", VALIDATOR_RESULTS, json.dumps(result).encode())
    assert_error(r, 403, "NOT_VALIDATOR")
    await assert_nothing_written(api_server)


async def test_commit_into_foreign_prefix_is_refused(api_server: ApiServer) -> None:
    """A miner commits another miner's uploaded file as its own (stealing its early time)."""
    victim = await uploaded_item(api_server, api_server.keys.miner2.ss58_address)
    r = await send(
        api_server, api_server.keys.miner, "POST", STATUS, status_body(api_server, [victim])
    )
    assert_error(r, 403, "FOREIGN_PREFIX")
    await assert_nothing_written(api_server)


async def test_commit_key_not_matching_sha256_is_refused(api_server: ApiServer) -> None:
    miner = api_server.keys.miner
    item = await uploaded_item(api_server, miner.ss58_address)
    lying = item.model_copy(update={"sha256": "0" * 64})
    r = await send(api_server, miner, "POST", STATUS, status_body(api_server, [lying]))
    assert_error(r, 403, "FOREIGN_PREFIX")
    await assert_nothing_written(api_server)


async def test_validator_report_outside_own_prefix_is_refused(api_server: ApiServer) -> None:
    done = api_server.epochs.completed
    other = api_server.keys.weak_validator.ss58_address
    result = {
        "epoch_id": done.epoch_id,
        "consensus_hash": "c" * 64,
        "report_key": validator_key(other, done.epoch_id, "validation_report.json"),
    }
    r = await send(
        api_server,
        api_server.keys.validator,
        "POST",
        VALIDATOR_RESULTS,
        json.dumps(result).encode(),
    )
    assert_error(r, 403, "FOREIGN_PREFIX")
    await assert_nothing_written(api_server)


# ------------------------------------------------------------------ 409 / 400


async def test_commit_after_deadline_is_refused(api_server: ApiServer) -> None:
    miner = api_server.keys.miner
    item = await uploaded_item(api_server, miner.ss58_address)
    api_server.clock.offset = (
        api_server.epochs.active.deadline - api_server.clock() + timedelta(seconds=1)
    )
    r = await send(api_server, miner, "POST", STATUS, status_body(api_server, [item]))
    assert_error(r, 409, "EPOCH_CLOSED")
    grant_body = json.dumps({"zipcode": "10001", "sha256": "c" * 64}).encode()
    r = await send(api_server, miner, "POST", "/get-folder-access", grant_body)
    assert_error(r, 409, "EPOCH_CLOSED")
    await assert_nothing_written(api_server)


async def test_commit_into_completed_epoch_is_refused(api_server: ApiServer) -> None:
    done = api_server.epochs.completed
    body = json.dumps(
        {"epoch_id": done.epoch_id, "nonce": done.nonce, "status": "COMPLETED"}
    ).encode()
    r = await send(api_server, api_server.keys.miner, "POST", STATUS, body)
    assert_error(r, 409, "EPOCH_CLOSED")
    await assert_nothing_written(api_server)


async def test_wrong_nonce_is_refused(api_server: ApiServer) -> None:
    miner = api_server.keys.miner
    item = await uploaded_item(api_server, miner.ss58_address)
    body = status_body(api_server, [item], nonce="f" * 32)
    assert_error(await send(api_server, miner, "POST", STATUS, body), 400, "WRONG_NONCE")
    body = status_body(api_server, [item], epoch_id="2001-01-01T00-00-00")
    assert_error(await send(api_server, miner, "POST", STATUS, body), 400, "UNKNOWN_EPOCH")
    await assert_nothing_written(api_server)


async def test_commit_without_uploaded_object_is_refused(api_server: ApiServer) -> None:
    """S3 policies are not enough: the server HEADs the object before recording a commit."""
    miner = api_server.keys.miner
    digest = "d" * 64
    key = miner_key(miner.ss58_address, api_server.epochs.active.epoch_id, "10001", digest)
    item = CommitItem(zipcode="10001", key=key, sha256=digest, rows=1)
    r = await send(api_server, miner, "POST", STATUS, status_body(api_server, [item]))
    assert_error(r, 400, "OBJECT_MISSING")
    await assert_nothing_written(api_server)


async def test_commit_of_unassigned_zipcode_is_refused(api_server: ApiServer) -> None:
    miner = api_server.keys.miner
    item = await uploaded_item(api_server, miner.ss58_address, zipcode="99999")
    r = await send(api_server, miner, "POST", STATUS, status_body(api_server, [item]))
    assert_error(r, 400, "NOT_ASSIGNED")
    await assert_nothing_written(api_server)


async def test_epoch_inputs_before_completion_are_refused(api_server: ApiServer) -> None:
    """Honeypot flags and the validation seed must not leak while miners still work."""
    active = api_server.epochs.active
    r = await send(
        api_server, api_server.keys.validator, "GET", EPOCH_INPUTS.format(epoch_id=active.epoch_id)
    )
    data = assert_error(r, 409, "EPOCH_NOT_COMPLETED")
    assert "honeypot" not in json.dumps(data)


async def test_malformed_json_and_schema_violations(api_server: ApiServer) -> None:
    miner = api_server.keys.miner
    assert_error(await send(api_server, miner, "POST", STATUS, b"{oops"), 400, "MALFORMED_JSON")
    assert_error(await send(api_server, miner, "POST", STATUS, b"\xff\xfe"), 400, "MALFORMED_JSON")
    assert_error(await send(api_server, miner, "POST", STATUS, b"[1]"), 422, "INVALID_BODY")
    extra = status_body(api_server, [], surprise=1)
    data = assert_error(await send(api_server, miner, "POST", STATUS, extra), 422, "INVALID_BODY")
    assert "surprise" in data["message"]
    await assert_nothing_written(api_server)


async def test_oversized_body_is_refused(api_server: ApiServer) -> None:
    big = b'{"epoch_id": "' + b"x" * (api_server.settings.max_body_bytes + 10) + b'"}'
    r = await send(api_server, api_server.keys.miner, "POST", STATUS, big)
    assert_error(r, 413, "BODY_TOO_LARGE")
    await assert_nothing_written(api_server)


async def test_unknown_route_and_method_are_json(api_server: ApiServer) -> None:
    assert_error(await send(api_server, None, "GET", "/nope"), 404, "NOT_FOUND")
    assert_error(await send(api_server, None, "DELETE", CURRENT), 405, "METHOD_NOT_ALLOWED")


# ------------------------------------------------------------------ 429


async def test_rate_limit_counts_only_authenticated_requests(
    db_url: str, api_factory: Callable[..., Any]
) -> None:
    async with api_factory(db_url, rate_limit_per_minute=3) as server:
        await within_one_rate_window(server)
        miner = server.keys.miner
        for _ in range(5):  # unauthenticated noise must not eat the miner's budget
            bad = await send(
                server, None, "GET", CURRENT, headers={"X-Bittensor-Hotkey": miner.ss58_address}
            )
            assert bad.status_code == 401
        for i in range(3):
            ok = await send(server, miner, "GET", CURRENT)
            assert ok.status_code == 200, ok.text
            assert ok.headers["X-RateLimit-Limit"] == "3"
            assert ok.headers["X-RateLimit-Remaining"] == str(2 - i)
        refused = await send(server, miner, "GET", CURRENT)
        assert_error(refused, 429, "RATE_LIMITED")
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert refused.headers["X-RateLimit-Remaining"] == "0"
        assert "X-RateLimit-Reset" in refused.headers
        # per route and per hotkey: other routes and other miners are unaffected
        grant_body = json.dumps({"zipcode": "10001", "sha256": "c" * 64}).encode()
        granted = await send(server, miner, "POST", "/get-folder-access", grant_body)
        assert granted.status_code == 200
        assert (await send(server, server.keys.miner2, "GET", CURRENT)).status_code == 200
        text = server.state.metrics.render()
        assert 'resi_api_auth_failures_total{reason="RATE_LIMITED"} 1' in text
        assert 'resi_api_auth_failures_total{reason="MalformedAuth"} 5' in text
