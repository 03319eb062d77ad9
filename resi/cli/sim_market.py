"""`resi sim-market`: serve the simulated listing market alone (for devnet and manual testing)."""

from __future__ import annotations

from pathlib import Path

import anyio
import typer

from resi.cli.common import console, handle_errors, run_async


@handle_errors
def command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8100, "--port", help="Port to listen on (0 = any free port)."),
    seed: int = typer.Option(0, "--seed", help="Market seed (same seed, same listings)."),
    catalog_csv: Path = typer.Option(
        None, "--catalog", help="CSV of expected listings (zipcode,expected_listings)."
    ),
    latency: float = typer.Option(0.0, "--latency", help="Seconds added to every response."),
    rate_limit: float = typer.Option(
        None, "--rate-limit", help="Requests per second before 429s (unset = unlimited)."
    ),
    block_every: int = typer.Option(
        None, "--block-every", help="Serve a captcha page on every n-th request."
    ),
) -> None:
    """Serve Zillow-format pages generated deterministically from the seed until Ctrl-C."""
    run_async(_serve, host, port, seed, catalog_csv, latency, rate_limit, block_every)


async def _serve(
    host: str,
    port: int,
    seed: int,
    catalog_csv: Path | None,
    latency: float,
    rate_limit: float | None,
    block_every: int | None,
) -> None:
    from resi.epoch.catalog import builtin_catalog, parse_plain_csv
    from resi.scrape.sim import SimMarket

    rows = await anyio.to_thread.run_sync(builtin_catalog)
    if catalog_csv is not None:
        rows = parse_plain_csv(catalog_csv, rows)
    market = SimMarket(
        {row.zipcode: row for row in rows},
        host=host,
        port=port,
        seed=seed,
        latency=latency,
        rate_limit=rate_limit,
        block_every=block_every,
    )
    async with market:
        console.print(f"simulated market on {market.url} (seed {seed}, {len(rows)} zipcodes)")
        await anyio.sleep_forever()
