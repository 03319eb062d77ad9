"""`resi validate`: validate completed epochs, publish reports and hashes, set weights."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

from resi.cli.common import (
    ConfigOption,
    SetOption,
    console,
    handle_errors,
    run_async,
    settings_from,
)
from resi.config import ValidatorSettings
from resi.logs import configure_logging_from
from resi.validate.factory import open_validator
from resi.validate.loop import EpochOutcome


@handle_errors
def command(
    wallet: str = typer.Option(None, "--wallet", help="Wallet (coldkey) name."),
    hotkey: str = typer.Option(None, "--hotkey", help="Hotkey name inside the wallet."),
    wallet_path: Path = typer.Option(None, "--wallet-path", help="Directory holding wallets."),
    api_url: str = typer.Option(None, "--api-url", help="Base URL of the resi API."),
    source: str = typer.Option(
        None, "--source", help="Listing source for spot checks: zillow or sim."
    ),
    sim_url: str = typer.Option(None, "--sim-url", help="Simulated market URL (--source sim)."),
    workdir: Path = typer.Option(None, "--workdir", help="Checkpoints, downloads and reports."),
    weights_interval: int = typer.Option(
        None, "--weights-interval", help="Blocks between weight settings."
    ),
    once: bool = typer.Option(False, "--once", help="Validate what is pending, then exit."),
    json_out: bool = typer.Option(False, "--json", help="JSON output instead of progress bars."),
    config: Path = ConfigOption,
    sets: list[str] = SetOption,
) -> None:
    """Validate each completed epoch, upload the report and winners, post the hash, set weights."""
    flags: dict[str, Any] = {
        "wallet_name": wallet,
        "wallet_hotkey": hotkey,
        "wallet_path": wallet_path,
        "api_url": api_url,
        "source": source,
        "sim_url": sim_url,
        "workdir": workdir,
        "weights_interval": weights_interval,
        "log_json": True if json_out else None,
    }
    settings = settings_from(ValidatorSettings, flags, config, sets)
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

    with progress:
        async with open_validator(settings, on_progress=on_progress) as validator:
            if once:
                return await validator.run_once()
            await validator.run_forever()
    return []
