"""The miner's fallback when the API is unreachable: ask validator relays for the assignment.

Relays come from two places, configured ones first (``MinerSettings.relay_urls``), then the
ones the chain lists: every validator (permit) whose axon is served, by stake, highest first
(``relays_from_metagraph``; a validator publishes its relay as its axon). Each is asked in turn
with a btauth/1-signed `GET /relay/v1/assignment`. A relay is not trusted: its answer is accepted
only if the API's signature over the document verifies for the API's key and the epoch window
contains "now" (so an old, genuinely signed document cannot be replayed). Everything else
(unreachable relay, error status, malformed body, forged or stale document) is logged, recorded
in ``last_errors`` and the next relay is asked.

The API's key is ``api_hotkey`` when configured; otherwise it is learned from the API itself on
first contact (``learn``: the API's own signed document, fetched over the miner's API connection)
and pinned in ``pin_file``. A pinned key is never replaced by a different one: a key change
needs the operator's word (``--set api_hotkey=...`` or deleting the pin), never a relay's.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import ValidationError

from resi.api.assignment_doc import SignedAssignment, is_current, verify_assignment
from resi.api.schemas import CurrentAssignment
from resi.chain.base import MetagraphSnapshot
from resi.errors import ApiError, ChainError, SignatureError

if TYPE_CHECKING:
    from pathlib import Path

    from resi.api.client import ApiClient

log = logging.getLogger(__name__)

RELAY_PATH = "/relay/v1/assignment"  # served by resi.validate.relay

Clock = Callable[[], datetime]
Discover = Callable[[], Awaitable[Sequence[str]]]
PIN_FILE = "api_identity.json"


def utc_now() -> datetime:
    return datetime.now(UTC)


class RelayFallback:
    """Callable ``await fallback()`` → a verified current assignment from a relay, or None.

    ``keypair`` signs the requests (the miner's hotkey). ``urls`` are configured relays;
    ``discover`` returns more (e.g. ``chain_relays(chain)``) and is asked at each outage.
    ``api_hotkey`` is the API's ss58 address when configured; else the key pinned in
    ``pin_file`` (see ``learn``) is used. ``transport`` is the test seam.
    """

    def __init__(
        self,
        urls: Sequence[str],
        keypair: Any,
        api_hotkey: str | None,
        *,
        discover: Discover | None = None,
        pin_file: Path | None = None,
        now: Clock = utc_now,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.urls = tuple(u.rstrip("/") for u in urls)
        self.keypair = keypair
        self.configured_api_hotkey = api_hotkey or None
        self.discover = discover
        self.pin_file = pin_file
        self.now = now
        self.last_errors: dict[str, str] = {}
        self._http = httpx.AsyncClient(timeout=timeout, transport=transport)

    @property
    def api_hotkey(self) -> str | None:
        """The key relayed documents must be signed by: configured, else pinned, else None."""
        return self.configured_api_hotkey or self._pinned()

    def _pinned(self) -> str | None:
        if self.pin_file is None:
            return None
        try:
            data = json.loads(self.pin_file.read_text())
        except (OSError, ValueError):
            return None
        key = data.get("api_hotkey") if isinstance(data, dict) else None
        return key if isinstance(key, str) and key else None

    async def learn(self, client: ApiClient) -> str | None:
        """Learn (and pin) the API's signing key from the API; returns the key in use.

        Called while the API is reachable. A configured key is only compared; a pinned one is
        never replaced (a mismatch is logged as an error). Failures are logged, never raised:
        learning is a best effort that the next epoch repeats.
        """
        try:
            signed = await client.signed_assignment()
            verify_assignment(signed, signed.api_hotkey)  # the document is intact
        except (ApiError, SignatureError) as exc:
            log.warning("cannot learn the API's signing key (%s)", exc)
            return self.api_hotkey
        current = self.api_hotkey
        if current is None and self.pin_file is not None:
            try:
                self.pin_file.parent.mkdir(parents=True, exist_ok=True)
                tmp = self.pin_file.with_name(f".{self.pin_file.name}.tmp")
                tmp.write_text(json.dumps({"api_hotkey": signed.api_hotkey}) + "\n")
                tmp.replace(self.pin_file)
            except OSError as exc:
                log.warning("cannot pin the API's signing key in %s (%s)", self.pin_file, exc)
                return None
            log.info("pinned the API's signing key %s (from the API)", signed.api_hotkey)
            return signed.api_hotkey
        if current is not None and current != signed.api_hotkey:
            log.error(
                "the API now signs with %s, not %s; relayed assignments stay checked against "
                "%s (set api_hotkey, or delete %s, if the operator changed the key)",
                signed.api_hotkey, current, current, self.pin_file,
            )  # fmt: skip
        return current

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

    async def relay_urls(self) -> list[str]:
        """Configured relays, then discovered ones (a discovery failure is logged, not raised)."""
        urls = list(self.urls)
        if self.discover is not None:
            try:
                found = await self.discover()
            except ChainError as exc:
                log.warning("cannot discover relays from the chain (%s)", exc)
                self.last_errors["chain"] = "CHAIN_UNAVAILABLE"
                found = []
            urls += [u.rstrip("/") for u in found if u.rstrip("/") not in urls]
        return urls

    async def __call__(self) -> CurrentAssignment | None:
        """The first verified current assignment any relay gives, or None (see ``last_errors``)."""
        self.last_errors = {}
        api_hotkey = self.api_hotkey
        if api_hotkey is None:
            log.warning("no relay can help: the API's signing key is not known yet (api_hotkey)")
            self.last_errors["api_hotkey"] = "NO_API_HOTKEY"
            return None
        for url in await self.relay_urls():
            assignment = await self._ask(url, api_hotkey)
            if assignment is not None:
                log.warning(
                    "API unreachable: using assignment %s relayed by %s (API signature verified)",
                    assignment.epoch_id,
                    url,
                )
                return assignment
        return None

    async def _ask(self, url: str, api_hotkey: str) -> CurrentAssignment | None:
        try:
            signed = await self._fetch(url)
        except httpx.HTTPError as exc:
            self._reject(url, "UNREACHABLE", type(exc).__name__)
            return None
        if isinstance(signed, str):
            self._reject(url, signed, "relay refused the request")
            return None
        try:
            assignment = verify_assignment(signed, api_hotkey)
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


def relays_from_metagraph(snapshot: MetagraphSnapshot) -> list[str]:
    """Relay URLs of the validators (permit) that serve an axon, by stake (highest first)."""
    served = [n for n in snapshot.neurons if n.validator_permit and n.axon]
    served.sort(key=lambda n: (-n.stake, n.uid))
    return [f"http://{n.axon}" for n in served]


def chain_relays(chain: Any) -> Discover:
    """A ``discover`` callable reading relays from ``chain``'s metagraph (a ``Chain``)."""

    async def discover() -> list[str]:
        return relays_from_metagraph(await chain.metagraph())

    return discover
