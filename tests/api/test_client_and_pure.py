"""The typed client's retry/re-sign behaviour (httpx.MockTransport seam) and pure helpers."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest
from bittensor import http_auth
from bittensor.sp_core import Keypair

from resi.api.client import ApiClient
from resi.api.metrics import ApiMetrics
from resi.api.public_routes import summarize_consensus
from resi.api.ratelimit import RateDecision, seconds_to_reset, window_start
from resi.epoch.models import ValidatorResultRow
from resi.errors import ApiError, ApiUnavailable

pytestmark = pytest.mark.anyio

ASSIGNMENT = {
    "epoch_id": "2030-01-01T00-00-00",
    "start": "2030-01-01T00:00:00Z",
    "end": "2030-01-01T04:00:00Z",
    "deadline": "2030-01-01T03:30:00Z",
    "nonce": "ab" * 16,
    "target": 10000,
    "tolerance": 0.1,
    "zipcodes": [],
}


async def test_client_retries_with_a_fresh_signature_each_time() -> None:
    """A retried request re-sent with the same nonce would be refused as a replay."""
    kp = Keypair.create_from_uri("//client-test")
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        caller = http_auth.verify(
            request.headers,
            request.content,
            method=request.method,
            path=request.url.raw_path.decode(),
            self_hotkey_ss58="",
            require_receiver=False,
            nonce_store=http_auth.InMemoryNonceStore(),
        )
        seen.append(str(caller.nonce_ns))
        if len(seen) < 3:
            return httpx.Response(503, json={"error": "STORE_UNAVAILABLE", "message": "x"})
        return httpx.Response(200, json=ASSIGNMENT)

    transport = httpx.MockTransport(handler)
    async with ApiClient("http://api", kp, transport=transport, max_backoff=0.01) as api:
        current = await api.current_assignment()
    assert current.epoch_id == ASSIGNMENT["epoch_id"]
    assert len(seen) == 3 and len(set(seen)) == 3


async def test_client_maps_errors_and_unreachable_api() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(409, json={"error": "EPOCH_CLOSED", "message": "closed"})

    async with ApiClient("http://api", None, transport=httpx.MockTransport(refuse)) as api:
        with pytest.raises(ApiError) as info:
            await api.post_status("2030-01-01T00-00-00", "n", "STARTED")
    assert (info.value.status, info.value.code) == (409, "EPOCH_CLOSED")
    assert not isinstance(info.value, ApiUnavailable)

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    transport = httpx.MockTransport(down)
    async with ApiClient("http://api", None, transport=transport, max_backoff=0.01) as api:
        with pytest.raises(ApiUnavailable) as unavailable:
            await api.stats()
    assert unavailable.value.status == 0


async def test_client_signs_exact_body_bytes() -> None:
    kp = Keypair.create_from_uri("//client-body")
    bodies: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        http_auth.verify(
            request.headers,
            request.content,
            method="POST",
            path=request.url.raw_path.decode(),
            self_hotkey_ss58="",
            require_receiver=False,
            nonce_store=http_auth.InMemoryNonceStore(),
        )  # raises BadSignature if the client signed other bytes than it sent
        bodies.append(json.loads(request.content))
        return httpx.Response(
            200, json={"epoch_id": "2030-01-01T00-00-00", "status": "STARTED", "accepted": []}
        )

    async with ApiClient("http://api", kp, transport=httpx.MockTransport(handler)) as api:
        receipt = await api.post_status("2030-01-01T00-00-00", "n", "STARTED", detail="hi")
    assert receipt.status == "STARTED"
    assert bodies[0]["detail"] == "hi"


def test_consensus_majority_agreement_and_outliers() -> None:
    at = datetime(2030, 1, 1, tzinfo=UTC)
    rows = [
        ValidatorResultRow("e", "v1", "a" * 64, "k1", at),
        ValidatorResultRow("e", "v2", "a" * 64, "k2", at),
        ValidatorResultRow("e", "v3", "b" * 64, "k3", at),
    ]
    result = summarize_consensus("e", rows)
    assert result.majority_hash == "a" * 64
    assert result.agreement == pytest.approx(2 / 3)
    assert result.outliers == ["v3"]
    tie = summarize_consensus("e", rows[1:])
    assert (tie.majority_hash, tie.agreement, tie.outliers) == (None, 0.0, [])
    assert summarize_consensus("e", []).majority_hash is None


def test_rate_window_and_headers() -> None:
    now = datetime(2030, 1, 1, 0, 0, 42, tzinfo=UTC)
    start = window_start(now)
    assert start == datetime(2030, 1, 1, tzinfo=UTC)
    assert seconds_to_reset(now, start) == 18
    refused = RateDecision(False, 3, 4, 18).headers()
    assert refused == {
        "X-RateLimit-Limit": "3",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": "18",
        "Retry-After": "18",
    }


def test_metrics_render_prometheus_text() -> None:
    m = ApiMetrics()
    m.requests.inc("current", "200")
    m.latency.observe(0.003, "current")
    m.latency.observe(7.0, "current")
    text = m.render()
    assert 'resi_api_requests_total{route="current",status="200"} 1' in text
    assert 'resi_api_request_seconds_bucket{route="current",le="0.005"} 1' in text
    assert 'resi_api_request_seconds_bucket{route="current",le="+Inf"} 2' in text
    assert 'resi_api_request_seconds_count{route="current"} 2' in text
