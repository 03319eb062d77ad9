"""The miner's fallback when the API is unreachable: ask validator relays for the assignment.

Each relay (``MinerSettings.relay_urls``) is asked in turn with a btauth/1-signed
`GET /relay/v1/assignment`. A relay is not trusted: its answer is accepted only if the API's
signature over the document verifies for the configured ``api_hotkey`` and the epoch window
contains "now" (so an old, genuinely signed document cannot be replayed). Everything else
(unreachable relay, error status, malformed body, forged or stale document) is logged, recorded
in ``last_errors`` and the next relay is asked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import httpx
from pydantic import ValidationError

from resi.api.assignment_doc import SignedAssignment, is_current, verify_assignment
from resi.api.schemas import CurrentAssignment
from resi.errors import ConfigError, SignatureError

log = logging.getLogger(__name__)

RELAY_PATH = "/relay/v1/assignment"  # served by resi.validate.relay

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class RelayFallback:
    """Callable ``await fallback()`` → a verified current assignment from a relay, or None.

    ``keypair`` signs the requests (the miner's hotkey); ``api_hotkey`` is the API's ss58 address
    that must have signed the document. ``transport`` is the test seam.
    Raises ``ConfigError`` at construction when no ``api_hotkey`` is given.
    """

    def __init__(
        self,
        urls: Sequence[str],
        keypair: Any,
        api_hotkey: str | None,
        *,
        now: Clock = utc_now,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not api_hotkey:
            raise ConfigError("relay_urls need api_hotkey: a relayed assignment must be verified")
        self.urls = tuple(u.rstrip("/") for u in urls)
        self.keypair = keypair
        self.api_hotkey = api_hotkey
        self.now = now
        self.last_errors: dict[str, str] = {}
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport)

    async def __aenter__(self) -> RelayFallback:
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

    async def __call__(self) -> CurrentAssignment | None:
        """The first verified current assignment any relay gives, or None (see ``last_errors``)."""
        self.last_errors = {}
        for url in self.urls:
            assignment = await self._ask(url)
            if assignment is not None:
                log.warning(
                    "API unreachable: using assignment %s relayed by %s (API signature verified)",
                    assignment.epoch_id,
                    url,
                )
                return assignment
        return None

    async def _ask(self, url: str) -> CurrentAssignment | None:
        try:
            signed = await self._fetch(url)
        except httpx.HTTPError as exc:
            self._reject(url, "UNREACHABLE", type(exc).__name__)
            return None
        if isinstance(signed, str):
            self._reject(url, signed, "relay refused the request")
            return None
        try:
            assignment = verify_assignment(signed, self.api_hotkey)
        except SignatureError as exc:
            log.error("relay %s served a document that does not verify: %s", url, exc)
            self._reject(url, "BAD_SIGNATURE", str(exc))
            return None
        if not is_current(assignment, self.now()):
            self._reject(url, "STALE", f"epoch {assignment.epoch_id} is not current")
            return None
        return assignment

    async def _fetch(self, url: str) -> SignedAssignment | str:
        """The relay's signed document, or the error code it answered with."""
        from bittensor import http_auth

        request = self._http.build_request("GET", url + RELAY_PATH)
        request.headers.update(
            http_auth.sign(
                self.keypair, method="GET", path=request.url.raw_path.decode("ascii"), body=b""
            )
        )
        response = await self._http.send(request)
        if response.status_code != 200:
            return _error_code(response)
        try:
            return SignedAssignment.model_validate_json(response.content)
        except ValidationError:
            return "BAD_RESPONSE"

    def _reject(self, url: str, code: str, detail: str) -> None:
        self.last_errors[url] = code
        log.warning("relay %s: no usable assignment (%s: %s)", url, code, detail)


def _error_code(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return str(data["error"])
    return f"HTTP_{response.status_code}"
