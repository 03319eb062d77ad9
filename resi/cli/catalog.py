"""`resi catalog import|show`: load a zipcode catalog into the store and inspect it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import typer

from resi.cli.common import console, handle_errors, run_async

if TYPE_CHECKING:
    from resi.epoch.models import ZipcodeInfo

app = typer.Typer(help="Zipcode catalog: import expected listing counts, show rows.")

DbOption = typer.Option("sqlite:///resi.db", "--db", envvar="RESI_DB_URL", help="Database URL.")


@app.command("import")
@handle_errors
def import_(
    path: Path = typer.Argument(..., help="CSV file to import."),
    fmt: str = typer.Option("plain", "--format", help="`plain` or `realtor` (Realtor.com CSV)."),
    db: str = DbOption,
) -> None:
    """Replace the stored catalog with the built-in one updated from PATH (all or nothing)."""
    # The catalog and the store drivers are heavy: imported when the command runs.
    from resi.epoch.catalog import (
        builtin_catalog,
        inventory_beliefs,
        parse_plain_csv,
        parse_realtor_csv,
    )
    from resi.epoch.store import open_store

    async def run() -> None:
        base = await anyio.to_thread.run_sync(builtin_catalog)
        skipped = 0
        empty: set[str] = set()
        if fmt == "realtor":
            rows, skipped = await anyio.to_thread.run_sync(parse_realtor_csv, path, base)
            # Zero inventory → believed empty (honeypot material), served count kept: issue 14.
            empty, rows = inventory_beliefs(base, rows)
        elif fmt == "plain":
            rows = await anyio.to_thread.run_sync(parse_plain_csv, path, base)
        else:
            raise typer.BadParameter("--format must be plain or realtor")
        store = await open_store(db)
        try:
            n = await store.replace_catalog(rows)
            await store.record_empty_beliefs(empty, f"realtor:{path.name}", datetime.now(UTC))
        finally:
            await store.close()
        console.print(f"stored {n} zipcodes ({skipped} unknown zipcodes skipped)")

    run_async(run)


@app.command("show")
@handle_errors
def show(
    zipcodes: list[str] = typer.Argument(None, help="Zipcodes to show (default: first 20)."),
    db: str = DbOption,
) -> None:
    """Show catalog rows (the stored catalog, or the built-in one when none is stored)."""
    from rich.table import Table

    from resi.epoch.catalog import builtin_catalog
    from resi.epoch.store import open_store

    async def run() -> list[ZipcodeInfo]:
        store = await open_store(db)
        try:
            rows = await store.load_catalog()
        finally:
            await store.close()
        return rows or await anyio.to_thread.run_sync(builtin_catalog)

    rows = run_async(run)
    wanted = set(zipcodes or [])
    shown = [z for z in rows if z.zipcode in wanted] if wanted else rows[:20]
    table = Table("zipcode", "state", "city", "type", "expected", "tier", "region")
    for z in shown:
        table.add_row(z.zipcode, z.state, z.city, z.zip_type, str(z.expected_listings),
                      str(z.market_tier), z.region)  # fmt: skip
    console.print(table)
    console.print(f"{len(rows)} zipcodes in catalog")
