"""`resi s3-check`: does YOUR bucket enforce what resi's upload grants rely on? (a table).

Uses the API's S3 settings (``--s3-endpoint``, ``--s3-bucket``, ``RESI_S3_*``, the AWS chain),
writes only under ``health/grant-check-*/`` and deletes it. Exit 0 only if every row matches what
a safe store does (``resi.s3.grantcheck``).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from resi.cli.common import (
    ConfigOption,
    JsonOption,
    SetOption,
    console,
    handle_errors,
    run_async,
    settings_from,
)

if TYPE_CHECKING:
    from resi.config import S3Settings
    from resi.s3.grantcheck import GrantCheck


async def _run(settings: S3Settings) -> list[GrantCheck]:
    import httpx

    from resi.s3.grantcheck import check_grants
    from resi.s3.issuer import S3Issuer

    async with (
        S3Issuer.from_settings(settings, max_attempts=1) as issuer,
        httpx.AsyncClient(timeout=20, trust_env=False) as http,
    ):
        return list(await check_grants(issuer, http))


@handle_errors
def command(
    s3_endpoint: str = typer.Option(None, "--s3-endpoint", help="S3 endpoint (unset: AWS)."),
    s3_bucket: str = typer.Option(None, "--s3-bucket", help="Bucket to check."),
    as_json: bool = JsonOption,
    config: Path = ConfigOption,
    sets: list[str] = SetOption,
) -> None:
    """Try the operations grants must forbid on the configured bucket; print what it did."""
    from rich.table import Table

    from resi.config import S3Settings

    flags = {"s3_endpoint": s3_endpoint, "s3_bucket": s3_bucket}
    settings = settings_from(S3Settings, flags, config, sets)
    rows: list[GrantCheck] = run_async(_run, settings)
    if as_json:
        typer.echo(json.dumps([{**asdict(r), "passed": r.passed} for r in rows], indent=2))
    else:
        table = Table(title=f"grant enforcement on {settings.s3_endpoint or 'AWS S3'}")
        for col in ("operation", "safe store", "this store", ""):
            table.add_column(col)
        for r in rows:
            mark = "[green]ok[/]" if r.passed else "[red]UNSAFE[/]"
            table.add_row(r.name, r.want, r.got, mark)
        console.print(table)
    if not all(r.passed for r in rows):
        raise typer.Exit(1)
