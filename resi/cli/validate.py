"""`resi validate`: validate completed epochs, publish reports and hashes, set weights."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from resi.cli.common import (
    ApiUrlOption,
    ChainEndpointOption,
    ConfigOption,
    HotkeyOption,
    NetuidOption,
    NetworkOption,
    SetOption,
    SimUrlOption,
    SourceOption,
    WalletOption,
    WalletPathOption,
    check_network,
    client_flags,
    console,
    handle_errors,
    run_async,
    settings_from,
)
from resi.logs import configure_logging_from

if TYPE_CHECKING:
    # The validator pulls in pyarrow, the scorer and the chain: imported when the command runs.
    from rich.progress import TaskID

    from resi.config import ValidatorSettings
    from resi.validate.loop import EpochOutcome
    from resi.validate.metrics import ValidatorMetrics


@handle_errors
def command(
    wallet: str = WalletOption,
    hotkey: str = HotkeyOption,
    wallet_path: Path = WalletPathOption,
    network: str = NetworkOption,
    chain_endpoint: str = ChainEndpointOption,
    netuid: int = NetuidOption,
    api_url: str = ApiUrlOption,
    source: str = SourceOption,
    sim_url: str = SimUrlOption,
    workdir: Path = typer.Option(None, "--workdir", help="Checkpoints, downloads and reports."),
    weights_interval: int = typer.Option(
        None, "--weights-interval", help="Blocks between weight settings."
    ),
    once: bool = typer.Option(False, "--once", help="Validate what is pending, then exit."),
    relay_port: int = typer.Option(
        None, "--relay-port", help="Serve the API-signed assignment to miners here (0 = off)."
    ),
    metrics_port: int = typer.Option(
        None, "--metrics-port", help="Serve Prometheus /metrics on this port (0 = off)."
    ),
    json_out: bool = typer.Option(False, "--json", help="JSON output instead of progress bars."),
    config: Path = ConfigOption,
    sets: list[str] = SetOption,
) -> None:
    """Validate each completed epoch, upload the report and winners, post the hash, set weights."""
    from resi.config import ValidatorSettings

    flags: dict[str, Any] = {
        **client_flags(
            wallet, hotkey, wallet_path, api_url, source, sim_url, network, netuid, chain_endpoint
        ),
        "workdir": workdir,
        "weights_interval": weights_interval,
        "relay_port": relay_port,
        "metrics_port": metrics_port,
        "log_json": True if json_out else None,
    }
    settings = settings_from(ValidatorSettings, flags, config, sets)
    check_network(settings)
    configure_logging_from(settings)
    outcomes = run_async(_main, settings, once, json_out)
    for o in outcomes:
        if json_out:
            print(json.dumps(_summary(o), sort_keys=True))
        else:
            console.print(
                f"epoch {o.epoch_id}: consensus hash [bold]{o.consensus_hash}[/], "
                f"report {o.report_key}",
                highlight=False,
            )


def _summary(o: EpochOutcome) -> dict[str, Any]:
    return {
        "epoch_id": o.epoch_id,
        "consensus_hash": o.consensus_hash,
        "report_key": o.report_key,
        "winners": {z: list(h) for z, h in o.result.winners.items()},
        "liars": sorted(o.result.liars),
    }


async def _main(settings: ValidatorSettings, once: bool, json_out: bool) -> list[EpochOutcome]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from resi.validate.metrics import ValidatorMetrics, serve_metrics

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        disable=json_out,
        transient=True,
    )
    tasks: dict[tuple[str, str], TaskID] = {}

    def on_progress(epoch_id: str, stage: str, done: int, total: int) -> None:
        key = (epoch_id, stage)
        if key not in tasks:
            tasks[key] = progress.add_task(f"{epoch_id} {stage}", total=total)
        progress.update(tasks[key], completed=done, total=total)

    metrics = ValidatorMetrics()
    async with contextlib.AsyncExitStack() as stack:
        if settings.metrics_port:
            await stack.enter_async_context(
                serve_metrics(metrics, settings.metrics_host, settings.metrics_port)
            )
        return await _run(settings, once, progress, on_progress, metrics)


async def _run(
    settings: ValidatorSettings,
    once: bool,
    progress: Any,
    on_progress: Any,
    metrics: ValidatorMetrics,
) -> list[EpochOutcome]:
    from resi.validate.factory import open_validator

    with progress:
        async with open_validator(settings, on_progress=on_progress, metrics=metrics) as validator:
            if settings.relay_port:
                from resi.validate.relay import run_with_relay

                return await run_with_relay(
                    validator,
                    settings.relay_host,
                    settings.relay_port,
                    interval=settings.poll_seconds,
                    once=once,
                    publish_host=settings.relay_public_host,
                )
            if once:
                return await validator.run_once()
            await validator.run_forever()
    return []
