"""The `resi` command: one typer app; each subcommand lives in its own module and stays thin."""

from __future__ import annotations

import typer

from resi import __version__
from resi.cli import (
    admin,
    catalog,
    config_cmd,
    devnet,
    health,
    mine,
    replay,
    report,
    s3_check,
    serve_api,
    sim_market,
    spot_check,
    validate,
    wallet,
)

app = typer.Typer(
    name="resi",
    help="Run the resi real-estate data subnet: API, miner, validator and a local devnet.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"resi {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """resi: US real-estate listings subnet toolkit."""


app.command("serve-api")(serve_api.command)
app.command("mine")(mine.command)
app.command("validate")(validate.command)
app.command("spot-check")(spot_check.command)
app.command("replay-epoch")(replay.command)
app.command("health")(health.command)
app.command("report")(report.command)
app.command("s3-check")(s3_check.command)
app.command("devnet")(devnet.command)
app.command("sim-market")(sim_market.command)
app.add_typer(wallet.app, name="wallet")
app.add_typer(config_cmd.app, name="config", hidden=True)
app.add_typer(catalog.app, name="catalog")
app.add_typer(admin.app, name="admin")


def main() -> None:
    """Console-script entry point."""
    app()
