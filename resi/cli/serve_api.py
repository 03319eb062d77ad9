"""`resi serve-api`: run the operator's API (epochs, assignments, commits, S3 grants, metrics)."""

from __future__ import annotations

from pathlib import Path

import typer

from resi.cli.common import (
    ChainEndpointOption,
    ConfigOption,
    HotkeyOption,
    NetuidOption,
    NetworkOption,
    SetOption,
    WalletOption,
    WalletPathOption,
    chain_flags,
    handle_errors,
    run_async,
    settings_from,
)
from resi.logs import configure_logging_from


@handle_errors
def command(
    db: str = typer.Option(None, "--db", help="sqlite:///path or postgresql://user@host/db."),
    s3_endpoint: str = typer.Option(None, "--s3-endpoint", help="S3 endpoint URL."),
    bucket: str = typer.Option(None, "--bucket", help="S3 bucket."),
    network: str = NetworkOption,
    chain_endpoint: str = ChainEndpointOption,
    netuid: int = NetuidOption,
    wallet: str = WalletOption,
    hotkey: str = HotkeyOption,
    wallet_path: Path = WalletPathOption,
    host: str = typer.Option(None, "--host", help="Address to listen on."),
    port: int = typer.Option(None, "--port", help="Port to listen on."),
    secret: str = typer.Option(None, "--secret", help="Server secret (required off devnet)."),
    workers: int = typer.Option(
        None, "--workers", help="API processes on the port (SO_REUSEPORT); >1 needs PostgreSQL."
    ),
    config: Path = ConfigOption,
    sets: list[str] = SetOption,
) -> None:
    """Serve the resi API until SIGTERM/SIGINT (replicas and workers share one PostgreSQL)."""
    from resi.api.app import serve
    from resi.config import ApiServerSettings

    flags = {
        "db_url": db,
        "s3_endpoint": s3_endpoint,
        "s3_bucket": bucket,
        **chain_flags(network, netuid, chain_endpoint),
        "wallet_name": wallet,
        "wallet_hotkey": hotkey,
        "wallet_path": wallet_path,
        "host": host,
        "port": port,
        "secret": secret,
        "workers": workers,
    }
    settings = settings_from(ApiServerSettings, flags, config, sets)
    configure_logging_from(settings)
    if settings.workers > 1:
        from resi.api.workers import run_workers

        raise typer.Exit(run_workers(settings))
    run_async(serve, settings)
