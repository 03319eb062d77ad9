"""Run the simulated market on a loopback port (tests, devnet, `resi sim-market`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from resi.epoch.models import ZipcodeInfo
from resi.scrape.sim.app import create_sim_app, sim_data, sim_stats
from resi.scrape.sim.market import SimMarketData


class SimMarket:
    """An in-process simulated market server; ``url`` is valid between ``start`` and ``stop``.

    Keyword arguments are passed to :func:`create_sim_app` (seed, now, latency, rate_limit, ...).
    """

    def __init__(
        self,
        catalog: Mapping[str, ZipcodeInfo],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        **options: Any,
    ) -> None:
        self.app = create_sim_app(catalog, **options)
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        if self._runner is None:
            raise RuntimeError("SimMarket is not running")
        return f"http://{self.host}:{self.port}"

    @property
    def stats(self) -> dict[str, int]:
        """Request counters: ``requests``, ``rate_limited`` (429s), ``blocked`` (captchas)."""
        return sim_stats(self.app)

    @property
    def data(self) -> SimMarketData:
        return sim_data(self.app)

    async def start(self) -> str:
        """Start listening (port 0 picks a free port); returns the base URL."""
        runner = web.AppRunner(self.app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        self.port = runner.addresses[0][1]
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SimMarket:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
