"""Build a ready ``Validator`` from ``ValidatorSettings`` (wallet, API client, chain, source)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from resi.api.client import ApiClient
from resi.chain import open_chain
from resi.config import ValidatorSettings
from resi.scrape.source import open_source
from resi.validate.loop import ProgressFn, Validator
from resi.validate.metrics import MeteredSource, ValidatorMetrics, s3_event_hooks
from resi.wallet import load_keypair


@contextlib.asynccontextmanager
async def open_validator(
    settings: ValidatorSettings,
    *,
    on_progress: ProgressFn | None = None,
    workdir: Path | None = None,
    metrics: ValidatorMetrics | None = None,
) -> AsyncIterator[Validator]:
    """A validator wired from settings; every connection is closed on exit.

    Raises ``WalletError`` when the hotkey cannot be loaded, ``ConfigError`` for bad settings.
    """
    keypair = load_keypair(settings.wallet_name, settings.wallet_hotkey, settings.wallet_path)
    hotkey = str(keypair.ss58_address)
    chain = open_chain(settings, signer_hotkey=hotkey, wallet=keypair)
    metrics = metrics or ValidatorMetrics()
    metrics.weights_interval_seconds.set(settings.weights_interval * settings.block_time)
    source = open_source(
        settings.source,
        sim_url=settings.sim_url,
        proxies=settings.proxies,
        concurrency=settings.lookup_concurrency,
    )
    client = ApiClient.from_settings(settings, keypair)
    try:
        async with httpx.AsyncClient(
            timeout=settings.http_timeout, event_hooks=s3_event_hooks(metrics)
        ) as http:
            yield Validator(
                client,
                chain,
                MeteredSource(source, metrics),
                hotkey,
                workdir or settings.workdir,
                settings,
                http,
                on_progress,
                metrics=metrics,
            )
    finally:
        await client.aclose()
        await source.aclose()
        await chain.close()
