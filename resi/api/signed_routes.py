"""`GET /api/v1/zipcode-assignments/signed`: the active epoch's public document, API-signed.

Validators cache this document and relay it to miners while the API is unreachable (see
``resi.api.assignment_doc``). Only the ACTIVE epoch is ever served: a PENDING epoch's zipcodes
stay hidden until it starts (DESIGN §1), so a relay fetches the new document at each boundary.
A document is signed once per epoch per process (its content never changes) and cached.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from resi.api import epochs
from resi.api.assignment_doc import sign_assignment
from resi.api.state import state_of
from resi.errors import ApiError

SIGNER_KEY: web.AppKey[Any] = web.AppKey("resi_api_signer", object)
SIGNED_CACHE_KEY: web.AppKey[dict[str, bytes]] = web.AppKey("resi_signed_docs", dict)

_CACHE_SIZE = 4


def install(app: web.Application, keypair: Any | None) -> None:
    """Give ``app`` the API's hotkey keypair (``None``: the route answers 404 ``NO_SIGNER``)."""
    app[SIGNER_KEY] = keypair
    app[SIGNED_CACHE_KEY] = {}


async def signed_current(request: web.Request) -> web.Response:
    """The active epoch's signed public document; 404 ``NO_SIGNER`` / ``NO_ACTIVE_EPOCH``."""
    keypair = request.app.get(SIGNER_KEY)
    if keypair is None:
        raise ApiError(404, "NO_SIGNER", "this API has no hotkey to sign assignments with")
    state = state_of(request)
    body = await epochs.current_body(state, state.now())
    document = json.loads(body)
    # Keyed by the deadline too: an operator's extension must reach miners in a new signature.
    epoch_id = f"{document['epoch_id']}|{document['deadline']}"
    cache = request.app[SIGNED_CACHE_KEY]
    signed = cache.get(epoch_id)
    if signed is None:
        signed = sign_assignment(document, keypair).model_dump_json().encode()
        if len(cache) >= _CACHE_SIZE:
            cache.pop(next(iter(cache)))
        cache[epoch_id] = signed
    return web.Response(body=signed, content_type="application/json")
