"""`resi catalog import|show`: load a zipcode catalog into the store and inspect it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import typer

from resi.cli.common import console, err_console, handle_errors, run_async

if TYPE_CHECKING:
    from resi.epoch.models import ZipcodeInfo

app = typer.Typer(help="Zipcode catalog: import expected listing counts, show rows.")

DbOption = typer.Option("sqlite:///resi.db", "--db", envvar="RESI_DB_URL", help="Database URL.")


@app.command("import")
@handle_errors
def import_(
    path: Path = typer.Argument(..., help="CSV file to import."),
    fmt: str = typer.Option("plain", "--format", help="`plain` or `realtor` (Realtor.com CSV)."),
    strict: bool = typer.Option(
        False,
        "--strict",
        help="Realtor.com CSV: fail the whole import on any unusable row (default: skip it).",
    ),
    db: str = DbOption,
) -> None:
    """Replace the stored catalog with the built-in one updated from PATH.

    Realtor.com rows are judged one by one: a blank optional value (median price) imports as
    unknown; an unusable row is reported with its line number and skipped, or with --strict
    fails the import (nothing stored). Plain CSVs are all or nothing.
    """
    # The catalog and the store drivers are heavy: imported when the command runs.
    from resi.epoch.catalog import (
        builtin_catalog,
        import_realtor_csv,
        inventory_beliefs,
        parse_plain_csv,
    )
    from resi.epoch.store import open_store

    async def run() -> None:
        base = await anyio.to_thread.run_sync(builtin_catalog)
        note = ""
        empty: set[str] = set()
        if fmt == "realtor":
            result = await anyio.to_thread.run_sync(
                lambda: import_realtor_csv(path, base, strict=strict)
            )
            # Zero inventory → believed empty (honeypot material), served count kept: issue 14.
            empty, rows = inventory_beliefs(base, result.catalog)
            for bad in result.bad_rows:
                err_console.print(f"line {bad.line}: {bad.problem} (skipped)", highlight=False)
            zero = sum(1 for r in result.applied.values() if r.active_listing_count == 0)
            note = (
                f" ({len(result.applied)} from the file, {zero} with no listings, "
                f"{len(result.bad_rows)} bad rows skipped, "
                f"{len(result.unknown_zipcodes)} unknown zipcodes skipped)"
            )
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
        console.print(f"stored {n} zipcodes{note}", highlight=False)

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
