"""Proxy rotation: each request goes through the next proxy (one httpx client per proxy)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from aiohttp import web

from resi.scrape.zillow import ZillowConfig, ZillowSource
from tests.fixtures.market import start_sim_market

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def forward_proxy(name: str, seen: list[str]) -> AsyncIterator[str]:
    """A minimal plain-HTTP forward proxy on loopback that logs which requests it carried."""
    upstream = httpx.AsyncClient()

    async def handle(request: web.Request) -> web.Response:
        seen.append(name)
        response = await upstream.get(
            str(request.url), headers={"User-Agent": request.headers.get("User-Agent", "")}
        )
        return web.Response(
            body=response.content, status=response.status_code,
            content_type=response.headers.get("content-type", "text/html").split(";")[0],
        )  # fmt: skip

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
        await upstream.aclose()


async def test_requests_rotate_over_all_proxies() -> None:
    seen: list[str] = []
    async with (
        start_sim_market(page_size=50) as market,
        forward_proxy("a", seen) as proxy_a,
        forward_proxy("b", seen) as proxy_b,
    ):
        config = ZillowConfig(base_url=market.url, proxies=(proxy_a, proxy_b), concurrency=1,
                              source_name="sim")  # fmt: skip
        async with ZillowSource(config) as source:
            found = await source.search("60614")
        assert found
        assert market.server.stats["requests"] == len(seen)  # nothing bypassed the proxies
        assert seen.count("a") >= 2 and seen.count("b") >= 2
        assert abs(seen.count("a") - seen.count("b")) <= 1  # round robin
