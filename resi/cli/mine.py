"""`resi mine`: run the miner (assignment → scrape → upload → commit) with progress or JSON logs."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from resi.cli.common import (
    ApiUrlOption,
    ChainEndpointOption,
    ConfigOption,
    HotkeyOption,
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
from resi.errors import ConfigError
from resi.logs import configure_logging_from

if TYPE_CHECKING:
    # The miner pulls in pyarrow, httpx and the scrapers: imported when `resi mine` runs.
    from resi.config import MinerSettings
    from resi.scrape.miner import EpochOutcome, MinerEvent


@handle_errors
def command(
    wallet: str = WalletOption,
    hotkey: str = HotkeyOption,
    wallet_path: Path = WalletPathOption,
    network: str = NetworkOption,
    chain_endpoint: str = ChainEndpointOption,
    netuid: int = NetuidOption,
    api_url: str = ApiUrlOption,
    source: str = SourceOption,
    sim_url: str = SimUrlOption,
    workdir: Path = typer.Option(None, "--workdir", help="Local state and files (resumable)."),
    proxy: list[str] = typer.Option(None, "--proxy", help="Proxy URL (repeatable, rotated)."),
    proxy_file: Path = typer.Option(None, "--proxy-file", help="File with one proxy URL a line."),
    concurrency: int = typer.Option(None, "--concurrency", help="Zipcodes scraped at once."),
    once: bool = typer.Option(False, "--once", help="Run the current epoch, then exit."),
    json_logs: bool = typer.Option(
        False, "--json", help="JSON log lines instead of progress bars."
    ),
    config: Path = ConfigOption,
    sets: list[str] = SetOption,
) -> None:
    """Mine: scrape every assigned zipcode, upload one Parquet file each and commit it."""
    from resi.config import MinerSettings

    proxies = list(proxy or []) + _read_proxy_file(proxy_file)
    flags: dict[str, Any] = {
        **client_flags(
            wallet, hotkey, wallet_path, api_url, source, sim_url, network, netuid, chain_endpoint
        ),
        "workdir": workdir,
        "proxies": tuple(proxies) if proxies else None,
        "scrape_concurrency": concurrency,
        "log_json": True if json_logs else None,
    }
    settings = settings_from(MinerSettings, flags, config, sets)
    check_network(settings)
    configure_logging_from(settings)
    outcome = run_async(_main, settings, once)
    if once and outcome is not None:
        if settings.log_json:
            _json_line({"event": "outcome", **outcome.__dict__})
        else:
            console.print(
                f"epoch {outcome.epoch_id}: committed {outcome.committed}/{outcome.zipcodes} "
                f"zipcodes, {outcome.listings} listings"
                + (" (deadline reached)" if outcome.deadline_reached else "")
            )


def _read_proxy_file(path: Path | None) -> list[str]:
    if path is None:
        return []
    try:
        lines = path.expanduser().read_text().splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read proxy file {path}: {exc.strerror}") from None
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


async def _main(settings: MinerSettings, once: bool) -> EpochOutcome | None:
    from resi.api.client import ApiClient
    from resi.chain import open_chain
    from resi.scrape.miner import Miner
    from resi.scrape.relay_client import PIN_FILE, RelayFallback, chain_relays
    from resi.scrape.source import open_source
    from resi.wallet import load_keypair

    keypair = load_keypair(settings.wallet_name, settings.wallet_hotkey, settings.wallet_path)
    # The fallback is always on: configured relays, then the validators' axons on the chain
    # (read-only; nothing connects until an outage asks for them).
    chain = open_chain(settings) if settings.relay_discovery else None
    relay = RelayFallback(
        settings.relay_urls,
        keypair,
        settings.api_hotkey,
        discover=chain_relays(chain) if chain is not None else None,
        pin_file=settings.workdir.expanduser() / PIN_FILE,
        timeout=settings.http_timeout,
    )
    source = open_source(
        settings.source,
        sim_url=settings.sim_url,
        proxies=settings.proxies,
        concurrency=max(settings.scrape_concurrency, 8),
        request_delay=settings.request_delay,
    )
    client = ApiClient.from_settings(settings, keypair)
    reporter = _JsonReporter() if settings.log_json else _ProgressReporter()
    miner = Miner(
        client,
        source,
        keypair.ss58_address,
        settings.workdir,
        concurrency=settings.scrape_concurrency,
        on_progress=reporter,
        poll_seconds=settings.poll_seconds,
        relay=relay,
    )
    try:
        with reporter:
            if once:
                return await miner.run_once(wait=True)
            await miner.run_forever()
            return None
    finally:
        await miner.aclose()
        await source.aclose()
        await client.aclose()
        await relay.aclose()
        if chain is not None:
            await chain.close()


def _json_line(data: dict[str, Any]) -> None:
    data = {"ts": datetime.now(UTC).isoformat(), **data}
    sys.stdout.write(json.dumps(data, default=str, separators=(",", ":")) + "\n")
    sys.stdout.flush()


class _JsonReporter:
    """One JSON line per miner event (for daemons and log shippers)."""

    def __enter__(self) -> _JsonReporter:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def __call__(self, event: MinerEvent) -> None:
        _json_line(
            {k: v for k, v in event.__dict__.items() if v not in (None, "", 0)}
            | {"event": event.kind}
        )


class _ProgressReporter:
    """Rich progress bars: zipcodes scraped, uploaded, committed and listings collected."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(
            TextColumn("{task.description:<22}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        self.tasks: dict[str, Any] = {}
        self.listings = 0

    def __enter__(self) -> _ProgressReporter:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def _reset(self, epoch_id: str, total: int) -> None:
        for task in self.tasks.values():
            self.progress.remove_task(task)
        self.listings = 0
        self.tasks = {
            "scraped": self.progress.add_task(f"{epoch_id} scraped", total=total),
            "uploaded": self.progress.add_task("uploaded", total=total),
            "committed": self.progress.add_task("committed", total=total),
            "listings": self.progress.add_task("listings", total=None),
        }

    def __call__(self, event: MinerEvent) -> None:
        if event.kind == "epoch_started" and event.epoch_id:
            self._reset(event.epoch_id, event.zipcodes_total)
        elif event.kind == "zipcode_scraped" and self.tasks:
            self.listings += event.listings
            self.progress.advance(self.tasks["scraped"])
            self.progress.update(self.tasks["listings"], completed=self.listings)
        elif event.kind == "zipcode_uploaded" and self.tasks:
            self.progress.advance(self.tasks["uploaded"])
        elif event.kind == "zipcode_committed" and self.tasks:
            self.progress.advance(self.tasks["committed"])
        elif event.kind in ("zipcode_failed", "api_unavailable", "waiting"):
            self.progress.console.print(
                f"[yellow]{event.kind}[/] {event.zipcode or ''} {event.detail}", highlight=False
            )
        elif event.kind == "epoch_finished":
            self.progress.console.print(f"epoch {event.epoch_id} finished: {event.detail}")
