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
WalletOption = typer.Option(None, "--wallet", help="Wallet (coldkey) name.")
HotkeyOption = typer.Option(None, "--hotkey", help="Hotkey name inside the wallet.")
WalletPathOption = typer.Option(None, "--wallet-path", help="Directory holding wallets.")
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
) -> dict[str, Any]:
    """The settings given by the shared wallet, API and source options (``None`` = not given)."""
    return {
        "wallet_name": wallet,
        "wallet_hotkey": hotkey,
        "wallet_path": wallet_path,
        "api_url": api_url,
        "source": source,
        "sim_url": sim_url,
    }


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
    """Run one async entry point on a fresh event loop (one loop per process)."""
    return anyio.run(fn, *args)


def not_available(command: str) -> typer.Exit:
    """Exit non-zero for a command whose implementation has not landed yet."""
    return fail(f"`resi {command}` is not available yet", code=3)


def stdout_is_tty() -> bool:
    return sys.stdout.isatty()
