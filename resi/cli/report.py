"""`resi report`: a miner's own outcome per zipcode, as the validators reported it (signed).

Prints, per zipcode and validator, the rank and reason codes, and the spot check's sampled rows
side by side: what the file claimed against what the listing source showed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from resi.cli.common import (
    ApiUrlOption,
    ConfigOption,
    HotkeyOption,
    JsonOption,
    SetOption,
    WalletOption,
    WalletPathOption,
    client_flags,
    console,
    handle_errors,
    run_async,
    settings_from,
)

if TYPE_CHECKING:
    from resi.api.schemas import MinerReport
    from resi.config import MinerSettings


@handle_errors
def command(
    epoch: str = typer.Option(
        None, "--epoch", help="Epoch id (default: the newest epoch with validator reports)."
    ),
    wallet: str = WalletOption,
    hotkey: str = HotkeyOption,
    wallet_path: Path = WalletPathOption,
    api_url: str = ApiUrlOption,
    as_json: bool = JsonOption,
    config: Path = ConfigOption,
    sets: list[str] = SetOption,
) -> None:
    """Why did I get this score? Your outcome per zipcode from the validators' reports."""
    from resi.config import MinerSettings

    flags: dict[str, Any] = client_flags(wallet, hotkey, wallet_path, api_url, None, None)
    settings = settings_from(MinerSettings, flags, config, sets)
    report = run_async(_fetch, settings, epoch)
    if as_json:
        typer.echo(json.dumps(report.model_dump(mode="json"), indent=1, sort_keys=True))
        return
    print_report(report)


async def _fetch(settings: MinerSettings, epoch: str | None) -> MinerReport:
    from resi.api.client import ApiClient
    from resi.wallet import load_keypair

    keypair = load_keypair(settings.wallet_name, settings.wallet_hotkey, settings.wallet_path)
    async with ApiClient.from_settings(settings, keypair) as api:
        return await api.miner_report(epoch)


def _cell(value: Any) -> Any:
    """Plain text (never rich markup: reason codes and values come from other parties)."""
    from rich.text import Text

    return Text("—" if value is None else str(value))


def print_report(report: MinerReport) -> None:
    """Render the report as rich tables (no markup is taken from the report's text)."""
    from rich.table import Table

    console.print(f"epoch {report.epoch_id}  miner {report.miner}", markup=False, highlight=False)
    if not report.validators:
        console.print("no validator has reported on this epoch yet")
        return
    for validator, score in sorted(report.scores.items()):
        console.print(f"score {score} from validator {validator}", markup=False, highlight=False)
    if not report.zipcodes:
        console.print("the validators' reports have no file of yours in this epoch")
        return
    outcomes = Table(title="Outcome per zipcode")
    for column in ("zipcode", "validator", "rank", "liar", "reason codes"):
        outcomes.add_column(column)
    for z in report.zipcodes:
        outcomes.add_row(
            _cell(z.zipcode), _cell(z.validator[:12] + "…"), _cell(z.rank),
            _cell("yes" if z.liar else "no"), _cell(" ".join(z.reasons)),
        )  # fmt: skip
    console.print(outcomes)
    for z in report.zipcodes:
        if not z.spot:
            continue
        spot = Table(title=_cell(f"Spot check {z.zipcode} (validator {z.validator[:12]}…)"))
        for column in ("listing", "field", "claimed", "observed", "verdict"):
            spot.add_column(column)
        for row in z.spot:
            fields = sorted(set(row.claimed) | set(row.observed or {}))
            verdict = "match" if row.match else row.status if row.observed is None else "mismatch"
            for i, name in enumerate(fields):
                observed = None if row.observed is None else row.observed.get(name)
                flag = " ✘" if name in row.mismatched else ""
                spot.add_row(
                    _cell(row.key if i == 0 else ""), _cell(name), _cell(row.claimed.get(name)),
                    _cell(f"{observed if observed is not None else '—'}{flag}"),
                    _cell(verdict if i == 0 else ""),
                )  # fmt: skip
        console.print(spot)
    console.print('Reason codes are explained in docs/miner.md, "Why did I get 0?".')
