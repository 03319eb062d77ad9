"""The `resi` command surface: subcommands, version, and the wallet commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
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


# --------------------------------------------------------------------------- bittensor flags

BITTENSOR_WALLET = ("--wallet.name", "--wallet.hotkey", "--wallet.path")
BITTENSOR_CHAIN = ("--subtensor.network", "--subtensor.chain_endpoint", "--netuid")
# Every command that takes a wallet and/or a chain, and which of the two it takes.
WALLET_OR_CHAIN = {
    ("mine",): BITTENSOR_WALLET + BITTENSOR_CHAIN,
    ("validate",): BITTENSOR_WALLET + BITTENSOR_CHAIN,
    ("spot-check",): BITTENSOR_WALLET + BITTENSOR_CHAIN,
    ("replay-epoch",): BITTENSOR_WALLET + BITTENSOR_CHAIN,
    ("serve-api",): BITTENSOR_WALLET + BITTENSOR_CHAIN,
    ("health",): BITTENSOR_CHAIN,
    ("wallet", "create"): BITTENSOR_WALLET,
    ("wallet", "show"): BITTENSOR_WALLET,
}
# The older resi names that stay as aliases of the bittensor ones.
ALIASES = {
    "--wallet.name": "--wallet",
    "--wallet.hotkey": "--hotkey",
    "--wallet.path": "--wallet-path",
    "--subtensor.network": "--network",
}


def _command(path: tuple[str, ...]) -> Any:
    import typer.main

    cmd: Any = typer.main.get_command(app)
    for name in path:
        cmd = cmd.commands[name]
    return cmd


def _option(cmd: Any, flag: str) -> Any:
    matches = [p for p in cmd.params if flag in p.opts]
    assert len(matches) == 1, (cmd.name, flag)
    return matches[0]


def test_every_wallet_or_chain_command_takes_the_bittensor_flags() -> None:
    for path, flags in WALLET_OR_CHAIN.items():
        cmd = _command(path)
        for flag in flags:
            option = _option(cmd, flag)
            alias = ALIASES.get(flag)
            if alias is not None and path != ("health",):
                # The old name is the same option: both spellings set one parameter.
                assert alias in option.opts, (path, flag)


def _parsed(path: tuple[str, ...], args: list[str]) -> dict[str, Any]:
    cmd = _command(path)
    ctx = cmd.make_context(cmd.name, list(args), resilient_parsing=True)
    return dict(ctx.params)


def test_bittensor_and_old_names_parse_to_the_same_values() -> None:
    new = ["--wallet.name", "w", "--wallet.hotkey", "h", "--wallet.path", "/tmp/wp"]
    old = ["--wallet", "w", "--hotkey", "h", "--wallet-path", "/tmp/wp"]
    for path in (("mine",), ("validate",), ("serve-api",)):
        a = _parsed(path, [*new, "--subtensor.network", "test", "--netuid", "3"])
        b = _parsed(path, [*old, "--network", "test", "--netuid", "3"])
        assert a == b
        assert (a["wallet"], a["hotkey"], str(a["wallet_path"]), a["network"], a["netuid"]) == (
            "w",
            "h",
            "/tmp/wp",
            "test",
            3,
        )
    w = _parsed(("wallet", "show"), ["--wallet.name", "x", "--wallet.path", "/tmp/p"])
    assert (w["name"], str(w["path"])) == ("x", "/tmp/p")
    assert _parsed(("wallet", "show"), ["--name", "x", "--path", "/tmp/p"]) == w


def test_chain_endpoint_wins_over_the_network_name() -> None:
    from resi.cli.common import client_flags

    flags = client_flags(None, None, None, None, None, None, "finney", 7, "wss://node.example:443")
    assert (flags["network"], flags["netuid"]) == ("wss://node.example:443", 7)


def _invoke(args: list[str], tmp_path: Path) -> Any:
    # No RESI_* variable of the test environment may leak in: the defaults are under test.
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("RESI_")}
    return CliRunner().invoke(
        app,
        [*args, "--wallet.name", "nobody", "--wallet.path", str(tmp_path / "wallets")],
        env=env,
    )


def test_mine_and_validate_default_to_finney(tmp_path: Path) -> None:
    from resi.config import ApiServerSettings, MinerSettings, ValidatorSettings, load_settings

    assert load_settings(MinerSettings, {}, env={}).network == "finney"
    assert load_settings(ValidatorSettings, {}, env={}).network == "finney"
    # The API keeps its devnet default (the operator guide's first run).
    assert load_settings(ApiServerSettings, {}, env={}).network == "devnet"
    for command in ("mine", "validate"):
        # Forgetting the network no longer validates into a local file: finney with the
        # default loopback API is refused before anything runs, naming the flag to fix.
        run = _invoke([command, "--once"], tmp_path)
        assert run.exit_code == 2, run.output
        assert "finney (the default)" in run.output and "--api-url" in run.output
        assert "--subtensor.network devnet" in run.output


def test_devnet_only_when_asked(tmp_path: Path) -> None:
    chain = f"devnet_chain_path={tmp_path / 'chain.sqlite'}"
    run = _invoke(["validate", "--once", "--subtensor.network", "devnet", "--set", chain], tmp_path)
    # Past the network check: the next problem is the missing wallet.
    assert run.exit_code == 1 and "not found" in run.output, run.output


def test_network_mismatches_are_startup_errors_naming_the_flag(tmp_path: Path) -> None:
    cases = [
        (["mine", "--subtensor.network", "test"], "--api-url"),
        (["validate", "--network", "finney", "--api-url", "http://localhost:8000"], "--api-url"),
        (
            [
                "validate",
                "--api-url",
                "https://api.example.org",
                "--set",
                "s3_endpoint=http://127.0.0.1:9000",
            ],
            "s3_endpoint",
        ),
        (
            ["validate", "--subtensor.network", "devnet", "--api-url", "https://api.example.org"],
            "--subtensor.network finney",
        ),
        (["spot-check", "--epoch", "e", "--miner", "m", "--zipcode", "00000"], "--api-url"),
    ]
    for args, flag in cases:
        run = _invoke(args, tmp_path)
        assert run.exit_code == 2, (args, run.output)
        assert flag in run.output and "Traceback" not in run.output, (args, run.output)


def test_bad_chain_endpoint_is_a_config_error(tmp_path: Path) -> None:
    run = _invoke(["mine", "--subtensor.chain_endpoint", "http://node:9944"], tmp_path)
    assert run.exit_code == 2 and "ws://" in run.output
    run = _invoke(
        ["mine", "--subtensor.network", "devnet", "--subtensor.chain_endpoint", "ws://x:9944"],
        tmp_path,
    )
    assert run.exit_code == 2 and "devnet" in run.output


_LOOPBACK_HOSTS = st.one_of(
    st.just("localhost"),
    st.just("[::1]"),
    st.just("0.0.0.0"),
    st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(1, 254)).map(
        lambda t: f"127.{t[0]}.{t[1]}.{t[2]}"
    ),
)
_URLS = st.builds(
    lambda scheme, host, port, path: f"{scheme}://{host}{port}{path}",
    st.sampled_from(["http", "https"]),
    _LOOPBACK_HOSTS,
    st.one_of(st.just(""), st.integers(1, 65535).map(lambda p: f":{p}")),
    st.sampled_from(["", "/", "/api"]),
)


@settings(max_examples=60, deadline=None, database=None, derandomize=True)
@given(
    network=st.sampled_from(["finney", "test", "wss://entrypoint-finney.opentensor.ai:443"]),
    url=_URLS,
    where=st.sampled_from(["api_url", "s3_endpoint"]),
)
def test_any_loopback_spelling_with_a_real_network_is_refused(
    network: str, url: str, where: str
) -> None:
    from resi.config import ValidatorSettings, load_settings, network_mismatch

    flags = {"network": network, "api_url": "https://api.example.org", where: url}
    problem = network_mismatch(load_settings(ValidatorSettings, flags, env={}))
    assert problem is not None
    assert ("--api-url" if where == "api_url" else "s3_endpoint") in problem


@settings(max_examples=40, deadline=None, database=None, derandomize=True)
@given(
    network=st.sampled_from(["devnet", "local", "ws://127.0.0.1:9944"]),
    url=_URLS,
)
def test_local_chains_with_local_services_are_fine(network: str, url: str) -> None:
    from resi.config import ValidatorSettings, load_settings, network_mismatch

    flags = {"network": network, "api_url": url, "s3_endpoint": url}
    assert network_mismatch(load_settings(ValidatorSettings, flags, env={})) is None
    # A LAN API (compose) with a real chain is a deployment, not a mistake.
    lan = {"network": "finney", "api_url": "http://192.168.1.10:8000", "s3_endpoint": None}
    assert network_mismatch(load_settings(ValidatorSettings, lan, env={})) is None
