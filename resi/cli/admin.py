"""`resi admin`: signed operator controls of a running API (owner hotkey required).

`extend-epoch ID --minutes N`, `pause-selection`, `resume-selection` and `list-actions`. Each
request is signed with the wallet's hotkey, which must be in the API's ``owner_hotkeys``; the
API records every action in its audit table (see docs/operator.md, incident runbook).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from resi.cli.common import (
    ApiUrlOption,
    ConfigOption,
    HotkeyOption,
    JsonOption,
    SetOption,
    WalletOption,
    WalletPathOption,
    console,
    handle_errors,
    run_async,
    settings_from,
)

if TYPE_CHECKING:
    from pydantic import BaseModel

    from resi.config import AdminSettings

app = typer.Typer(help="Operator controls of a running API, signed by an owner hotkey.")


def _settings(
    wallet: str | None, hotkey: str | None, wallet_path: Path | None, api_url: str | None,
    config: Path | None, sets: list[str] | None,
) -> AdminSettings:  # fmt: skip
    from resi.config import AdminSettings

    flags: dict[str, Any] = {
        "wallet_name": wallet,
        "wallet_hotkey": hotkey,
        "wallet_path": wallet_path,
        "api_url": api_url,
    }
    return settings_from(AdminSettings, flags, config, sets)


async def _call(
    settings: AdminSettings, method: str, path: str, model: Any, body: BaseModel | None
) -> Any:
    from resi.api.client import ApiClient
    from resi.wallet import load_keypair

    keypair = load_keypair(settings.wallet_name, settings.wallet_hotkey, settings.wallet_path)
    async with ApiClient.from_settings(settings, keypair) as client:
        # Admin actions are not idempotent: never retried automatically.
        return await client._call(method, path, model, body=body, retry=False)


def _show(result: Any, json_out: bool) -> None:
    if json_out:
        print(json.dumps(result.model_dump(mode="json"), sort_keys=True))
        return
    detail = ", ".join(f"{k}={v}" for k, v in sorted(result.detail.items()) if v != "")
    epoch = f" epoch {result.epoch_id}" if result.epoch_id else ""
    console.print(
        f"{result.action}{epoch} by {result.hotkey} at {result.at:%Y-%m-%d %H:%M:%S} UTC"
        + (f" ({detail})" if detail else ""),
        highlight=False,
    )


@app.command("extend-epoch")
@handle_errors
def extend_epoch(
    epoch_id: str = typer.Argument(..., help="Epoch id, e.g. 2025-10-01T16-00-00."),
    minutes: float = typer.Option(..., "--minutes", help="How much later the epoch ends."),
    reason: str = typer.Option("", "--reason", help="Why (stored in the audit table)."),
    wallet: str = WalletOption,
    hotkey: str = HotkeyOption,
    wallet_path: Path = WalletPathOption,
    api_url: str = ApiUrlOption,
    json_out: bool = JsonOption,
    config: Path = ConfigOption,
    sets: list[str] = SetOption,
) -> None:
    """Move an open epoch's end and commit deadline MINUTES later (miners see it at once)."""
    from resi.api import client as paths
    from resi.api.admin_routes import AdminActionOut, ExtendEpochRequest

    settings = _settings(wallet, hotkey, wallet_path, api_url, config, sets)
    body = ExtendEpochRequest(epoch_id=epoch_id, minutes=minutes, reason=reason)
    _show(run_async(_call, settings, "POST", paths.ADMIN_EXTEND, AdminActionOut, body), json_out)


def _selection(kind: str) -> Any:
    @handle_errors
    def command(
        reason: str = typer.Option("", "--reason", help="Why (stored in the audit table)."),
        wallet: str = WalletOption,
        hotkey: str = HotkeyOption,
        wallet_path: Path = WalletPathOption,
        api_url: str = ApiUrlOption,
        json_out: bool = JsonOption,
        config: Path = ConfigOption,
        sets: list[str] = SetOption,
    ) -> None:
        from resi.api import client as paths
        from resi.api.admin_routes import AdminActionOut, SelectionRequest

        settings = _settings(wallet, hotkey, wallet_path, api_url, config, sets)
        path = paths.ADMIN_PAUSE if kind == "pause" else paths.ADMIN_RESUME
        result = run_async(
            _call, settings, "POST", path, AdminActionOut, SelectionRequest(reason=reason)
        )
        _show(result, json_out)

    command.__doc__ = (
        "Stop creating new epochs (running epochs finish; weights keep coming)."
        if kind == "pause"
        else "Create epochs again after a pause."
    )
    return command


app.command("pause-selection")(_selection("pause"))
app.command("resume-selection")(_selection("resume"))


@app.command("list-actions")
@handle_errors
def list_actions(
    wallet: str = WalletOption,
    hotkey: str = HotkeyOption,
    wallet_path: Path = WalletPathOption,
    api_url: str = ApiUrlOption,
    json_out: bool = JsonOption,
    config: Path = ConfigOption,
    sets: list[str] = SetOption,
) -> None:
    """The audit trail of operator actions, newest first, and whether selection is paused."""
    from resi.api import client as paths
    from resi.api.admin_routes import AdminActions

    settings = _settings(wallet, hotkey, wallet_path, api_url, config, sets)
    result = run_async(_call, settings, "GET", paths.ADMIN_ACTIONS, AdminActions, None)
    if json_out:
        print(json.dumps(result.model_dump(mode="json"), sort_keys=True))
        return
    console.print(f"selection paused: {'yes' if result.selection_paused else 'no'}")
    for action in result.actions:
        _show(action, False)
