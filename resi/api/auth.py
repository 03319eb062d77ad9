"""The gate middleware: btauth/1 (401) → registration (403) → rate limit (429) → body (400/422).

Order matters and follows DESIGN §4: nothing is counted, stored or parsed for a caller that has
not proved its identity and registration, and the replay store is the shared database so a
replayed request is refused on every replica. The hot path writes the nonce and the rate hit in
one batched transaction (``resi.epoch.store.admission``); ``authenticate``/``rate_limit`` remain
as the one-request-at-a-time building blocks. A per-address failure budget
(``resi.api.iplimit``) runs first, so strangers cannot make the API verify signatures for free.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from bittensor import http_auth
from pydantic import BaseModel, ValidationError

from resi.api.iplimit import IpFailureLimiter, client_address
from resi.api.ratelimit import RateDecision, seconds_to_reset, window_start
from resi.api.spec import Role, RouteSpec, spec_for
from resi.api.state import ApiState, admissions_of, state_of
from resi.chain.base import Neuron
from resi.epoch.store.admission import Admission, RateHit
from resi.errors import ApiError

CALLER_KEY: web.RequestKey[Neuron] = web.RequestKey("resi_caller", Neuron)
BODY_KEY: web.RequestKey[Any] = web.RequestKey("resi_body", object)
IP_LIMITER_KEY: web.AppKey[IpFailureLimiter] = web.AppKey("resi_ip_limiter", IpFailureLimiter)

# Nonce rows outlive the freshness window by a margin so replica clock drift cannot open a gap.
_NONCE_RETENTION_MARGIN_SECONDS = 60.0


class _AcceptAll:
    """Nonce store for ``verify``: the real, shared check is the async DB insert right after."""

    def check_and_store(self, hotkey_ss58: str, nonce_ns: int) -> bool:
        return True


_ACCEPT_ALL = _AcceptAll()


@web.middleware
async def gate_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Authenticate, authorise, rate-limit and parse the body of routes that need it.

    An address that spent its failed-authentication budget is refused (429) before its body is
    read or its signature verified. Registration is checked before anything is written, so a
    stranger's request stores nothing (no nonce, no count). The nonce insert and the rate hit are
    one ``admit_requests`` transaction shared with the other requests in flight
    (``AdmissionBatcher``); the refusal order stays 401 → 403 → 429.
    """
    spec = spec_for(request)
    if spec is None or spec.role is Role.PUBLIC:
        return await handler(request)
    state = state_of(request)
    limiter: IpFailureLimiter = request.app[IP_LIMITER_KEY]
    address = client_address(request, state.settings.trust_forwarded_for)
    wait = limiter.retry_after(address)
    if wait:
        state.metrics.auth_failures.inc("ADDRESS_LIMITED")
        raise ApiError(
            429,
            "ADDRESS_LIMITED",
            "too many failed authentications from this address; retry later",
            {"Retry-After": str(wait)},
        )
    try:
        raw = await read_body(request, state.settings.body_read_timeout)
        caller = verify_signature(request, raw, state)
    except ApiError:
        limiter.charge(address)
        raise
    hotkey = caller.hotkey_ss58
    member = membership_check(hotkey, spec.role, state)
    if isinstance(member, ApiError):
        if member.code == "NOT_REGISTERED":
            limiter.charge(address)
        raise _counted_refusal(member, state)
    now = state.now()
    start = window_start(now)
    limit = state.settings.rate_limit_per_minute
    admitted = await admissions_of(state).admit(
        Admission(
            hotkey,
            caller.nonce_ns,
            nonce_expiry(caller.nonce_ns, state),
            RateHit(spec.name, start, limit),
        )
    )
    if not admitted.fresh:
        limiter.charge(address)
        raise _replayed(state)
    decision = RateDecision(admitted.allowed, limit, admitted.count, seconds_to_reset(now, start))
    headers = decision.headers()
    if not decision.allowed:
        state.metrics.auth_failures.inc("RATE_LIMITED")
        raise ApiError(
            429, "RATE_LIMITED", "too many requests for this route; retry later", headers
        )
    request[CALLER_KEY] = member
    try:
        if spec.request is not None:
            request[BODY_KEY] = parse_body(spec.request, raw)
        response = await handler(request)
    except ApiError as exc:
        exc.headers = {**headers, **exc.headers}
        raise
    response.headers.update(headers)
    return response


async def read_body(request: web.Request, seconds: float) -> bytes:
    """The whole request body within ``seconds``.

    Raises ``ApiError`` 408 ``BODY_TIMEOUT`` for a slow sender (a slow-body attack holds a
    connection and a handler otherwise); aiohttp raises 413 past ``client_max_size``.
    """
    if not request.body_exists:
        return b""  # no Content-Length and not chunked: nothing to wait for, no timer to arm
    try:
        async with asyncio.timeout(seconds):
            return await request.read()
    except TimeoutError:
        raise ApiError(408, "BODY_TIMEOUT", "request body was not received in time") from None


def verify_signature(request: web.Request, raw: bytes, state: ApiState) -> http_auth.Caller:
    """Verify the btauth/1 headers (not the replay store); returns the verified caller.

    Raises ``ApiError(401, <AuthError class name>)``.
    """
    settings = state.settings
    try:
        return http_auth.verify(
            request.headers,
            raw,
            method=request.method,
            path=request.raw_path,
            self_hotkey_ss58=state.self_hotkey,
            require_receiver=settings.require_receiver,
            nonce_store=_ACCEPT_ALL,
            max_age=settings.auth_max_age,
        )
    except http_auth.AuthError as exc:
        reason = type(exc).__name__
        state.metrics.auth_failures.inc(reason)
        # AuthError messages never echo secrets or payloads (bittensor guarantees it).
        raise ApiError(401, reason, str(exc)) from None


def nonce_expiry(nonce_ns: int, state: ApiState) -> datetime:
    """When a nonce row may be purged: after the freshness window plus a drift margin."""
    kept = state.settings.auth_max_age + _NONCE_RETENTION_MARGIN_SECONDS
    return datetime.fromtimestamp(nonce_ns / 1e9 + kept, UTC)


def _replayed(state: ApiState) -> ApiError:
    state.metrics.auth_failures.inc("ReplayedRequest")
    return ApiError(401, "ReplayedRequest", "this nonce was already accepted from this hotkey")


async def authenticate(request: web.Request, raw: bytes, state: ApiState) -> str:
    """Verify the btauth/1 headers and record the nonce; returns the caller's hotkey.

    Raises ``ApiError(401, <AuthError class name>)``.
    """
    caller = verify_signature(request, raw, state)
    expires = nonce_expiry(caller.nonce_ns, state)
    if not await state.store.check_and_store_nonce(caller.hotkey_ss58, caller.nonce_ns, expires):
        raise _replayed(state)
    return caller.hotkey_ss58


def membership_check(hotkey: str, role: Role, state: ApiState) -> Neuron | ApiError:
    """The caller's neuron, or the ``ApiError`` that ``authorize`` would raise (no metrics)."""
    membership = state.membership
    if membership is None:
        return ApiError(503, "CHAIN_UNAVAILABLE", "metagraph not loaded yet; retry shortly")
    neuron = membership.by_hotkey.get(hotkey)
    if neuron is None:
        return ApiError(403, "NOT_REGISTERED", "hotkey is not registered on this subnet")
    if role is Role.VALIDATOR and not (
        neuron.validator_permit and neuron.stake >= state.settings.min_validator_stake
    ):
        return ApiError(
            403, "NOT_VALIDATOR", "route needs a validator permit and the minimum stake"
        )
    return neuron


def _counted_refusal(error: ApiError, state: ApiState) -> ApiError:
    if error.status == 403:
        state.metrics.auth_failures.inc(error.code)
    return error


def authorize(hotkey: str, role: Role, state: ApiState) -> Neuron:
    """Check the hotkey against the cached metagraph; returns its neuron.

    Raises ``ApiError`` 503 (no snapshot yet), 403 ``NOT_REGISTERED`` or 403 ``NOT_VALIDATOR``.
    """
    member = membership_check(hotkey, role, state)
    if isinstance(member, ApiError):
        raise _counted_refusal(member, state)
    return member


async def rate_limit(hotkey: str, spec: RouteSpec, state: ApiState) -> RateDecision:
    """Count this request in the shared (hotkey, route, minute) bucket."""
    now = state.now()
    start = window_start(now)
    limit = state.settings.rate_limit_per_minute
    allowed, count = await state.store.hit_rate_limit(hotkey, spec.name, start, limit)
    return RateDecision(allowed, limit, count, seconds_to_reset(now, start))


def parse_body(model: type[BaseModel], raw: bytes) -> BaseModel:
    """Parse a JSON request body into ``model``.

    Raises ``ApiError`` 400 ``MALFORMED_JSON`` or 422 ``INVALID_BODY`` (naming the first bad
    field, never echoing the input).
    """
    try:
        data = json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "MALFORMED_JSON", "request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(422, "INVALID_BODY", "request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ApiError(422, "INVALID_BODY", f"{where}: {first['msg']}") from None
