"""How a miner plugs in their own listing source.

A source is any object with ``search(zipcode)``, ``lookup(listing)`` and ``aclose()`` (the
``resi.scrape.source.ListingSource`` protocol). This one reads listings a miner already collects
elsewhere (one CSV per zipcode in a directory) and hands them to the standard miner pipeline,
which writes the Parquet files, uploads them and commits them.

    python examples/custom_source.py --wallet.name miner --wallet.hotkey default \\
        --api-url http://127.0.0.1:8000 --csv-dir ./my-listings --workdir ./miner-state

Spot checks are always done by validators against the real site, so the CSVs must hold what the
site shows (ids, prices, beds/baths, living area, zipcode) or the files will fail tier 3.
"""

from __future__ import annotations

import argparse
import csv
from datetime import UTC, datetime
from pathlib import Path

import anyio

from resi.api.client import ApiClient
from resi.errors import SourceUnavailable
from resi.scrape.listing import Listing
from resi.scrape.miner import Miner
from resi.scrape.source import ListingSource
from resi.wallet import load_keypair


class CsvDirectorySource:
    """Listings from ``{directory}/{zipcode}.csv`` (columns named like ``Listing`` fields)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def search(self, zipcode: str) -> list[Listing]:
        path = self.directory / f"{zipcode}.csv"
        try:
            text = await anyio.Path(path).read_text()
        except FileNotFoundError:
            return []  # we truly have nothing for this zipcode
        except OSError as exc:
            # A read failure is not "no listings": report it so the miner retries later.
            raise SourceUnavailable(f"cannot read {path}: {exc.strerror}") from None
        now = datetime.now(UTC)
        return [_row_to_listing(row, now) for row in csv.DictReader(text.splitlines())]

    async def lookup(self, listing: Listing) -> Listing | None:
        for item in await self.search(listing.zipcode):
            if item.listing_id == listing.listing_id:
                return item
        return None

    async def aclose(self) -> None:
        return None


def _row_to_listing(row: dict[str, str], now: datetime) -> Listing:
    def opt(name: str, kind: type) -> object:
        value = row.get(name, "")
        return kind(value) if value not in ("", None) else None

    return Listing(
        listing_id=row["listing_id"],
        source=row.get("source") or "zillow",
        url=row["url"],
        zipcode=row["zipcode"],
        address=row["address"],
        city=row["city"],
        state=row["state"],
        price=int(row["price"]),
        status=row.get("status") or "FOR_SALE",
        property_type=row.get("property_type") or "SINGLE_FAMILY",
        scraped_at=now,
        bedrooms=opt("bedrooms", int),  # type: ignore[arg-type]
        bathrooms=opt("bathrooms", float),  # type: ignore[arg-type]
        living_area_sqft=opt("living_area_sqft", int),  # type: ignore[arg-type]
        latitude=opt("latitude", float),  # type: ignore[arg-type]
        longitude=opt("longitude", float),  # type: ignore[arg-type]
    )


async def main(args: argparse.Namespace) -> None:
    keypair = load_keypair(args.wallet, args.hotkey, args.wallet_path)
    source: ListingSource = CsvDirectorySource(Path(args.csv_dir))
    async with ApiClient(args.api_url, keypair) as client:
        miner = Miner(client, source, keypair.ss58_address, Path(args.workdir), concurrency=4)
        try:
            outcome = await miner.run_once()
        finally:
            await miner.aclose()
    print(outcome)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--wallet.name", "--wallet", dest="wallet", required=True)
    parser.add_argument("--wallet.hotkey", "--hotkey", dest="hotkey", required=True)
    parser.add_argument(
        "--wallet.path", "--wallet-path", dest="wallet_path", default="~/.bittensor/wallets"
    )
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--csv-dir", required=True)
    parser.add_argument("--workdir", default="./miner-state")
    anyio.run(main, parser.parse_args())
