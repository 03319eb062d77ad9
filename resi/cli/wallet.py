"""`resi wallet`: create test/devnet wallets without prompts."""

from __future__ import annotations

import typer

from resi.cli.common import handle_errors, not_available

app = typer.Typer(help="Create and inspect btcli-style wallets (never prompts).", no_args_is_help=True)


@app.command("create")
@handle_errors
def create() -> None:
    """Not available yet."""
    raise not_available("wallet create")
