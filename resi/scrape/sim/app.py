"""The simulated listing site (aiohttp): Zillow-format search and detail pages over SimMarketData.

Routes: ``/homes/for_sale/{zip}_rb/[{n}_p/]?searchQueryState=<json>`` (price band in
``filterState.price.min/max``; at most ``result_cap`` results are reachable per query, like
Zillow's 20-page cap) and ``/homedetails/[slug/]{zpid}_zpid/`` (404 for ids that never existed).
Optional latency, a 429 token-bucket rate limit and periodic captcha pages exercise the client.
"""

from __future__ import annotations

import json
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
from aiohttp import web

from resi.epoch.models import ZipcodeInfo
from resi.scrape.sim import pages
from resi.scrape.sim.market import EMPTY_STANDARD_RATE, SimCard, SimListing, SimMarketData

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class ManualClock:
    """A settable clock for tests and the devnet: ``clock()`` returns the current fake time."""

    def __init__(self, start: datetime) -> None:
        self.time = start

    def __call__(self) -> datetime:
        return self.time

    def advance(self, delta: timedelta) -> None:
        self.time += delta


@dataclass
class SimConfig:
    data: SimMarketData
    now: Clock
    latency: float
    rate_limit: float | None
    page_size: int
    result_cap: int
    block_every: int | None
    requests: int = 0
    rate_limited: int = 0
    blocked: int = 0
    tokens: float = 0.0
    refilled: float = 0.0
    throttle_every: int | None = None

    def __post_init__(self) -> None:
        self._snapshots: OrderedDict[tuple[str, datetime], list[SimListing]] = OrderedDict()

    def snapshot(self, zipcode: str) -> list[SimListing]:
        """Active listings at the current minute (cached: pages of one scrape share it)."""
        at = self.now().replace(second=0, microsecond=0)
        key = (zipcode, at)
        cached = self._snapshots.get(key)
        if cached is None:
            cached = self.data.active(zipcode, at)
            self._snapshots[key] = cached
            if len(self._snapshots) > 256:
                self._snapshots.popitem(last=False)
        return cached

    def take_token(self) -> bool:
        """Token bucket of ``rate_limit`` requests per second (burst = one second's worth)."""
        if self.rate_limit is None:
            return True
        now = time.monotonic()
        burst = max(1.0, self.rate_limit)
        if self.refilled == 0.0:
            self.tokens = burst
        else:
            self.tokens = min(burst, self.tokens + (now - self.refilled) * self.rate_limit)
        self.refilled = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


_CONFIG = web.AppKey("sim_config", SimConfig)


def sim_stats(app: web.Application) -> dict[str, int]:
    """Request counters of a sim app: ``requests``, ``rate_limited`` (429s), ``blocked``."""
    config = app[_CONFIG]
    return {
        "requests": config.requests,
        "rate_limited": config.rate_limited,
        "blocked": config.blocked,
    }


def sim_data(app: web.Application) -> SimMarketData:
    """The data model behind a sim app (tests compare scraped results against it)."""
    return app[_CONFIG].data


def create_sim_app(
    catalog: Mapping[str, ZipcodeInfo],
    *,
    seed: int,
    now: Clock = utc_now,
    latency: float = 0.0,
    rate_limit: float | None = None,
    page_size: int = 41,
    result_cap: int = 820,
    block_every: int | None = None,
    empty_rate: float = EMPTY_STANDARD_RATE,
    throttle_every: int | None = None,
) -> web.Application:
    """The simulated market as an aiohttp application (deterministic for a seed and clock).

    ``rate_limit`` is requests per second before 429s; ``block_every`` serves a captcha page
    (status 200, as bot walls often do) on every n-th request; ``empty_rate`` is the share of
    STANDARD zipcodes with nothing for sale. ``throttle_every`` answers every n-th request with
    429 + ``Retry-After`` regardless of timing: tests that assert 429 handling use it, because a
    slow (loaded) client never exceeds the time-based ``rate_limit``.
    """
    if throttle_every is not None and throttle_every < 2:
        raise ValueError("throttle_every must be at least 2 (1 would refuse every request)")
    app = web.Application(middlewares=[_gatekeeper])
    app[_CONFIG] = SimConfig(
        data=SimMarketData(catalog, seed, empty_rate),
        now=now,
        latency=latency,
        rate_limit=rate_limit,
        page_size=page_size,
        result_cap=result_cap,
        block_every=block_every,
        throttle_every=throttle_every,
    )
    app.router.add_get("/health", _health)
    app.router.add_get("/homes/for_sale/{zip_rb}/", _search)
    app.router.add_get("/homes/for_sale/{zip_rb}/{page_p}/", _search)
    app.router.add_get("/homedetails/{zpid_part}/", _detail)
    app.router.add_get("/homedetails/{slug}/{zpid_part}/", _detail)
    return app


@web.middleware
async def _gatekeeper(request: web.Request, handler: Any) -> web.StreamResponse:
    config = request.app[_CONFIG]
    if request.path == "/health":
        return await handler(request)
    config.requests += 1
    if config.latency > 0:
        await anyio.sleep(config.latency)
    throttled = config.throttle_every and config.requests % config.throttle_every == 0
    if throttled or not config.take_token():
        config.rate_limited += 1
        return web.Response(status=429, text="Too Many Requests", headers={"Retry-After": "1"})
    if config.block_every and config.requests % config.block_every == 0:
        config.blocked += 1
        return web.Response(text=pages.BLOCK_PAGE, content_type="text/html")
    return await handler(request)


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def _not_found() -> web.Response:
    return web.Response(status=404, text=pages.NOT_FOUND_PAGE, content_type="text/html")


async def _search(request: web.Request) -> web.Response:
    config = request.app[_CONFIG]
    zip_rb = request.match_info["zip_rb"]
    page_p = request.match_info.get("page_p", "1_p")
    if not zip_rb.endswith("_rb") or not page_p.endswith("_p") or not page_p[:-2].isdigit():
        return _not_found()
    zipcode, page = zip_rb[:-3], max(1, int(page_p[:-2]))
    lo, hi = _price_band(request.query.get("searchQueryState"))
    matching = [
        item
        for item in config.snapshot(zipcode)
        if (lo is None or item.price >= lo) and (hi is None or item.price <= hi)
    ]
    extras = [
        card
        for card in config.data.extra_cards(zipcode)
        if (lo is None or card.price >= lo) and (hi is None or card.price <= hi)
    ]
    # Like the real site: featured building cards first, and the result count includes every
    # unit of a building (not one per card), so it exceeds the cards one can page through.
    buildings = [c for c in extras if c.kind == "building"]
    rest: list[SimListing | SimCard] = [*matching, *(c for c in extras if c.kind != "building")]
    rest.sort(key=lambda c: c.card_id if isinstance(c, SimCard) else c.zpid)
    cards: list[SimListing | SimCard] = [*buildings, *rest]
    reachable = min(len(cards), config.result_cap)
    total_pages = max(1, math.ceil(reachable / config.page_size))
    start = (page - 1) * config.page_size
    items = cards[start : min(start + config.page_size, reachable)] if page <= total_pages else []
    html = pages.search_page(
        zipcode,
        items,
        page=page,
        total=len(rest) + sum(c.units for c in buildings),
        total_pages=total_pages,
        per_page=config.page_size,
    )
    return web.Response(text=html, content_type="text/html")


def _price_band(raw: str | None) -> tuple[int | None, int | None]:
    if not raw:
        return None, None
    try:
        state = json.loads(raw)
        price = state.get("filterState", {}).get("price", {})
        lo, hi = price.get("min"), price.get("max")
        return (int(lo) if lo is not None else None, int(hi) if hi is not None else None)
    except (ValueError, TypeError, AttributeError):
        return None, None


async def _detail(request: web.Request) -> web.Response:
    config = request.app[_CONFIG]
    part = request.match_info["zpid_part"]
    if not part.endswith("_zpid") or not part[:-5].isdigit():
        return _not_found()
    item = config.data.find(int(part[:-5]), config.now())
    if item is None:
        return _not_found()
    return web.Response(text=pages.detail_page(item), content_type="text/html")
