"""`resi health` against real servers: all up → exit 0; a down required part → exit 1."""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import pytest
from typer.testing import CliRunner

from resi.cli.app import app
from resi.s3.local import LocalS3
from tests.fixtures.api import ApiServer
from tests.fixtures.market import RunningMarket

runner = CliRunner()
RESI = Path(sys.executable).parent / "resi"


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def s3_env(local_s3: LocalS3) -> dict[str, str]:
    return {
        "RESI_S3_ACCESS_KEY": local_s3.access_key,
        "RESI_S3_SECRET_KEY": local_s3.secret_key,
        "RESI_S3_REGION": local_s3.region,
    }


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without RESI_* settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESI_")}
    env.update(extra)
    return env


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {part["name"]: part for part in report["parts"]}


def full_args(server: ApiServer, local_s3: LocalS3, market: RunningMarket) -> list[str]:
    return [
        "health",
        "--api-url",
        server.base_url,
        "--db",
        server.settings.db_url,
        "--s3-endpoint",
        local_s3.endpoint,
        "--s3-bucket",
        local_s3.bucket,
        "--network",
        "devnet",
        "--netuid",
        "46",
        "--devnet-chain-path",
        str(server.settings.devnet_chain_path),
        "--set",
        f"block_time={server.settings.block_time}",
        "--source",
        "sim",
        "--sim-url",
        market.url,
        "--json",
    ]


async def run_resi(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    # A separate process: the in-process API fixture keeps serving on this event loop meanwhile.
    result = await anyio.run_process([str(RESI), *args], env=env, check=False)
    return result.returncode, result.stdout.decode(), result.stderr.decode()


@pytest.mark.anyio
async def test_every_part_up_exits_zero_and_lists_the_apis_own_parts(
    api_server: ApiServer, local_s3: LocalS3, sim_market: RunningMarket
) -> None:
    # The fixture's API runs no background epoch manager; record one successful pass.
    api_server.state.manager_ok_at = api_server.state.now()
    code, out, err = await run_resi(
        full_args(api_server, local_s3, sim_market), clean_env(**s3_env(local_s3))
    )
    assert code == 0, out + err
    report = json.loads(out)
    parts = by_name(report)
    assert report["ok"] is True
    for name in ("api", "database", "object store", "chain", "listing source"):
        assert parts[name]["ok"] is True, parts[name]
        assert parts[name]["required"] is True
    assert any(name.startswith("api: ") for name in parts)
    assert "46" in parts["chain"]["detail"]


@pytest.mark.anyio
async def test_api_with_a_required_part_of_its_own_down_is_down(
    api_factory: Any, sqlite_url: str
) -> None:
    """The fixture's epoch manager never ran, so the API itself reports 503 (degraded)."""
    async with api_factory(sqlite_url) as server:
        code, out, err = await run_resi(
            ["health", "--api-url", server.base_url, "--json"], clean_env()
        )
    assert code == 1, out + err
    parts = by_name(json.loads(out))
    assert parts["api"]["ok"] is False
    assert "epoch_manager" in parts["api"]["detail"]
    assert parts["api: epoch_manager"]["ok"] is False
    assert parts["api: database"]["ok"] is True


def test_s3_on_a_closed_port_fails_with_object_store_down(local_s3: LocalS3) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    args = ["health", "--s3-endpoint", endpoint, "--s3-bucket", "resi-test", "--json"]
    result = runner.invoke(app, args, env=clean_env(**s3_env(local_s3)))
    assert result.exit_code == 1, result.output
    (part,) = json.loads(result.stdout)["parts"]
    assert part["name"] == "object store"
    assert part["ok"] is False
    assert "unreachable" in part["detail"]


def test_s3_without_the_bucket_is_down(local_s3: LocalS3) -> None:
    args = ["health", "--s3-endpoint", local_s3.endpoint, "--s3-bucket", "no-such-bucket", "--json"]
    result = runner.invoke(app, args, env=clean_env(**s3_env(local_s3)))
    assert result.exit_code == 1, result.output
    assert "does not exist" in json.loads(result.stdout)["parts"][0]["detail"]


def test_database_on_a_closed_port_is_down_and_exit_is_one() -> None:
    url = f"postgresql://postgres@127.0.0.1:{closed_port()}/resi"
    result = runner.invoke(app, ["health", "--db", url, "--json"], env=clean_env())
    assert result.exit_code == 1, result.output
    (part,) = json.loads(result.stdout)["parts"]
    assert part["name"] == "database"
    assert part["ok"] is False
    assert part["required"] is True


def test_api_on_a_closed_port_shows_a_table_with_the_part_down() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    result = runner.invoke(app, ["health", "--api-url", url], env=clean_env(COLUMNS="200"))
    assert result.exit_code == 1
    assert "api" in result.stdout
    assert "DOWN" in result.stdout


def test_health_never_creates_a_missing_sqlite_database(tmp_path: Path) -> None:
    """Regression: probing a wrong path must not leave an empty database behind."""
    path = tmp_path / "missing.db"
    result = runner.invoke(app, ["health", "--db", f"sqlite:///{path}", "--json"], env=clean_env())
    assert result.exit_code == 1
    assert "no SQLite database" in json.loads(result.stdout)["parts"][0]["detail"]
    assert not path.exists()


def test_health_does_not_migrate_the_database(postgres_url: str) -> None:
    """Upgrades migrate when serve-api starts, never because someone ran a health check."""
    result = runner.invoke(app, ["health", "--db", postgres_url, "--json"], env=clean_env())
    assert result.exit_code == 0, result.output
    assert "no resi schema" in json.loads(result.stdout)["parts"][0]["detail"]

    async def tables() -> list[str]:
        conn = await asyncpg.connect(postgres_url)
        try:
            rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        finally:
            await conn.close()
        return [r["tablename"] for r in rows]

    assert anyio.run(tables) == []


def test_missing_devnet_chain_file_is_down_not_created(tmp_path: Path) -> None:
    path = tmp_path / "chain.sqlite"
    args = ["health", "--network", "devnet", "--devnet-chain-path", str(path), "--json"]
    result = runner.invoke(app, args, env=clean_env())
    assert result.exit_code == 1
    assert json.loads(result.stdout)["parts"][0]["name"] == "chain"
    assert not path.exists()


def test_configured_by_env_var_counts_as_required() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    result = runner.invoke(app, ["health", "--json"], env=clean_env(RESI_API_URL=url))
    assert result.exit_code == 1
    assert json.loads(result.stdout)["parts"][0]["name"] == "api"


def test_nothing_configured_is_a_usage_error() -> None:
    result = runner.invoke(app, ["health"], env=clean_env())
    assert result.exit_code == 2
