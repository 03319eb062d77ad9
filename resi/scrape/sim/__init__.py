"""The simulated listing market: deterministic Zillow-format pages for devnet and tests."""

from __future__ import annotations

from resi.scrape.sim.app import ManualClock, create_sim_app
from resi.scrape.sim.market import SimMarketData
from resi.scrape.sim.runner import SimMarket

__all__ = ["ManualClock", "SimMarket", "SimMarketData", "create_sim_app"]
