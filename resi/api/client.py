"""Typed async client of the resi API: signs every request with btauth/1 and retries safe calls.

The body is serialised here (never by httpx) and the request is built before it is signed, so the
signature covers exactly the bytes and the raw path that go on the wire. Every retry is re-signed
with a fresh nonce; a replayed nonce would be refused by the server.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from resi.api.assignment_doc import SignedAssignment
from resi.api.schemas import (
    CommitItem,
    Consensus,
    CurrentAssignment,
    EpochInputs,
    FolderAccessRequest,
    Health,
    MinerReport,
    MinerStatus,
    ReportLink,
    ResultSummary,
    Stats,
    StatusReceipt,
    StatusUpdate,
    UploadGrant,
    ValidatorResult,
    ValidatorResultReceipt,
    ValidatorUploadRequest,
    ZipcodeCount,
)
from resi.errors import ApiError, ApiUnavailable

if TYPE_CHECKING:
    from resi.config import ApiAccessSettings

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

# Paths of the API (the server's router uses the same constants).
CURRENT = "/api/v1/zipcode-assignments/current"
SIGNED_CURRENT = "/api/v1/zipcode-assignments/signed"
STATUS = "/api/v1/zipcode-assignments/status"
STATS = "/api/v1/zipcode-assignments/stats"
EPOCH_INPUTS = "/api/v1/zipcode-assignments/epoch/{epoch_id}"
FOLDER_ACCESS = "/get-folder-access"
VALIDATOR_UPLOAD = "/api/v1/s3-access/validator-upload"
VALIDATOR_RESULTS = "/api/v1/validators/results"
CONSENSUS = "/api/v1/epochs/{epoch_id}/consensus"
REPORT_LINK = "/api/v1/epochs/{epoch_id}/reports/{hotkey}"
ADMIN_EXTEND = "/api/v1/admin/extend-epoch"
ADMIN_PAUSE = "/api/v1/admin/pause-selection"
ADMIN_RESUME = "/api/v1/admin/resume-selection"
ADMIN_ACTIONS = "/api/v1/admin/actions"
HEALTH = "/health"
METRICS = "/metrics"
OPENAPI = "/openapi.json"
MINER_REPORT = "/api/v1/miners/report/{epoch_id}"
MINER_REPORT_LATEST = "/api/v1/miners/report"

_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class _Retryable(Exception):
    """Internal: a response that is worth retrying (5xx/429); carries the mapped error."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(error.message)
        self.error = error


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, _Retryable | httpx.TransportError)


class ApiClient:
    """Async context manager around one ``httpx.AsyncClient``.

    ``keypair`` is the hotkey keypair (``wallet.hotkey``) used to sign; ``None`` sends unsigned
    requests (enough for public routes). ``receiver_ss58`` binds signatures to the API's hotkey.
    ``transport`` is the test seam (an in-process server or ``httpx.MockTransport``).
    Methods raise ``ApiError`` for error responses and ``ApiUnavailable`` when the API cannot be
    reached or keeps failing transiently after the retries.
    """

    def __init__(
        self,
        base_url: str,
        keypair: Any | None,
        *,
        receiver_ss58: str | None = None,
        timeout: float = 30,
        transport: httpx.AsyncBaseTransport | None = None,
        attempts: int = 4,
        max_backoff: float = 5.0,
    ) -> None:
        self._keypair = keypair
        self._receiver = receiver_ss58
        self._attempts = attempts
        self._max_backoff = max_backoff
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=timeout, transport=transport
        )

    @classmethod
    def from_settings(cls, settings: ApiAccessSettings, keypair: Any | None) -> ApiClient:
        """A client of ``settings.api_url`` signing with ``keypair`` for ``settings.api_hotkey``."""
        return cls(
            settings.api_url,
            keypair,
            receiver_ss58=settings.api_hotkey,
            timeout=settings.http_timeout,
        )

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool; safe to call twice."""
        await self._http.aclose()

    @property
    def hotkey(self) -> str | None:
        """The ss58 address requests are signed with, or None when unsigned."""
        return None if self._keypair is None else str(self._keypair.ss58_address)

    # ------------------------------------------------------------------ miners

    async def current_assignment(self) -> CurrentAssignment:
        """The active epoch's assignment (registered miners)."""
        return await self._call("GET", CURRENT, CurrentAssignment, retry=True)

    async def folder_access(self, epoch_id: str | None, zipcode: str, sha256: str) -> UploadGrant:
        """A presigned POST for this miner's one file of ``zipcode`` (content hash ``sha256``)."""
        body = FolderAccessRequest(epoch_id=epoch_id, zipcode=zipcode, sha256=sha256)
        return await self._call("POST", FOLDER_ACCESS, UploadGrant, body=body, retry=True)

    async def post_status(
        self,
        epoch_id: str,
        nonce: str,
        status: MinerStatus,
        commits: Iterable[CommitItem] = (),
        detail: str | None = None,
    ) -> StatusReceipt:
        """Report a status and commit files; identical re-commits are idempotent, so retried."""
        body = StatusUpdate(
            epoch_id=epoch_id, nonce=nonce, status=status, commits=list(commits), detail=detail
        )
        return await self._call("POST", STATUS, StatusReceipt, body=body, retry=True)

    # ------------------------------------------------------------------ validators

    async def epoch_inputs(self, epoch_id: str) -> EpochInputs:
        """Everything a validator needs to score a COMPLETED epoch."""
        path = EPOCH_INPUTS.format(epoch_id=epoch_id)
        return await self._call("GET", path, EpochInputs, retry=True)

    async def validator_upload_access(self, epoch_id: str, name: str) -> UploadGrant:
        """A presigned POST for ``name`` in this validator's prefix for ``epoch_id`` (done epochs).

        ``name`` is one of the three report files; pydantic raises ``ValidationError`` otherwise.
        """
        body = ValidatorUploadRequest.model_validate({"epoch_id": epoch_id, "name": name})
        return await self._call("POST", VALIDATOR_UPLOAD, UploadGrant, body=body, retry=True)

    async def post_result(
        self,
        epoch_id: str,
        consensus_hash: str,
        report_key: str,
        *,
        summary: ResultSummary | None = None,
        zipcode_counts: Sequence[ZipcodeCount] = (),
    ) -> ValidatorResultReceipt:
        """Publish this validator's consensus hash, report key, (optional) report summary and
        (for calibration) its validated count per zipcode for an epoch."""
        body = ValidatorResult(
            epoch_id=epoch_id,
            consensus_hash=consensus_hash,
            report_key=report_key,
            summary=summary,
            zipcode_counts=list(zipcode_counts),
        )
        return await self._call(
            "POST", VALIDATOR_RESULTS, ValidatorResultReceipt, body=body, retry=False
        )

    # ------------------------------------------------------------------ miners' own report

    async def miner_report(self, epoch_id: str | None = None) -> MinerReport:
        """This miner's outcome per zipcode from the validators' summaries (newest epoch with
        summaries when ``epoch_id`` is None)."""
        path = MINER_REPORT_LATEST if epoch_id is None else MINER_REPORT.format(epoch_id=epoch_id)
        return await self._call("GET", path, MinerReport, retry=True)

    # ------------------------------------------------------------------ public

    async def consensus(self, epoch_id: str) -> Consensus:
        """Validators' hashes for an epoch with the majority hash and outliers."""
        path = CONSENSUS.format(epoch_id=epoch_id)
        return await self._call("GET", path, Consensus, retry=True)

    async def report_link(self, epoch_id: str, hotkey: str) -> ReportLink:
        """A presigned URL of ``hotkey``'s posted report for ``epoch_id`` (validator keys)."""
        path = REPORT_LINK.format(epoch_id=epoch_id, hotkey=hotkey)
        return await self._call("GET", path, ReportLink, retry=True)

    async def stats(self) -> Stats:
        """Epoch timing, recent epochs and participation counts."""
        return await self._call("GET", STATS, Stats, retry=True)

    async def signed_assignment(self) -> SignedAssignment:
        """The active epoch's public document signed by the API's hotkey (not verified here)."""
        return await self._call("GET", SIGNED_CURRENT, SignedAssignment, retry=True)

    async def health(self) -> Health:
        """The API's health report; a 503 still carries a parsed report with ``ok=False``."""
        response = await self._send("GET", HEALTH, None, retry=False, accept=(200, 503))
        return _parse(Health, response)

    async def metrics_text(self) -> str:
        """The Prometheus exposition text of ``/metrics``."""
        response = await self._send("GET", METRICS, None, retry=True)
        return response.text

    async def openapi(self) -> dict[str, Any]:
        """The OpenAPI document of the server."""
        response = await self._send("GET", OPENAPI, None, retry=True)
        data: dict[str, Any] = response.json()
        return data

    # ------------------------------------------------------------------ plumbing

    async def _call(
        self,
        method: str,
        path: str,
        model: type[M],
        *,
        body: BaseModel | None = None,
        retry: bool,
    ) -> M:
        raw = None if body is None else _encode(body)
        response = await self._send(method, path, raw, retry=retry)
        return _parse(model, response)

    async def _send(
        self,
        method: str,
        path: str,
        body: bytes | None,
        *,
        retry: bool,
        accept: tuple[int, ...] = (200,),
    ) -> httpx.Response:
        """Send one request (re-signed per attempt); returns the response or raises ApiError."""
        attempts = self._attempts if retry else 1
        retrying = AsyncRetrying(
            stop=stop_after_attempt(attempts),
            wait=wait_random_exponential(multiplier=0.2, max=self._max_backoff),
            retry=retry_if_exception(_is_retryable),
            before_sleep=_log_retry,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._send_once(method, path, body, accept)
        except _Retryable as exc:
            raise ApiUnavailable(
                exc.error.status, exc.error.code, exc.error.message, exc.error.headers
            ) from None
        except httpx.TransportError as exc:
            raise ApiUnavailable(
                0, "UNREACHABLE", f"cannot reach the API ({type(exc).__name__})"
            ) from None
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover

    async def _send_once(
        self, method: str, path: str, body: bytes | None, accept: tuple[int, ...]
    ) -> httpx.Response:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        request = self._http.build_request(method, path, content=body, headers=headers)
        if self._keypair is not None:
            request.headers.update(self._auth_headers(request, body or b""))
        response = await self._http.send(request)
        if response.status_code in accept:
            return response
        error = _error_from(response)
        if response.status_code in _RETRY_STATUSES:
            raise _Retryable(error)
        raise error

    def _auth_headers(self, request: httpx.Request, body: bytes) -> Mapping[str, str]:
        # Imported lazily: `import bittensor` costs ~0.5 s and unsigned use never needs it.
        from bittensor import http_auth

        assert self._keypair is not None  # callers check; keeps the type narrow for mypy
        return http_auth.sign(
            self._keypair,
            method=request.method,
            path=request.url.raw_path.decode("ascii"),
            body=body,
            receiver_ss58=self._receiver,
        )


def _encode(body: BaseModel) -> bytes:
    return json.dumps(body.model_dump(mode="json"), separators=(",", ":")).encode()


def _parse(model: type[M], response: httpx.Response) -> M:
    try:
        return model.model_validate_json(response.content)
    except ValidationError:
        raise ApiError(
            response.status_code, "BAD_RESPONSE", f"API response is not a valid {model.__name__}"
        ) from None


def _error_from(response: httpx.Response) -> ApiError:
    """Map an error response to ApiError, keeping the server's code and rate-limit headers."""
    code, message = f"HTTP_{response.status_code}", response.reason_phrase or "error"
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        code = data["error"]
        message = str(data.get("message", message))
    keep = {
        k: v
        for k, v in response.headers.items()
        if k.lower() == "retry-after" or k.lower().startswith("x-ratelimit-")
    }
    return ApiError(response.status_code, code, message, keep)


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    log.info("API call failed (%s); retry %d", type(exc).__name__, state.attempt_number)
