"""The validator relay in-process: signed registered miners get the document, others do not."""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest
from bittensor import http_auth

from resi.api.assignment_doc import SignedAssignment, verify_assignment
from resi.api.client import ApiClient
from resi.validate.relay import RELAY_PATH, AssignmentRelay, running_relay
from tests.relay.conftest import SigningApi

pytestmark = pytest.mark.anyio


def closed_port_url() -> str:
    """A loopback URL nothing listens on (the port was free a moment ago)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def signed_get(keypair: Any, url: str) -> httpx.Request:
    request = httpx.Request("GET", url + RELAY_PATH)
    request.headers.update(
        http_auth.sign(keypair, method="GET", path=request.url.raw_path.decode(), body=b"")
    )
    return request


def relay_for(api: SigningApi, client: ApiClient) -> AssignmentRelay:
    server = api.server
    return AssignmentRelay(
        client, server.chain, server.keys.validator.ss58_address, api_hotkey=api.hotkey
    )


async def test_relay_serves_the_signed_document_to_a_registered_miner(
    signing_api: SigningApi,
) -> None:
    server = signing_api.server
    async with server.client(server.keys.validator) as client:
        relay = relay_for(signing_api, client)
        async with running_relay(relay, "127.0.0.1", 0, interval=60) as url:
            async with httpx.AsyncClient() as http:
                response = await http.send(signed_get(server.keys.miner, url))
    assert response.status_code == 200
    signed = SignedAssignment.model_validate_json(response.content)
    assert verify_assignment(signed, signing_api.hotkey).epoch_id == server.epochs.active.epoch_id


async def test_relay_refuses_unsigned_unregistered_and_replayed_requests(
    signing_api: SigningApi,
) -> None:
    server = signing_api.server
    async with server.client(server.keys.validator) as client:
        relay = relay_for(signing_api, client)
        async with running_relay(relay, "127.0.0.1", 0, interval=60) as url:
            async with httpx.AsyncClient() as http:
                unsigned = await http.get(url + RELAY_PATH)
                stranger = await http.send(signed_get(server.keys.stranger, url))
                request = signed_get(server.keys.miner, url)
                first = await http.send(request)
                replay = await http.send(request)
                unknown = await http.get(url + "/relay/v1/nothing")
    assert unsigned.status_code == 401 and unsigned.json()["error"] == "MalformedAuth"
    assert stranger.status_code == 403 and stranger.json()["error"] == "NOT_REGISTERED"
    assert first.status_code == 200
    assert replay.status_code == 401 and replay.json()["error"] == "ReplayedRequest"
    assert unknown.status_code == 404 and "error" in unknown.json()


async def test_relay_keeps_serving_while_the_api_is_down(signing_api: SigningApi) -> None:
    server = signing_api.server
    async with server.client(server.keys.validator) as client:
        relay = relay_for(signing_api, client)
        assert await relay.refresh_document()
    kept = relay.document
    async with ApiClient(closed_port_url(), server.keys.validator, attempts=1) as down:
        relay.client = down
        assert not await relay.refresh_document()  # the API is gone ...
    assert relay.document is kept  # ... and the last good document is still served


async def test_relay_without_a_document_answers_404(signing_api: SigningApi) -> None:
    server = signing_api.server
    async with ApiClient(closed_port_url(), server.keys.validator, attempts=1) as down:
        relay = relay_for(signing_api, down)
        async with running_relay(relay, "127.0.0.1", 0, interval=60) as url:
            async with httpx.AsyncClient() as http:
                response = await http.send(signed_get(server.keys.miner, url))
    assert response.status_code == 404 and response.json()["error"] == "NO_ASSIGNMENT"
