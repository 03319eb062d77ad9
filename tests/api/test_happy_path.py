"""Happy paths of every route against a real server (SQLite and PostgreSQL, devnet chain, S3)."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from resi.api.schemas import CommitItem
from resi.s3.layout import miner_key, validator_key, validator_prefix
from tests.fixtures.api import ZIPCODES, ApiServer

pytestmark = pytest.mark.anyio


async def test_current_assignment_hides_honeypots(api_server: ApiServer) -> None:
    async with api_server.client(api_server.keys.miner) as api:
        current = await api.current_assignment()
    active = api_server.epochs.active
    assert current.epoch_id == active.epoch_id
    assert current.nonce == active.nonce
    assert [z.zipcode for z in current.zipcodes] == [z for z, _ in ZIPCODES]
    async with api_server.client(api_server.keys.miner) as api:
        raw = await api._send("GET", "/api/v1/zipcode-assignments/current", None, retry=False)
    assert "honeypot" not in raw.text


async def _upload(server: ApiServer, hotkey: str, zipcode: str, data: bytes) -> CommitItem:
    digest = hashlib.sha256(data).hexdigest()
    key = miner_key(hotkey, server.epochs.active.epoch_id, zipcode, digest)
    await server.s3.put_bytes(key, data)
    return CommitItem(zipcode=zipcode, key=key, sha256=digest, rows=42)


async def test_folder_access_upload_and_commit(api_server: ApiServer) -> None:
    miner = api_server.keys.miner
    active = api_server.epochs.active
    async with api_server.client(miner) as api:
        data = b"PAR1 fake parquet bytes"
        digest = hashlib.sha256(data).hexdigest()
        key = miner_key(miner.ss58_address, active.epoch_id, "10001", digest)
        grant = await api.folder_access(None, "10001", digest)
        assert grant.key == key  # one grant, one object
        assert grant.expires_at <= active.deadline
        async with httpx.AsyncClient() as http:
            up = await http.post(
                grant.url, data={**grant.fields, "key": key}, files={"file": ("f", data)}
            )
        assert up.status_code in (200, 201, 204), up.text
        item = CommitItem(zipcode="10001", key=key, sha256=digest, rows=7)
        receipt = await api.post_status(active.epoch_id, active.nonce, "IN_PROGRESS", [item])
        assert [c.zipcode for c in receipt.accepted] == ["10001"]
        again = await api.post_status(active.epoch_id, active.nonce, "COMPLETED", [item])
    # an identical re-commit is idempotent: same server time as the first one
    assert again.accepted[0].received_at == receipt.accepted[0].received_at
    commits = await api_server.store.list_commits(active.epoch_id)
    assert [(c.hotkey, c.zipcode, c.size, c.rows) for c in commits] == [
        (miner.ss58_address, "10001", len(data), 7)
    ]
    statuses = await api_server.store.miner_statuses(active.epoch_id)
    assert [(s.hotkey, s.status) for s in statuses] == [(miner.ss58_address, "COMPLETED")]


async def test_validator_routes_and_consensus(api_server: ApiServer) -> None:
    server = api_server
    done = server.epochs.completed
    # a commit recorded into the completed epoch (as if made while it was active)
    from resi.epoch.models import Commit

    data = b"old epoch file"
    digest = hashlib.sha256(data).hexdigest()
    key = miner_key(server.keys.miner.ss58_address, done.epoch_id, "60614", digest)
    await server.s3.put_bytes(key, data)
    await server.store.upsert_commits(
        [Commit(done.epoch_id, server.keys.miner.ss58_address, "60614", key, digest, 3,
                len(data), done.start)]
    )  # fmt: skip
    validator = server.keys.validator
    async with server.client(validator) as api:
        inputs = await api.epoch_inputs(done.epoch_id)
        assert inputs.nonce == done.nonce
        assert len(inputs.validation_seed) == 64
        assert [a.honeypot for a in inputs.assignments] == [h for _, h in ZIPCODES]
        assert [c.key for c in inputs.commits] == [key]
        async with httpx.AsyncClient() as http:
            got = await http.get(inputs.commits[0].download_url)
        assert got.content == data
        grant = await api.validator_upload_access(done.epoch_id, "validation_report.json")
        report = validator_key(validator.ss58_address, done.epoch_id, "validation_report.json")
        assert grant.key == report  # one grant, one object, inside the validator's own prefix
        assert report.startswith(validator_prefix(validator.ss58_address, done.epoch_id))
        receipt = await api.post_result(done.epoch_id, "a" * 64, report)
        assert receipt.validator == validator.ss58_address
        consensus = await api.consensus(done.epoch_id)
    assert consensus.majority_hash == "a" * 64
    assert consensus.agreement == 1.0
    assert consensus.outliers == []
    rows = await server.store.validator_results(done.epoch_id)
    assert [(r.validator_hotkey, r.report_key) for r in rows] == [(validator.ss58_address, report)]


async def test_public_stats_health_metrics_openapi(api_server: ApiServer) -> None:
    async with api_server.client(None) as api:
        stats = await api.stats()
        health = await api.health()
        text = await api.metrics_text()
        doc = await api.openapi()
    assert stats.current is not None and stats.current.epoch_id == api_server.epochs.active.epoch_id
    assert stats.next is not None and stats.next.epoch_id == api_server.epochs.pending.epoch_id
    assert api_server.epochs.completed.epoch_id in [e.epoch_id for e in stats.recent]
    parts = {p.name: p for p in health.parts}
    assert parts["database"].ok and parts["object_store"].ok and parts["chain"].ok
    assert "resi_api_requests_total" in text and "resi_api_request_seconds_bucket" in text
    assert set(doc["paths"]) >= {
        "/api/v1/zipcode-assignments/current",
        "/api/v1/zipcode-assignments/status",
        "/get-folder-access",
        "/api/v1/zipcode-assignments/epoch/{epoch_id}",
        "/api/v1/s3-access/validator-upload",
        "/api/v1/validators/results",
        "/api/v1/epochs/{epoch_id}/consensus",
        "/api/v1/zipcode-assignments/stats",
        "/health",
        "/metrics",
        "/openapi.json",
    }
