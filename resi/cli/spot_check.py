"""`resi spot-check`: re-run the deterministic tier-3 check of one submission and show evidence."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    handle_errors,
    run_async,
    settings_from,
)

if TYPE_CHECKING:
    # The validator pulls in pyarrow, the scorer and the chain: imported when the command runs.
    from resi.config import ValidatorSettings
    from resi.validate.spotcheck import SpotCheck

FIELDS = ("price", "bedrooms", "bathrooms", "living_area_sqft", "zipcode")


@handle_errors
def command(
    epoch: str = typer.Option(..., "--epoch", help="Epoch id."),
    miner: str = typer.Option(..., "--miner", help="Miner hotkey (ss58)."),
    zipcode: str = typer.Option(..., "--zipcode", help="Zipcode of the submission."),
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
    """Print each sampled listing, claimed vs observed, and the verdict; exit 1 unless it passes."""
    from resi.config import ValidatorSettings
    from resi.score.models import Reason

    flags = client_flags(
        wallet, hotkey, wallet_path, api_url, source, sim_url, network, netuid, chain_endpoint
    )
    settings = settings_from(ValidatorSettings, flags, config, sets)
    check_network(settings)
    check = run_async(_main, settings, epoch, miner, zipcode)
    if json_out:
        print(json.dumps(_as_json(check), sort_keys=True, default=str))
    else:
        _print(check)
    if check.spot is None or check.spot.reason is not Reason.T3_PASS:
        raise typer.Exit(1)


async def _main(settings: ValidatorSettings, epoch: str, miner: str, zipcode: str) -> SpotCheck:
    from resi.validate.factory import open_validator
    from resi.validate.spotcheck import spot_check

    async with open_validator(settings) as validator:
        return await spot_check(validator, epoch, miner, zipcode)


def _verdict(check: SpotCheck) -> str:
    if check.spot is None:
        return ",".join(r.value for r in check.assessment.reasons) or "NO_SAMPLE"
    return check.spot.reason.value


def _as_json(check: SpotCheck) -> dict[str, Any]:
    from resi.validate.report import evidence_json

    spot = check.spot
    return {
        "epoch_id": check.epoch_id,
        "miner": check.hotkey,
        "zipcode": check.zipcode,
        "verdict": _verdict(check),
        "cheap_reasons": [r.value for r in check.assessment.reasons],
        "k": check.assessment.k,
        "verified": spot.verified if spot else 0,
        "matched": spot.matched if spot else 0,
        # The report's evidence, with the claimed values narrowed to the compared fields.
        "evidence": [
            {**evidence_json(e), "claimed": {f: e.claimed.get(f) for f in FIELDS}}
            for e in (spot.evidence if spot else ())
        ],
    }


def _print(check: SpotCheck) -> None:
    from rich.table import Table

    console.print(
        f"epoch {check.epoch_id}  miner {check.hotkey}  zipcode {check.zipcode}", highlight=False
    )
    if check.spot is None:
        console.print(f"no spot check: the file failed {_verdict(check)}", highlight=False)
        return
    table = Table()
    table.add_column("#", justify="right")
    table.add_column("listing")
    table.add_column("status")
    for f in FIELDS:
        table.add_column(f"{f}\nclaimed / observed")
    table.add_column("match")
    for e in check.spot.evidence:
        obs = asdict(e.observed) if e.observed else {}
        cells = []
        for f in FIELDS:
            cell = f"{e.claimed.get(f)} / {obs.get(f, '-')}"
            cells.append(f"[red]{cell}[/]" if f in e.mismatched else cell)
        match = {True: "[green]yes[/]", False: "[red]no[/]", None: "-"}[e.match]
        table.add_row(str(e.index), e.key, e.status.value, *cells, match)
    console.print(table)
    s = check.spot
    console.print(
        f"verdict: [bold]{s.reason.value}[/] ({s.matched}/{s.verified} matched, "
        f"k={s.k}, {s.draws} draws)",
        highlight=False,
    )
