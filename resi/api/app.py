"""The resi API app: route table, ``create_app`` and the ``serve`` runner of `resi serve-api`.

``create_app`` wires collaborators that the caller owns (store, chain, S3 issuer) into an aiohttp
application; ``serve`` opens those collaborators from settings, runs the background loops and
shuts down gracefully on SIGTERM/SIGINT. Replicas share everything through the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from resi import __version__
from resi.api import (
    admin_routes,
    explorer,
    miner_routes,
    public_routes,
    report_routes,
    signed_routes,
    validator_routes,
)
from resi.api import client as paths
from resi.api.assignment_doc import SignedAssignment, derived_signing_keypair
from resi.api.auth import IP_LIMITER_KEY, gate_middleware
from resi.api.background import (
    EpochManagerLike,
    every,
    housekeeping,
    housekeeping_interval,
    manager_interval,
    refresh_metagraph,
    run_manager_once,
)
from resi.api.explorer import miner_report
from resi.api.iplimit import IpFailureLimiter
from resi.api.middleware import error_middleware, quiet_protocol_logger
from resi.api.openapi import build_openapi
from resi.api.schemas import (
    Consensus,
    CurrentAssignment,
    EpochInputs,
    FolderAccessRequest,
    Health,
    MinerReport,
    ReportLink,
    Stats,
    StatusReceipt,
    StatusUpdate,
    UploadGrant,
    ValidatorResult,
    ValidatorResultReceipt,
    ValidatorUploadRequest,
)
from resi.api.spec import SPECS_KEY, Role, RouteSpec
from resi.api.state import STATE_KEY, ApiState, NowFn, utc_now
from resi.config import ApiServerSettings
from resi.epoch.secrets import DEVNET_SECRET, require_secret
from resi.errors import ConfigError

log = logging.getLogger(__name__)

BACKGROUND_KEY: web.AppKey[bool] = web.AppKey("resi_background", bool)
MANAGER_KEY: web.AppKey[Any] = web.AppKey("resi_manager", object)


def route_specs() -> list[RouteSpec]:
    """Every route of the API (paths as in DESIGN §4–§6 and the issue)."""
    return [
        RouteSpec("current", "GET", paths.CURRENT, Role.MINER, miner_routes.current,
                  "The active epoch's zipcodes (no honeypot flags).",
                  response=CurrentAssignment, errors=(404,)),
        RouteSpec("signed_current", "GET", paths.SIGNED_CURRENT, Role.MINER,
                  signed_routes.signed_current,
                  "The active epoch's public document signed by the API's hotkey (what "
                  "validator relays hand to miners while the API is unreachable).",
                  response=SignedAssignment, errors=(404,)),
        RouteSpec("status", "POST", paths.STATUS, Role.MINER, miner_routes.status,
                  "Report a status and commit uploaded files (server receive time).",
                  request=StatusUpdate, response=StatusReceipt, errors=(409,)),
        RouteSpec("folder_access", "POST", paths.FOLDER_ACCESS, Role.MINER,
                  miner_routes.folder_access,
                  "Presigned POST for ONE object: the caller's file of a zipcode (by sha256).",
                  request=FolderAccessRequest, response=UploadGrant, errors=(400, 409)),
        RouteSpec("epoch_inputs", "GET", paths.EPOCH_INPUTS, Role.VALIDATOR,
                  validator_routes.epoch_inputs,
                  "Assignments with honeypot flags, seed and commits of a COMPLETED epoch.",
                  response=EpochInputs, path_params=("epoch_id",), errors=(400, 404, 409)),
        RouteSpec("validator_upload", "POST", paths.VALIDATOR_UPLOAD, Role.VALIDATOR,
                  validator_routes.validator_upload,
                  "Presigned POST for one report file of a COMPLETED epoch, own prefix only.",
                  request=ValidatorUploadRequest, response=UploadGrant, errors=(409,)),
        RouteSpec("validator_results", "POST", paths.VALIDATOR_RESULTS, Role.VALIDATOR,
                  validator_routes.post_result,
                  "Publish a consensus hash and report key for a COMPLETED epoch.",
                  request=ValidatorResult, response=ValidatorResultReceipt, errors=(409,)),
        RouteSpec("miner_report", "GET", paths.MINER_REPORT, Role.MINER,
                  miner_report.miner_report,
                  "The caller's own outcome per zipcode from validators' report summaries: "
                  "rank, reason codes, spot-check rows (claimed vs observed).",
                  response=MinerReport, path_params=("epoch_id",), errors=(400, 404, 409)),
        RouteSpec("miner_report_latest", "GET", paths.MINER_REPORT_LATEST, Role.MINER,
                  miner_report.miner_report,
                  "The caller's own outcome in the newest epoch with validator summaries.",
                  response=MinerReport, errors=(404,)),
        RouteSpec("consensus", "GET", paths.CONSENSUS, Role.PUBLIC, public_routes.consensus,
                  "Validators' hashes, majority hash, agreement share and outliers.",
                  response=Consensus, path_params=("epoch_id",), errors=(400, 404, 503)),
        RouteSpec("report_link", "GET", paths.REPORT_LINK, Role.VALIDATOR,
                  report_routes.report_link,
                  "Presigned URL of a validator's posted report of a COMPLETED epoch.",
                  response=ReportLink, path_params=("epoch_id", "hotkey"),
                  errors=(400, 404, 409)),
        RouteSpec("stats", "GET", paths.STATS, Role.PUBLIC, public_routes.stats,
                  "Current/next epoch timing, recent epochs and participation counts.",
                  response=Stats, errors=(503,)),
        RouteSpec("health", "GET", paths.HEALTH, Role.PUBLIC, public_routes.health,
                  "Database, object store, chain snapshot and epoch manager status "
                  "(503 with the same body when a required part is down).",
                  response=Health),
        RouteSpec("metrics", "GET", paths.METRICS, Role.PUBLIC, public_routes.metrics,
                  "Prometheus metrics (text format).", content_type="text/plain"),
        # Owner-signed: checked in the handlers (owners need not be registered on the subnet).
        RouteSpec("admin_extend", "POST", paths.ADMIN_EXTEND, Role.PUBLIC,
                  admin_routes.extend_epoch,
                  "Owner-signed: move an open epoch's end and deadline later (audited).",
                  request=admin_routes.ExtendEpochRequest, response=admin_routes.AdminActionOut,
                  errors=(401, 403, 409, 422)),
        RouteSpec("admin_pause", "POST", paths.ADMIN_PAUSE, Role.PUBLIC,
                  admin_routes.pause_selection,
                  "Owner-signed: create no new epochs until resumed (audited).",
                  request=admin_routes.SelectionRequest, response=admin_routes.AdminActionOut,
                  errors=(401, 403, 422)),
        RouteSpec("admin_resume", "POST", paths.ADMIN_RESUME, Role.PUBLIC,
                  admin_routes.resume_selection,
                  "Owner-signed: create epochs again (audited).",
                  request=admin_routes.SelectionRequest, response=admin_routes.AdminActionOut,
                  errors=(401, 403, 422)),
        RouteSpec("admin_actions", "GET", paths.ADMIN_ACTIONS, Role.PUBLIC,
                  admin_routes.list_actions,
                  "Owner-signed: the admin audit trail, newest first, and the pause state.",
                  response=admin_routes.AdminActions, errors=(401, 403)),
        RouteSpec("openapi", "GET", paths.OPENAPI, Role.PUBLIC, _openapi,
                  "This OpenAPI document."),
    ]  # fmt: skip


async def _openapi(request: web.Request) -> web.Response:
    doc = build_openapi(route_specs(), version=__version__)
    return web.Response(body=json.dumps(doc).encode(), content_type="application/json")


def create_app(
    settings: ApiServerSettings,
    *,
    store: Any,
    chain: Any,
    s3: Any,
    now: NowFn = utc_now,
    keypair: Any | None = None,
    secret: str | None = None,
    manager: EpochManagerLike | None = None,
    background: bool = True,
) -> web.Application:
    """The API application over collaborators the caller opened (and will close).

    ``keypair`` is the API's own hotkey (receiver binding); ``secret`` defaults to
    ``settings.secret`` (a fixed dev secret on devnet). With ``background`` the app refreshes the
    metagraph, runs ``manager.ensure`` (when given) and purges expired nonces while it runs; the
    first metagraph refresh and manager pass complete before the app serves requests.
    Raises ``ConfigError`` for a missing secret off devnet or a receiver requirement without a key.
    """
    secret = require_secret(secret or settings.secret, settings.network)
    if secret == DEVNET_SECRET:
        log.warning("USING THE FIXED DEVNET SECRET: epoch nonces and seeds are predictable")
    if settings.require_receiver and keypair is None:
        raise ConfigError("require_receiver needs the API's own hotkey (wallet settings)")
    state = ApiState(
        settings=settings,
        store=store,
        chain=chain,
        s3=s3,
        now=now,
        self_hotkey="" if keypair is None else str(keypair.ss58_address),
        secret=secret,
    )
    app = web.Application(
        middlewares=[error_middleware, gate_middleware],
        client_max_size=settings.max_body_bytes,
    )
    app[STATE_KEY] = state
    app[IP_LIMITER_KEY] = IpFailureLimiter(
        settings.ip_failure_burst, settings.ip_failures_per_minute
    )
    app[BACKGROUND_KEY] = background
    app[MANAGER_KEY] = manager
    # The assignment document is always signed: by the API's hotkey, else by a key derived
    # from the secret (so validator relays work on every deployment).
    signed_routes.install(app, keypair or derived_signing_keypair(secret))
    specs = route_specs()
    app[SPECS_KEY] = {s.name: s for s in specs}
    for spec in specs:
        app.router.add_route(spec.method, spec.path, spec.handler, name=spec.name)
    explorer.install(app)
    app.cleanup_ctx.append(_background_ctx)
    return app


def server_options(settings: ApiServerSettings) -> dict[str, Any]:
    """Keyword arguments for ``web.AppRunner`` (and aiohttp's test server): the HTTP framing limits.

    Oversized request lines/headers and malformed framing are answered by aiohttp with a short
    plain 400; ``quiet_protocol_logger`` logs them as one debug line instead of a traceback, so
    nobody can flood the log. ``handler_cancellation`` stops the work of a client that hung up.
    """
    return {
        "access_log": None,
        "handle_signals": False,
        "handler_cancellation": True,
        "max_line_size": settings.header_max_bytes,
        "max_field_size": settings.header_max_bytes,
        "logger": quiet_protocol_logger(),
    }


async def _background_ctx(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE_KEY]
    manager = app[MANAGER_KEY]
    await refresh_metagraph(state)
    if manager is not None:
        await run_manager_once(state, manager)
    tasks: list[asyncio.Task[None]] = []
    if app[BACKGROUND_KEY]:
        interval = state.settings.metagraph_refresh_seconds
        tasks.append(asyncio.create_task(every(interval, lambda: refresh_metagraph(state))))
        chores = housekeeping_interval(state.settings.epoch_seconds)
        tasks.append(asyncio.create_task(every(chores, lambda: housekeeping(state))))
        if manager is not None:
            step = manager_interval(state.settings.epoch_seconds)
            tasks.append(asyncio.create_task(every(step, lambda: run_manager_once(state, manager))))
    yield
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def serve(
    settings: ApiServerSettings, *, reuse_port: bool = False, worker: int | None = None
) -> None:
    """Run the API until SIGTERM/SIGINT: open store, chain and S3, serve, then close everything.

    ``reuse_port`` lets several worker processes listen on one port (``resi.api.workers``);
    ``worker`` (their index) is then sent back in an ``X-Resi-Worker`` header.
    """
    from resi.chain import open_chain
    from resi.epoch.store.base import open_store
    from resi.s3.issuer import S3Issuer

    keypair = _api_keypair(settings)
    secret = require_secret(settings.secret, settings.network)
    store = await open_store(settings.db_url)
    chain = open_chain(settings)
    try:
        async with S3Issuer.from_settings(settings) as s3:
            manager = await _build_manager(settings, store, secret)
            app = create_app(
                settings,
                store=store,
                chain=chain,
                s3=s3,
                keypair=keypair,
                secret=secret,
                manager=manager,
            )
            if worker is not None:
                app.on_response_prepare.append(_worker_header(worker))
            await _run_until_signal(app, settings, reuse_port=reuse_port)
    finally:
        await chain.close()
        await store.close()


def _api_keypair(settings: ApiServerSettings) -> Any | None:
    """The API's own hotkey, loaded whenever its wallet exists (never prompts).

    With it the API signs its assignment document with its hotkey; without it, with a key
    derived from the server secret. Raises ``WalletError`` only when ``require_receiver`` needs
    the hotkey; otherwise a missing wallet is logged.
    """
    from resi.errors import WalletError
    from resi.wallet import load_keypair

    try:
        return load_keypair(settings.wallet_name, settings.wallet_hotkey, settings.wallet_path)
    except WalletError as exc:
        if settings.require_receiver:
            raise
        log.info("no API hotkey (%s): assignments are signed with the secret-derived key", exc)
        return None


async def _build_manager(settings: ApiServerSettings, store: Any, secret: str) -> EpochManagerLike:
    from resi.epoch.manager import EpochManager, resolve_catalog

    catalog = await resolve_catalog(store, settings)
    return EpochManager(
        store, settings, secret, catalog, archive_after_epochs=settings.archive_after_epochs
    )


def _worker_header(worker: int) -> Any:
    value = str(worker)

    async def add(_request: web.Request, response: web.StreamResponse) -> None:
        response.headers["X-Resi-Worker"] = value

    return add


async def _run_until_signal(
    app: web.Application, settings: ApiServerSettings, *, reuse_port: bool = False
) -> None:
    host, port = settings.host, settings.port
    runner = web.AppRunner(app, **server_options(settings))
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, reuse_port=reuse_port)
        await site.start()
        log.info("resi API listening on http://%s:%s", host, port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("shutting down")
    finally:
        await runner.cleanup()
