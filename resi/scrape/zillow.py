"""The Zillow listing source: polite, retrying httpx client + the pure parser.

One ``httpx.AsyncClient`` per proxy (httpx binds a proxy to a client), rotated round-robin per
request. A per-host gate bounds concurrency and spaces requests by ``request_delay``. 403/429/5xx,
transport errors and captcha pages are retried with jittered exponential backoff (tenacity) and
end in ``SourceUnavailable``; a block page is never mistaken for "no results". Searches that hit
the site's result cap are split into price bands until every band fits.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import anyio
import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from resi.errors import SourceUnavailable
from resi.scrape.listing import Listing
from resi.scrape.zillow_parser import (
    SearchPage,
    detail_url,
    is_block_page,
    parse_detail_page,
    parse_search_page,
    search_url,
)

log = logging.getLogger(__name__)

BROWSER_HEADERS = {
    "User-Agent": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36"
    ),
    "Accept": (
        "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
    ),
    "Accept-Language": "en-US,en;q=0.9",
    "Accept-Encoding": "gzip, deflate",
    "Cache-Control": "no-cache",
    "Upgrade-Insecure-Requests": "1",
    "Sec-Fetch-Dest": "document",
    "Sec-Fetch-Mode": "navigate",
    "Sec-Fetch-Site": "none",
}
RETRY_STATUSES = frozenset({403, 408, 425, 429, 500, 502, 503, 504})
FIRST_PRICE_SPLIT = 400_000
MAX_BAND_DEPTH = 24


@dataclass(frozen=True)
class ZillowConfig:
    """Settings of a :class:`ZillowSource`; ``base_url`` may point at the simulated market."""

    base_url: str
    proxies: tuple[str, ...] = ()
    concurrency: int = 8
    request_delay: float = 0.0
    max_attempts: int = 6
    backoff_initial: float = 0.25
    backoff_max: float = 20.0
    timeout: float = 20.0
    http2: bool = True
    source_name: str = "zillow"


class _HostGate:
    """Bounds in-flight requests to one host and spaces request starts by ``delay`` seconds."""

    def __init__(self, concurrency: int, delay: float) -> None:
        self._limiter = anyio.CapacityLimiter(concurrency)
        self._delay = delay
        self._lock = anyio.Lock()
        self._next_start = 0.0

    async def __aenter__(self) -> None:
        await self._limiter.acquire()
        if self._delay > 0:
            async with self._lock:
                wait = self._next_start - time.monotonic()
                if wait > 0:
                    await anyio.sleep(wait)
                self._next_start = time.monotonic() + self._delay

    async def __aexit__(self, *exc: object) -> None:
        self._limiter.release()


class ZillowSource:
    """``ListingSource`` for Zillow-format sites (Zillow itself or the simulated market)."""

    def __init__(
        self,
        config: ZillowConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self._now = now
        timeout = httpx.Timeout(config.timeout)
        limits = httpx.Limits(max_connections=max(config.concurrency, 1) * 2)
        if transport is not None or not config.proxies:
            proxies: tuple[str | None, ...] = (None,)
        else:
            proxies = config.proxies
        self._clients = [
            httpx.AsyncClient(
                headers=BROWSER_HEADERS,
                timeout=timeout,
                limits=limits,
                http2=config.http2 and transport is None,
                proxy=proxy,
                transport=transport,
                follow_redirects=True,
            )
            for proxy in proxies
        ]
        self._rotation = itertools.cycle(self._clients)
        self._gates: dict[str, _HostGate] = {}

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()

    async def __aenter__(self) -> ZillowSource:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ public

    async def search(self, zipcode: str) -> list[Listing]:
        """Every listing of ``zipcode``: all pages, price bands when the site caps results."""
        found: dict[str, Listing] = {}
        await self._search_band(zipcode, None, None, found, depth=0)
        return sorted(found.values(), key=lambda item: item.listing_id)

    async def lookup(self, listing: Listing) -> Listing | None:
        """Re-fetch by id from the canonical detail URL; 404 (or 410) → ``None``."""
        url = detail_url(self.config.base_url, listing.listing_id)
        response = await self._get(url, missing_ok=True)
        if response is None:
            return None
        return parse_detail_page(
            response.text,
            base_url=self.config.base_url,
            source=self.config.source_name,
            scraped_at=self._now(),
        )

    # ------------------------------------------------------------------ search

    async def _search_band(
        self,
        zipcode: str,
        lo: int | None,
        hi: int | None,
        found: dict[str, Listing],
        depth: int,
    ) -> None:
        first = await self._page(zipcode, 1, lo, hi)
        reachable = first.total_pages * first.per_page
        # The site's count includes the units of building cards (never pageable) and a page
        # that is not full means there is nothing more to page through: only pageable cards
        # beyond the last reachable page make a capped search worth splitting.
        capped = not first.exhausted and first.pageable_results > reachable
        band_width = math.inf if hi is None else hi - (lo or 0)
        if capped and depth < MAX_BAND_DEPTH and band_width > 1:
            for sub_lo, sub_hi in _split_band(lo, hi):
                await self._search_band(zipcode, sub_lo, sub_hi, found, depth + 1)
            return
        if capped:
            log.warning(
                "zipcode %s: price band %s-%s still capped; results truncated", zipcode, lo, hi
            )
        pages = [first]
        if first.total_pages > 1:
            rest: list[SearchPage | None] = [None] * (first.total_pages - 1)

            async def fetch(index: int) -> None:
                rest[index] = await self._page(zipcode, index + 2, lo, hi)

            async with anyio.create_task_group() as tg:
                for index in range(len(rest)):
                    tg.start_soon(fetch, index)
            pages += [p for p in rest if p is not None]
        for page in pages:
            for listing in page.listings:
                found.setdefault(listing.listing_id, listing)

    async def _page(self, zipcode: str, page: int, lo: int | None, hi: int | None) -> SearchPage:
        url = search_url(self.config.base_url, zipcode, page, lo, hi)
        response = await self._get(url)
        assert response is not None
        return parse_search_page(
            response.text,
            base_url=self.config.base_url,
            source=self.config.source_name,
            scraped_at=self._now(),
        )

    # ------------------------------------------------------------------ transport

    async def _get(self, url: str, *, missing_ok: bool = False) -> httpx.Response | None:
        """GET with retries. ``None`` for 404/410 when ``missing_ok``; else raises.

        Raises ``SourceUnavailable`` once retries are exhausted (or for other 4xx statuses).
        """
        host = urlsplit(url).netloc
        gate = self._gates.setdefault(
            host, _HostGate(self.config.concurrency, self.config.request_delay)
        )
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.config.max_attempts),
            wait=_RetryAfterOrJitter(
                wait_random_exponential(
                    multiplier=self.config.backoff_initial, max=self.config.backoff_max
                ),
                self.config.backoff_max,
            ),
            retry=retry_if_exception_type(_Retryable),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._get_once(gate, url, missing_ok)
        except _Retryable as exc:
            raise SourceUnavailable(
                f"{url}: {exc} (after {self.config.max_attempts} attempts)"
            ) from None
        return None  # pragma: no cover - AsyncRetrying always returns or raises

    async def _get_once(self, gate: _HostGate, url: str, missing_ok: bool) -> httpx.Response | None:
        client = next(self._rotation)
        async with gate:
            try:
                response = await client.get(url)
            except httpx.TransportError as exc:
                raise _Retryable(f"transport error {type(exc).__name__}") from None
        if response.status_code in (404, 410) and missing_ok:
            return None
        if response.status_code in RETRY_STATUSES:
            reason = "block page" if is_block_page(response.text) else "status"
            raise _Retryable(
                f"{reason} {response.status_code}",
                _retry_after(response.headers.get("Retry-After")),
            )
        if response.status_code >= 400:
            raise SourceUnavailable(f"{url}: unexpected status {response.status_code}")
        if is_block_page(response.text):
            raise _Retryable("block page (captcha)")
        return response


class _Retryable(Exception):
    """Internal: a failure worth retrying; becomes SourceUnavailable when retries run out."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _retry_after(value: str | None) -> float | None:
    """Seconds from a numeric ``Retry-After`` header (HTTP dates are ignored: jitter instead)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


class _RetryAfterOrJitter:
    """Tenacity wait: the server's Retry-After when given (capped), else jittered backoff."""

    def __init__(self, fallback: wait_random_exponential, cap: float) -> None:
        self.fallback, self.cap = fallback, cap

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        jitter = self.fallback(state)
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return max(jitter, min(exc.retry_after, self.cap))
        return jitter


def _split_band(lo: int | None, hi: int | None) -> list[tuple[int | None, int | None]]:
    """Split an inclusive price band in two; an open top band splits geometrically."""
    low = lo or 0
    if hi is None:
        mid = max(low * 2, FIRST_PRICE_SPLIT)
        return [(lo, mid), (mid + 1, None)]
    mid = (low + hi) // 2
    return [(lo, mid), (mid + 1, hi)]
