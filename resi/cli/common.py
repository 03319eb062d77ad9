"""Shared plumbing for the typer commands: settings loading, error rendering, running async code."""

from __future__ import annotations

import functools
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import anyio
import typer
from rich.console import Console

from resi.errors import ConfigError, ResiError

P = ParamSpec("P")
T = TypeVar("T")

console = Console(stderr=False)
err_console = Console(stderr=True)

ConfigOption = typer.Option(None, "--config", help="TOML file with settings (lowest precedence).")
SetOption = typer.Option(
    None, "--set", help="Any setting as KEY=VALUE (repeatable); see docs/configuration.md."
)
# The options of the commands that act as a hotkey against the API and a listing source (mine,
# validate, spot-check, replay-epoch); `client_flags` maps them onto the settings fields.
# Wallet and chain options use the bittensor names (btcli, pm2 scripts of every subnet); the
# older resi names stay as aliases.
WalletOption = typer.Option(None, "--wallet.name", "--wallet", help="Wallet (coldkey) name.")
HotkeyOption = typer.Option(None, "--wallet.hotkey", "--hotkey", help="Hotkey name in the wallet.")
WalletPathOption = typer.Option(
    None, "--wallet.path", "--wallet-path", help="Directory holding wallets."
)
NetworkOption = typer.Option(
    None,
    "--subtensor.network",
    "--network",
    help="Chain: finney, test, local, devnet (local file chain) or a ws(s):// endpoint.",
)
ChainEndpointOption = typer.Option(
    None,
    "--subtensor.chain_endpoint",
    help="ws(s):// endpoint of a subtensor node (overrides --subtensor.network).",
)
NetuidOption = typer.Option(None, "--netuid", help="Subnet uid.")
ApiUrlOption = typer.Option(None, "--api-url", help="Base URL of the resi API.")
SourceOption = typer.Option(None, "--source", help="Listing source: zillow or sim.")
SimUrlOption = typer.Option(None, "--sim-url", help="Simulated market URL (--source sim).")
JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON.")


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one clear error line and return the Exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def handle_errors(fn: Callable[P, T]) -> Callable[P, T]:
    """Render ResiError as one line (exit 2 for config errors, 1 otherwise); Ctrl-C exits 130."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:
            raise fail(str(exc), code=2) from None
        except ResiError as exc:
            raise fail(str(exc), code=1) from None
        except KeyboardInterrupt:
            err_console.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper


def client_flags(
    wallet: str | None,
    hotkey: str | None,
    wallet_path: Path | None,
    api_url: str | None,
    source: str | None,
    sim_url: str | None,
    network: str | None = None,
    netuid: int | None = None,
    chain_endpoint: str | None = None,
) -> dict[str, Any]:
    """The settings of the shared wallet, chain, API and source options (``None`` = not given).

    ``--subtensor.chain_endpoint`` wins over ``--subtensor.network`` (as in bittensor): the
    ``network`` setting accepts a ``ws(s)://`` endpoint.
    """
    return {
        "wallet_name": wallet,
        "wallet_hotkey": hotkey,
        "wallet_path": wallet_path,
        "api_url": api_url,
        "source": source,
        "sim_url": sim_url,
        **chain_flags(network, netuid, chain_endpoint),
    }


def chain_flags(
    network: str | None, netuid: int | None, chain_endpoint: str | None
) -> dict[str, Any]:
    """The ``network``/``netuid`` settings from the bittensor chain options.

    Raises ``ConfigError`` when ``--subtensor.chain_endpoint`` is not a ``ws(s)://`` URL or is
    combined with ``--subtensor.network devnet`` (the devnet chain is a local file).
    """
    if chain_endpoint is not None:
        if not chain_endpoint.startswith(("ws://", "wss://")):
            raise ConfigError(
                f"--subtensor.chain_endpoint must be a ws:// or wss:// URL, got {chain_endpoint!r}"
            )
        if network == "devnet":
            raise ConfigError(
                "--subtensor.chain_endpoint cannot be combined with --subtensor.network devnet "
                "(the devnet chain is a local file)"
            )
        network = chain_endpoint
    return {"network": network, "netuid": netuid}


def settings_from(
    cls: type[T], flags: dict[str, Any], config: Path | None, sets: list[str] | None
) -> T:
    """Load a role's settings: explicit flags and ``--set`` pairs over env, file and defaults."""
    # Imported here: pydantic and the settings classes are not needed to parse `resi --help`.
    from resi.config import load_settings, parse_set_options

    merged = parse_set_options(sets)
    merged.update({k: v for k, v in flags.items() if v is not None})
    return load_settings(cls, merged, config_file=config)  # type: ignore[type-var]


def run_async(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run one async entry point on a fresh event loop (one loop per process).

    The result is handed out through a box, not as the main task's result: on the way out,
    Python 3.11's ``asyncio.Runner`` formats the repr of a handler bound to the main task, and
    with it the full repr of that task's result (an epoch's result: hundreds of MB and seconds
    at 250 miners) only to truncate it.
    """
    box: list[T] = []

    async def main() -> None:
        box.append(await fn(*args))

    anyio.run(main)
    return box[0]


def not_available(command: str) -> typer.Exit:
    """Exit non-zero for a command whose implementation has not landed yet."""
    return fail(f"`resi {command}` is not available yet", code=3)


def stdout_is_tty() -> bool:
    return sys.stdout.isatty()


def check_network(settings: Any) -> None:
    """Refuse a chain/API/S3 combination that looks like a mistake (``ConfigError``).

    Called at startup by the commands that act on a chain (mine, validate, spot-check, replay).
    """
    from resi.config import network_mismatch

    problem = network_mismatch(settings)
    if problem is not None:
        raise ConfigError(problem)
