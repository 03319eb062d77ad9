"""The ``ListingSource`` protocol every listing site adapter implements, and its factory.

``search`` returns every listing of a zipcode (all result pages); ``lookup`` re-fetches one
listing for spot checks and returns ``None`` only when the site provably says it does not exist.
Transient failures (timeouts, 429, 5xx, block pages) raise ``SourceUnavailable`` after retries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol, runtime_checkable

from resi.errors import ConfigError
from resi.scrape.listing import Listing

SourceKind = Literal["zillow", "sim"]

ZILLOW_URL = "https://www.zillow.com"


@runtime_checkable
class ListingSource(Protocol):
    """A listing site. Implementations must be safe to call concurrently."""

    async def search(self, zipcode: str) -> list[Listing]:
        """Every listing currently for sale in ``zipcode`` (all pages, deduplicated by id).

        Raises ``SourceUnavailable`` (transient, after retries) or ``ParseError``.
        """
        ...

    async def lookup(self, listing: Listing) -> Listing | None:
        """The listing as the site shows it now; ``None`` if it provably never existed/is gone.

        Raises ``SourceUnavailable`` (transient, after retries) or ``ParseError``.
        """
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def open_source(
    kind: SourceKind,
    *,
    sim_url: str | None = None,
    proxies: Sequence[str] = (),
    concurrency: int = 8,
    request_delay: float = 0.0,
    max_attempts: int = 6,
    backoff_max: float = 20.0,
    timeout: float = 20.0,
) -> ListingSource:
    """Build a source: ``zillow`` (the real site) or ``sim`` (the simulated market at ``sim_url``).

    Both use the same Zillow adapter and parser; only the base URL differs.
    Raises ``ConfigError`` for an unknown kind or a missing ``sim_url``.
    """
    from resi.scrape.zillow import ZillowConfig, ZillowSource

    if kind == "zillow":
        base = ZILLOW_URL
    elif kind == "sim":
        if not sim_url:
            raise ConfigError("source 'sim' needs sim_url")
        base = sim_url
    else:
        raise ConfigError(f"unknown listing source {kind!r}")
    config = ZillowConfig(
        base_url=base,
        proxies=tuple(proxies),
        concurrency=concurrency,
        request_delay=request_delay,
        max_attempts=max_attempts,
        backoff_max=backoff_max,
        timeout=timeout,
        source_name="zillow" if kind == "zillow" else "sim",
    )
    return ZillowSource(config)
