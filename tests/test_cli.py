"""The `resi` command surface: subcommands, version, and the wallet commands."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from resi import __version__
from resi.cli.app import app
from resi.wallet import WalletInfo, load_keypair

SUBCOMMANDS = ("serve-api", "mine", "validate", "spot-check", "replay-epoch", "health", "devnet")


def test_help_lists_the_seven_subcommands() -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for name in SUBCOMMANDS:
        assert f" {name} " in result.stdout, name


# Loaded only by the commands that need them; `resi --help` and `resi --version` stay fast.
HEAVY_MODULES = (
    "pydantic",
    "pyarrow",
    "httpx",
    "aiohttp",
    "bittensor",
    "aioboto3",
    "resi.config",
    "resi.scrape.miner",
    "resi.validate",
    "resi.score",
    "resi.epoch.catalog",
    "resi.epoch.store",
    "rich.progress",
    "rich.table",
)


def test_loading_the_cli_imports_no_heavy_module() -> None:
    # A fresh interpreter: this test process has long imported all of them.
    code = (
        "import sys, resi.cli.app; "
        f"print(' '.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.split() == []


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"resi {__version__}"


def test_wallet_create_then_show(tmp_path: Path) -> None:
    runner = CliRunner()
    created = runner.invoke(
        app,
        ["wallet", "create", "--name", "v1", "--hotkey", "hk", "--path", str(tmp_path), "--json"],
    )
    assert created.exit_code == 0, created.output
    info = json.loads(created.stdout)
    # The mnemonic must never reach stdout: the only output is the JSON line.
    assert len(created.stdout.strip().splitlines()) == 1
    assert load_keypair("v1", "hk", tmp_path).ss58_address == info["hotkey_ss58"]

    shown = runner.invoke(
        app, ["wallet", "show", "--name", "v1", "--hotkey", "hk", "--path", str(tmp_path)]
    )
    assert shown.exit_code == 0
    assert info["coldkey_ss58"] in shown.stdout and info["hotkey_ss58"] in shown.stdout


def test_wallet_create_refuses_to_overwrite(wallets: Callable[[int], list[WalletInfo]]) -> None:
    (w,) = wallets(1)
    args = ["wallet", "create", "--name", w.name, "--hotkey", w.hotkey, "--path", str(w.path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert "already exists" in result.output
    assert load_keypair(w.name, w.hotkey, w.path).ss58_address == w.hotkey_ss58


def test_wallet_show_missing_is_one_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["wallet", "show", "--name", "nope", "--path", str(tmp_path)])
    assert result.exit_code == 1
    assert "error:" in result.output and "Traceback" not in result.output
