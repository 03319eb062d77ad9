"""`resi replay-epoch ID`: recompute an epoch's result and check its consensus hash.

``--from-report FILE`` replays offline from the inputs and lookups recorded in a validation report
(no network at all). ``--from-api`` re-downloads the epoch through the API (validator keys needed)
and rescores it, reusing the report's recorded lookups when ``--from-report`` is also given.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from resi.cli.common import (
    ApiUrlOption,
    ChainEndpointOption,
    ConfigOption,
    HotkeyOption,
    JsonOption,
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
    fail,
    handle_errors,
    run_async,
    settings_from,
)

if TYPE_CHECKING:
    # The scorer pulls in pyarrow: imported when the command runs.
    from resi.config import ValidatorSettings
    from resi.score.models import EpochResult, Lookup


@handle_errors
def command(
    epoch_id: str = typer.Argument(..., help="Epoch id, e.g. 2025-10-01T16-00-00."),
    from_report: Path = typer.Option(
        None, "--from-report", help="validation_report.json to replay (offline)."
    ),
    from_api: bool = typer.Option(
        False, "--from-api", help="Re-download the epoch's files via the API and rescore."
    ),
    wallet: str = WalletOption,
    hotkey: str = HotkeyOption,
    wallet_path: Path = WalletPathOption,
    network: str = NetworkOption,
    chain_endpoint: str = ChainEndpointOption,
    netuid: int = NetuidOption,
    api_url: str = ApiUrlOption,
    source: str = SourceOption,
    sim_url: str = SimUrlOption,
    json_out: bool = JsonOption,
    config: Path = ConfigOption,
    sets: list[str] = SetOption,
) -> None:
    """Recompute an epoch; exit 1 if the hash differs from the recorded one."""
    from resi.validate.report import load_report, record_from_report, replay_report

    if from_report is None and not from_api:
        raise fail("give --from-report FILE and/or --from-api", code=2)
    doc = load_report(from_report) if from_report is not None else None
    if doc is not None and doc["epoch_id"] != epoch_id:
        raise fail(f"report is for epoch {doc['epoch_id']}, not {epoch_id}", code=2)
    recorded = doc["consensus_hash"] if doc is not None else None
    if from_api:
        from resi.config import ValidatorSettings

        flags = client_flags(
            wallet, hotkey, wallet_path, api_url, source, sim_url, network, netuid, chain_endpoint
        )
        settings = settings_from(ValidatorSettings, flags, config, sets)
        check_network(settings)
        lookups = record_from_report(doc)[1] if doc is not None else {}
        result = run_async(_rescore, settings, epoch_id, lookups)
    else:
        assert doc is not None
        result = replay_report(doc)
    _print(result, recorded, json_out)
    if recorded is not None and result.consensus_hash != recorded:
        raise typer.Exit(1)


async def _rescore(
    settings: ValidatorSettings, epoch_id: str, lookups: dict[str, Lookup]
) -> EpochResult:
    from resi.validate.factory import open_validator

    with tempfile.TemporaryDirectory(prefix="resi-replay-") as tmp:
        async with open_validator(settings, workdir=Path(tmp)) as validator:
            scored = await validator.score_epoch(epoch_id, known_lookups=lookups)
    return scored.result


def _print(result: EpochResult, recorded: str | None, json_out: bool) -> None:
    same = recorded is None or result.consensus_hash == recorded
    if json_out:
        print(
            json.dumps(
                {
                    "epoch_id": result.epoch_id,
                    "consensus_hash": result.consensus_hash,
                    "recorded_hash": recorded,
                    "match": same,
                    "winners": {z: list(h) for z, h in sorted(result.winners.items())},
                    "scores": dict(sorted(result.score_strings.items())),
                },
                sort_keys=True,
            )
        )
        return
    from rich.table import Table

    table = Table(title=f"epoch {result.epoch_id}")
    table.add_column("zipcode")
    table.add_column("rows", justify="right")
    for rank in range(1, 4):
        table.add_column(f"rank {rank}")
    for zipcode, hotkeys in sorted(result.winners.items()):
        cells = [*hotkeys, *([""] * (3 - len(hotkeys)))][:3]
        table.add_row(zipcode, str(result.validated_counts.get(zipcode, 0)), *cells)
    console.print(table)
    console.print(f"consensus hash: [bold]{result.consensus_hash}[/]", highlight=False)
    if recorded is not None:
        verdict = "[green]matches[/]" if same else f"[red]DIFFERS[/] from recorded {recorded}"
        console.print(f"recorded hash:  {verdict}", highlight=False)
