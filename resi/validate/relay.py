"""The validator's assignment relay: serve the API-signed assignment while the API is down.

``resi validate --relay-port N`` runs a small aiohttp server beside the validator loop. Every
poll it refreshes the API's signed current document (`GET /api/v1/zipcode-assignments/signed`)
and a metagraph snapshot; a failed refresh keeps the last good copy, which is the point: miners
that cannot reach the API ask a relay instead. `GET /relay/v1/assignment` answers registered
hotkeys that sign the request with btauth/1 (401 unsigned or badly signed, 403 unregistered)
with the signed document verbatim. The relay is not trusted by miners: they verify the API's
signature themselves (``resi.api.assignment_doc.verify_assignment``), so a relay can withhold a
document but cannot alter one.

Miners find relays on the chain: ``announce`` publishes the relay's public ``host:port`` as this
validator's axon (only when the metagraph shows something else, since serving is rate limited).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio
from aiohttp import web

from resi.api.assignment_doc import SignedAssignment, is_current, verify_assignment
from resi.api.client import ApiClient
from resi.api.middleware import json_error
from resi.api.schemas import CurrentAssignment
from resi.chain.base import Chain
from resi.errors import ApiError, ChainError, SignatureError

log = logging.getLogger(__name__)

RELAY_PATH = "/relay/v1/assignment"
AUTH_MAX_AGE = 10.0

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class CachedDocument:
    """A signed document as fetched (served verbatim) and the assignment it carries."""

    signed: SignedAssignment
    body: bytes
    assignment: CurrentAssignment


class AssignmentRelay:
    """Caches the signed current document and the registered hotkeys; see the module docstring.

    ``api_hotkey`` (when known) is checked on every fetched document, so the relay never
    caches what a miner would reject anyway; without it the document's own signer is checked.
    """

    def __init__(
        self,
        client: ApiClient,
        chain: Chain,
        self_hotkey: str,
        *,
        api_hotkey: str | None = None,
        now: Clock = utc_now,
    ) -> None:
        from bittensor.http_auth import InMemoryNonceStore

        self.client = client
        self.chain = chain
        self.self_hotkey = self_hotkey
        self.api_hotkey = api_hotkey
        self.now = now
        self.document: CachedDocument | None = None
        self.members: frozenset[str] | None = None
        self._nonces = InMemoryNonceStore(retention=60)

    # ------------------------------------------------------------------ refresh

    async def refresh(self) -> None:
        """Refresh the document and the metagraph; failures keep the last good copies."""
        await self.refresh_document()
        await self.refresh_members()

    async def refresh_document(self) -> bool:
        """Fetch the API's signed document; returns whether a new valid copy was cached."""
        try:
            signed = await self.client.signed_assignment()
        except ApiError as exc:
            log.warning("relay: cannot refresh the signed assignment (%s %s)", exc.code, exc)
            return False
        try:
            assignment = verify_assignment(signed, self.api_hotkey or signed.api_hotkey)
        except SignatureError as exc:
            log.error("relay: the API's signed assignment does not verify: %s", exc)
            return False
        self.document = CachedDocument(signed, signed.model_dump_json().encode(), assignment)
        return True

    async def refresh_members(self) -> bool:
        """Refresh the registered hotkeys from the chain; returns whether it succeeded."""
        try:
            snapshot = await self.chain.metagraph()
        except ChainError as exc:
            log.warning("relay: cannot refresh the metagraph (%s)", exc)
            return False
        self.members = frozenset(snapshot.hotkeys)
        return True

    # ------------------------------------------------------------------ serving

    def app(self) -> web.Application:
        """The relay's aiohttp application (one route; every error is JSON)."""
        app = web.Application(middlewares=[_error_middleware], client_max_size=4096)
        app.router.add_get(RELAY_PATH, self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        """`GET /relay/v1/assignment`: 401 unsigned, 403 unregistered, 404 nothing current."""
        raw = await request.read()
        hotkey = self._authenticate(request, raw)
        if self.members is None:
            raise ApiError(503, "CHAIN_UNAVAILABLE", "metagraph not loaded yet; retry shortly")
        if hotkey not in self.members:
            raise ApiError(403, "NOT_REGISTERED", "hotkey is not registered on this subnet")
        doc = self.document
        if doc is None or not is_current(doc.assignment, self.now()):
            raise ApiError(404, "NO_ASSIGNMENT", "this relay holds no current assignment")
        return web.Response(body=doc.body, content_type="application/json")

    def _authenticate(self, request: web.Request, raw: bytes) -> str:
        from bittensor import http_auth

        try:
            caller = http_auth.verify(
                request.headers,
                raw,
                method=request.method,
                path=request.raw_path,
                self_hotkey_ss58=self.self_hotkey,
                require_receiver=False,
                nonce_store=self._nonces,
                max_age=AUTH_MAX_AGE,
            )
        except http_auth.AuthError as exc:
            # AuthError messages never echo secrets or payloads (bittensor guarantees it).
            raise ApiError(401, type(exc).__name__, str(exc)) from None
        return caller.hotkey_ss58


@web.middleware
async def _error_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return json_error(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return json_error(ApiError(exc.status, f"HTTP_{exc.status}", exc.reason or "error"))


@contextlib.asynccontextmanager
async def running_relay(
    relay: AssignmentRelay, host: str, port: int, *, interval: float
) -> AsyncIterator[str]:
    """Serve ``relay`` on ``host:port`` and refresh it every ``interval`` s; yields its URL.

    The first refresh completes before the URL is yielded. Port 0 picks a free port.
    """
    await relay.refresh()
    runner = web.AppRunner(relay.app(), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, reuse_port=False)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        url = f"http://{bound_host}:{bound_port}"
        log.info("assignment relay listening on %s%s", url, RELAY_PATH)
        async with anyio.create_task_group() as tg:
            tg.start_soon(_refresh_later, relay, interval)
            yield url
            tg.cancel_scope.cancel()
    finally:
        await runner.cleanup()


async def _refresh_later(relay: AssignmentRelay, interval: float) -> None:
    while True:
        await anyio.sleep(interval)
        await relay.refresh()


WILDCARDS = frozenset({"0.0.0.0", "::", ""})


def public_host(listen_host: str, configured: str | None) -> str | None:
    """The address to publish for a relay listening on ``listen_host`` (None: publish nothing)."""
    if configured:
        return configured
    return None if listen_host in WILDCARDS else listen_host


async def announce(chain: Chain, hotkey: str, host: str, port: int) -> bool:
    """Publish ``host:port`` as ``hotkey``'s axon unless the chain already lists it.

    Returns whether the chain now lists it. Never raises for chain failures (logged): a relay
    that cannot be announced still serves miners that were told its URL.
    """
    endpoint = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        snapshot = await chain.metagraph()
        me = snapshot.by_hotkey(hotkey)
        if me is not None and me.axon == endpoint:
            return True
        await chain.serve_axon(host, port)
    except ChainError as exc:
        log.warning("relay: cannot publish %s as this validator's axon (%s)", endpoint, exc)
        return False
    log.info("relay: published %s as this validator's axon; miners find it on the chain", endpoint)
    return True


async def run_with_relay(
    validator: Any,
    host: str,
    port: int,
    *,
    interval: float,
    once: bool,
    publish_host: str | None = None,
) -> list[Any]:
    """Run the validator loop (``run_once`` or ``run_forever``) with a relay beside it.

    The relay is announced on chain at ``public_host(host, publish_host)`` (when there is one).
    """
    relay = AssignmentRelay(
        validator.client,
        validator.chain,
        validator.hotkey,
        api_hotkey=validator.settings.api_hotkey,
    )
    async with running_relay(relay, host, port, interval=interval) as url:
        published = public_host(host, publish_host)
        if published is None:
            log.warning("relay on %s is not published (set relay_public_host)", url)
        else:
            await announce(validator.chain, validator.hotkey, published, int(url.rsplit(":", 1)[1]))
        if once:
            result: list[Any] = await validator.run_once()
            return result
        await validator.run_forever()
    return []
