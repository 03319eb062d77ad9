"""`GET /api/v1/zipcode-assignments/signed`: the API serves a document that verifies."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import httpx
import pytest

from resi.api.assignment_doc import SignedAssignment, derived_signing_keypair, verify_assignment
from resi.api.client import SIGNED_CURRENT
from resi.api.state import STATE_KEY
from tests.fixtures.api import ApiServer
from tests.relay.conftest import SigningApi

pytestmark = pytest.mark.anyio


async def test_signed_document_verifies_and_equals_current(
    signing_api_factory: Callable[..., AbstractAsyncContextManager[SigningApi]], db_url: str
) -> None:
    async with signing_api_factory(db_url) as api:
        server = api.server
        async with server.client(server.keys.miner) as miner:
            signed = await miner.signed_assignment()
            current = await miner.current_assignment()
            again = await miner.signed_assignment()
    assert signed.api_hotkey == api.hotkey
    assert verify_assignment(signed, api.hotkey) == current
    assert current.epoch_id == server.epochs.active.epoch_id
    assert again == signed  # signed once per epoch, then served from the cache
    assert "honeypot" not in signed.model_dump_json()


async def test_pending_epoch_is_never_served(signing_api: SigningApi) -> None:
    server = signing_api.server
    async with server.client(server.keys.miner) as miner:
        signed = await miner.signed_assignment()
    pending = server.epochs.pending
    assert signed.document["epoch_id"] != pending.epoch_id
    assert pending.nonce not in signed.model_dump_json()


async def test_signed_document_is_for_registered_hotkeys_only(signing_api: SigningApi) -> None:
    # Like /current, the active epoch's zipcodes are not for anonymous readers.
    async with httpx.AsyncClient(base_url=signing_api.server.base_url) as http:
        response = await http.get(SIGNED_CURRENT)
    assert response.status_code == 401
    assert response.json()["error"] == "MalformedAuth"


async def test_api_without_a_hotkey_signs_with_the_key_derived_from_its_secret(
    api_server: ApiServer,
) -> None:
    """No wallet, still signed (issue 16: the fallback is on by default), and not forgeable:
    the key is the one derived from this API's secret, which another secret does not give."""
    async with api_server.client(api_server.keys.miner) as miner:
        signed = await miner.signed_assignment()
    secret = api_server.app[STATE_KEY].secret
    derived = derived_signing_keypair(secret).ss58_address
    assert signed.api_hotkey == derived
    assert verify_assignment(signed, derived).epoch_id == api_server.epochs.active.epoch_id
    assert derived_signing_keypair(secret + "x").ss58_address != derived
    assert secret not in signed.model_dump_json()


async def test_route_is_in_the_openapi_document(signing_api: SigningApi) -> None:
    async with signing_api.server.client(None) as public:
        doc = await public.openapi()
    op = doc["paths"][SIGNED_CURRENT]["get"]
    assert "200" in op["responses"] and "404" in op["responses"]
    assert SignedAssignment.__name__ in doc["components"]["schemas"]
