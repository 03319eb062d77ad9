"""`resi health`: one-stop check of API, database, object store, chain and listing source.

A part is *required* when it was configured (by flag, ``--set``, ``RESI_*`` env var or config
file); unconfigured parts are skipped. Every probe runs concurrently under its own time bound and
never changes anything: the database is not migrated, a missing SQLite or devnet chain file is
reported instead of created (the object-store probe writes and deletes one object under
``health/``, which is how it proves the credentials can write). Exit 0 only if every required
part is up, 1 otherwise, 2 for bad options or nothing to check.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import typer

from resi.cli.common import (
    ChainEndpointOption,
    ConfigOption,
    JsonOption,
    SetOption,
    SimUrlOption,
    chain_flags,
    console,
    handle_errors,
    run_async,
    settings_from,
)
from resi.errors import ApiError, ChainError, ConfigError, StorageError, StoreError

if TYPE_CHECKING:
    # Each probe imports its own client (httpx, aioboto3, the store, the chain) when it runs.
    from rich.table import Table

    from resi.config import HealthSettings

ZILLOW_URL = "https://www.zillow.com/"


# Which settings make a part "configured" (and therefore required).
PART_TRIGGERS: dict[str, tuple[str, ...]] = {
    "api": ("api_url",),
    "database": ("db_url",),
    "object store": ("s3_endpoint", "s3_bucket"),
    "chain": ("network", "netuid", "devnet_chain_path"),
    "listing source": ("source", "sim_url"),
}


@dataclass(frozen=True)
class PartResult:
    """One row of the report. ``name`` like ``database`` or ``api: object store``."""

    name: str
    required: bool
    ok: bool
    detail: str


@dataclass(frozen=True)
class HealthReport:
    parts: list[PartResult]

    @property
    def ok(self) -> bool:
        """True when every required part is up (optional parts may be down)."""
        return all(p.ok for p in self.parts if p.required)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "parts": [asdict(p) for p in self.parts]}


# --------------------------------------------------------------------------- probes
# Each probe returns ``(ok, detail, sub-parts)`` and reports failures instead of raising them.

Probe = tuple[bool, str, list[PartResult]]


async def probe_api(settings: HealthSettings) -> Probe:
    """GET /health of the API; its own parts become ``api: <part>`` rows."""
    from resi.api.client import ApiClient

    try:
        async with ApiClient(
            settings.api_url, None, timeout=settings.http_timeout, attempts=1
        ) as client:
            health = await client.health()
    except ApiError as exc:
        return False, f"{settings.api_url}: {exc.message}", []
    subs = [PartResult(f"api: {p.name}", p.required, p.ok, p.detail) for p in health.parts]
    down = [p.name for p in health.parts if p.required and not p.ok]
    detail = f"{settings.api_url} " + ("up" if health.ok else f"degraded: {', '.join(down)} down")
    return health.ok, detail, subs


async def _open_store_without_migrating(url: str) -> Any:
    # open_store() would apply pending migrations; a health check must never change the schema
    # (an operator probing a new release against the old database would upgrade it by accident).
    from resi.epoch.store.drivers import PostgresDriver, SqliteDriver
    from resi.epoch.store.sql import SqlStore

    if url.startswith("sqlite:///"):
        path = await anyio.Path(url[len("sqlite:///") :]).expanduser()
        if not await path.is_file():
            raise StoreError(f"no SQLite database at {path}")
        return SqlStore(await SqliteDriver.open(str(path)))
    if url.startswith(("postgresql://", "postgres://")):
        return SqlStore(await PostgresDriver.open(url, min_size=1, max_size=1))
    raise StoreError("database URL must start with sqlite:/// or postgresql://")


async def probe_database(settings: HealthSettings) -> Probe:
    """Connect, ``ping()``, and compare the schema version with this release's."""
    from resi.epoch.store.migrations import LATEST

    try:
        store = await _open_store_without_migrating(settings.db_url)
    except StoreError as exc:
        return False, str(exc), []
    try:
        await store.ping()
        try:
            version = await store.schema_version()
        except StoreError:
            return True, f"{store.backend} reachable; no resi schema yet (serve-api creates it)", []
    except StoreError as exc:
        return False, str(exc), []
    finally:
        await store.close()
    if version > LATEST:
        return False, f"schema v{version} is newer than this resi (v{LATEST}): upgrade resi", []
    if version < LATEST:
        return (
            True,
            f"{store.backend} up; schema v{version}, serve-api will migrate to v{LATEST}",
            [],
        )
    return True, f"{store.backend} up, schema v{version}", []


async def probe_object_store(settings: HealthSettings) -> Probe:
    """Bucket exists and a probe object round-trips (``resi.s3.health.check_object_store``)."""
    from resi.s3.health import check_object_store
    from resi.s3.issuer import S3Issuer

    try:
        # One attempt: a health check should answer now, not after botocore's retries.
        issuer = S3Issuer.from_settings(settings, timeout=settings.http_timeout, max_attempts=1)
        async with issuer:
            ok, detail = await check_object_store(issuer)
    except StorageError as exc:
        return False, str(exc), []
    return ok, detail, []


async def probe_chain(settings: HealthSettings) -> Probe:
    """A metagraph snapshot of ``--netuid`` (``resi.chain.check_chain``)."""
    from resi.chain import check_chain, open_chain

    if settings.network == "devnet":
        path = await anyio.Path(settings.devnet_chain_path).expanduser()
        if not await path.is_file():
            return False, f"no devnet chain file at {path} (start `resi devnet` first)", []
    try:
        chain = open_chain(settings)
        try:
            ok, detail = await check_chain(chain)
        finally:
            await chain.close()
    except ChainError as exc:
        return False, str(exc), []
    return ok, f"{settings.network}: {detail}", []


async def probe_source(settings: HealthSettings) -> Probe:
    """An HTTP GET of the listing site (the simulated market's ``/health``, or Zillow's home)."""
    import httpx

    url = f"{settings.sim_url.rstrip('/')}/health" if settings.source == "sim" else ZILLOW_URL
    try:
        async with httpx.AsyncClient(timeout=settings.http_timeout) as http:
            response = await http.get(url)
    except httpx.HTTPError as exc:
        return False, f"{url} unreachable ({type(exc).__name__})", []
    status = response.status_code
    if status in (403, 429):
        return False, f"{url} reachable but blocking (HTTP {status}); configure proxies", []
    if status >= 400:
        return False, f"{url} answered HTTP {status}", []
    return True, f"{settings.source} at {url}: HTTP {status}", []


PROBES: dict[str, Callable[[HealthSettings], Awaitable[Probe]]] = {
    "api": probe_api,
    "database": probe_database,
    "object store": probe_object_store,
    "chain": probe_chain,
    "listing source": probe_source,
}


def configured_parts(settings: HealthSettings) -> list[str]:
    """Parts whose settings were given explicitly (flag, env var or file), in report order."""
    given = settings.model_fields_set
    return [name for name, fields in PART_TRIGGERS.items() if given.intersection(fields)]


async def run_checks(
    settings: HealthSettings, parts: list[str], part_timeout: float
) -> HealthReport:
    """Probe ``parts`` concurrently, each bounded by ``part_timeout`` s; all are required."""
    results: dict[str, list[PartResult]] = {}

    async def one(name: str) -> None:
        with anyio.move_on_after(part_timeout) as scope:
            ok, detail, subs = await PROBES[name](settings)
        if scope.cancelled_caught:
            ok, detail, subs = False, f"no answer within {part_timeout:g} s", []
        results[name] = [PartResult(name, True, ok, detail), *subs]

    async with anyio.create_task_group() as tg:
        for name in parts:
            tg.start_soon(one, name)
    return HealthReport([row for name in parts for row in results[name]])


# --------------------------------------------------------------------------- CLI


def render(report: HealthReport) -> Table:
    """The rich table: part, required?, ok, detail."""
    from rich.table import Table

    table = Table(title="resi health", title_justify="left")
    table.add_column("part")
    table.add_column("required")
    table.add_column("ok")
    table.add_column("detail", overflow="fold")
    for part in report.parts:
        mark = (
            "[green]up[/]" if part.ok else ("[red]DOWN[/]" if part.required else "[yellow]down[/]")
        )
        table.add_row(part.name, "yes" if part.required else "no", mark, part.detail)
    return table


@handle_errors
def command(
    api_url: str = typer.Option(None, "--api-url", help="Check the API's GET /health."),
    db: str = typer.Option(None, "--db", help="Check the database (sqlite:/// or postgresql://)."),
    s3_endpoint: str = typer.Option(None, "--s3-endpoint", help="Check this S3 endpoint."),
    s3_bucket: str = typer.Option(None, "--s3-bucket", help="Bucket to check (probe object)."),
    network: str = typer.Option(
        None, "--subtensor.network", "--network", help="Check the chain (devnet, finney, ...)."
    ),
    chain_endpoint: str = ChainEndpointOption,
    netuid: int = typer.Option(None, "--netuid", help="Subnet uid to look up on the chain."),
    devnet_chain_path: Path = typer.Option(
        None, "--devnet-chain-path", help="Devnet chain file (with --network devnet)."
    ),
    source: str = typer.Option(None, "--source", help="Check the listing site: sim or zillow."),
    sim_url: str = SimUrlOption,
    timeout: float = typer.Option(15.0, "--timeout", help="Seconds allowed for each part."),
    as_json: bool = JsonOption,
    config: Path = ConfigOption,
    sets: list[str] = SetOption,
) -> None:
    """Check every configured part; exit 0 only if all of them are up (1 otherwise)."""
    from resi.config import HealthSettings

    flags = {
        "api_url": api_url,
        "db_url": db,
        "s3_endpoint": s3_endpoint,
        "s3_bucket": s3_bucket,
        **chain_flags(network, netuid, chain_endpoint),
        "devnet_chain_path": devnet_chain_path,
        "source": source,
        "sim_url": sim_url,
    }
    settings = settings_from(HealthSettings, flags, config, sets)
    parts = configured_parts(settings)
    if not parts:
        raise ConfigError(
            "nothing to check: give --api-url, --db, --s3-endpoint/--s3-bucket, "
            "--subtensor.network or --source (or the matching RESI_* variables)"
        )
    report = run_async(run_checks, settings, parts, timeout)
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2))
    else:
        console.print(render(report))
    if not report.ok:
        raise typer.Exit(1)
