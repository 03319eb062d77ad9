"""`resi wallet`: create and show btcli-style wallets without prompts (devnet and tests)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import typer

from resi.cli.common import JsonOption, console, handle_errors
from resi.wallet import WalletInfo, create_wallet, show_wallet

app = typer.Typer(
    help="Create and inspect btcli-style wallets (never prompts).", no_args_is_help=True
)

# The bittensor names (as btcli and `resi mine`/`resi validate`), with the older ones as aliases.
NameOption = typer.Option(
    "default", "--wallet.name", "--wallet", "--name", help="Wallet (coldkey) name."
)
HotkeyOption = typer.Option(
    "default", "--wallet.hotkey", "--hotkey", help="Hotkey name inside the wallet."
)
PathOption = typer.Option(
    Path("~/.bittensor/wallets"),
    "--wallet.path",
    "--wallet-path",
    "--path",
    help="Directory that holds the wallets.",
)


def _print(info: WalletInfo, as_json: bool) -> None:
    data = {k: str(v) for k, v in asdict(info).items()}
    if as_json:
        typer.echo(json.dumps(data, sort_keys=True))
        return
    console.print(f"wallet   {data['name']}/{data['hotkey']}  ({data['path']})", highlight=False)
    console.print(f"coldkey  {data['coldkey_ss58']}", highlight=False)
    console.print(f"hotkey   {data['hotkey_ss58']}", highlight=False)


@app.command("create")
@handle_errors
def create(
    name: str = NameOption,
    hotkey: str = HotkeyOption,
    path: Path = PathOption,
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace an existing hotkey (and coldkey)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Create a wallet with an unencrypted coldkey and hotkey (devnet/test use; no mnemonic shown).

    An existing coldkey of the same name is kept, so repeated calls add hotkeys to one wallet.
    """
    _print(create_wallet(name, hotkey, path, overwrite=overwrite), as_json)


@app.command("show")
@handle_errors
def show(
    name: str = NameOption,
    hotkey: str = HotkeyOption,
    path: Path = PathOption,
    as_json: bool = JsonOption,
) -> None:
    """Print a wallet's coldkey and hotkey ss58 addresses (reads public files only)."""
    _print(show_wallet(name, hotkey, path), as_json)
