"""The one error middleware (every failure becomes `{"error", "message"}` JSON) plus metrics.

Nothing but our own messages reaches a client: unknown exceptions are logged here with their
traceback and answered with a generic 500.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from resi.api.state import state_of
from resi.errors import ApiError, ChainError, StorageError, StoreError

log = logging.getLogger(__name__)


class _QuietProtocolLogger(logging.LoggerAdapter[logging.Logger]):
    """aiohttp's server logger, minus tracebacks for what a client's bytes alone cause.

    aiohttp logs every malformed request (header too long, bad framing, bad method) with
    ``logger.exception``: a full traceback per request, which lets anyone flood the log. Those
    become one debug line; every other exception (a bug on our side) keeps its traceback.
    """

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kw: Any) -> None:
        exc = exc_info if isinstance(exc_info, BaseException) else None
        if isinstance(exc, HttpProcessingError | ConnectionError):
            self.logger.debug("%s: %s", str(msg) % args if args else msg, type(exc).__name__)
            return
        self.logger.error(msg, *args, exc_info=exc_info, **kw)


def quiet_protocol_logger() -> logging.LoggerAdapter[logging.Logger]:
    """The logger to hand aiohttp's request handler (``server_options`` in ``resi.api.app``)."""
    return _QuietProtocolLogger(logging.getLogger("aiohttp.server"), {})


_HTTP_CODES = {
    400: "BAD_REQUEST",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    408: "BODY_TIMEOUT",
    413: "BODY_TOO_LARGE",
}


def json_error(error: ApiError) -> web.Response:
    """The JSON response for ``error`` with its extra headers (Retry-After, rate limits)."""
    return web.Response(
        status=error.status,
        body=json.dumps(error.to_json()).encode(),
        content_type="application/json",
        headers=error.headers,
    )


def _from_http(exc: web.HTTPException) -> ApiError:
    code = _HTTP_CODES.get(exc.status, f"HTTP_{exc.status}")
    if exc.status == 413:
        message = "request body is too large"
    else:
        message = exc.reason or code
    headers = {}
    if exc.status == 405 and "Allow" in exc.headers:
        headers["Allow"] = exc.headers["Allow"]
    return ApiError(exc.status, code, message, headers)


def _from_dependency(exc: Exception) -> ApiError:
    # A failing dependency is the server's problem, and a transient one: 503 tells clients to retry.
    if isinstance(exc, StoreError):
        return ApiError(503, "STORE_UNAVAILABLE", "database unavailable; retry later")
    if isinstance(exc, StorageError):
        return ApiError(503, "STORAGE_UNAVAILABLE", "object store unavailable; retry later")
    return ApiError(503, "CHAIN_UNAVAILABLE", "chain unavailable; retry later")


@web.middleware
async def error_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Render every error as JSON and record request count and latency per route."""
    started = time.perf_counter()
    route = request.match_info.route.name or "unmatched"
    try:
        response = await handler(request)
    except ApiError as exc:
        response = json_error(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = json_error(_from_http(exc))
    except (StoreError, StorageError, ChainError) as exc:
        log.warning("dependency failure on %s %s: %r", request.method, route, exc)
        response = json_error(_from_dependency(exc))
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        response = json_error(ApiError(500, "INTERNAL", "internal server error"))
    metrics = state_of(request).metrics
    metrics.requests.inc(route, str(response.status))
    metrics.latency.observe(time.perf_counter() - started, route)
    return response
