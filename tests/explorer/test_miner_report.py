"""`resi report` and its signed route: a miner sees its own verdicts and spot rows only."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from typer.testing import CliRunner

from resi.api.schemas import MinerZipcodeSummary
from resi.cli.app import app
from resi.errors import ApiError
from resi.score.models import Reason
from resi.wallet import create_wallet
from tests.explorer.helpers import add_commits, make_summary, post_summary
from tests.fixtures.api import ApiServer

pytestmark = pytest.mark.anyio
DOC = Path(__file__).resolve().parents[2] / "docs" / "miner.md"


async def test_route_returns_only_the_callers_rows(api_server: ApiServer) -> None:
    server = api_server
    done = server.epochs.completed
    await add_commits(server, done)
    await post_summary(server, done)
    async with server.client(server.keys.miner2) as api:
        report = await api.miner_report(done.epoch_id)
        latest = await api.miner_report()
    assert latest == report
    assert report.miner == server.keys.miner2.ss58_address
    assert {z.zipcode for z in report.zipcodes} == {"10001", "00501"}
    mismatch = next(z for z in report.zipcodes if z.zipcode == "10001")
    assert mismatch.reasons == ["T3_MISMATCH"] and mismatch.spot is not None
    assert mismatch.spot[0].claimed["price"] == 500000
    assert mismatch.spot[0].observed is not None and mismatch.spot[0].observed["price"] == 650000
    assert report.scores == {server.keys.validator.ss58_address: "0.000000000"}
    assert server.keys.miner.ss58_address not in report.model_dump_json()


async def test_route_refuses_running_epochs_and_unsigned_callers(api_server: ApiServer) -> None:
    async with api_server.client(api_server.keys.miner) as api:
        with pytest.raises(ApiError) as err:
            await api.miner_report(api_server.epochs.active.epoch_id)
        assert (err.value.status, err.value.code) == (409, "EPOCH_NOT_COMPLETED")
        with pytest.raises(ApiError) as err:
            await api.miner_report()
        assert err.value.status == 404
    async with api_server.client(None) as api:
        with pytest.raises(ApiError) as err:
            await api.miner_report(api_server.epochs.completed.epoch_id)
        assert err.value.status == 401


async def test_cli_prints_ranks_reasons_and_spot_rows(
    api_server: ApiServer, tmp_path: Path
) -> None:
    server = api_server
    done = server.epochs.completed
    info = create_wallet("m", "h", tmp_path / "wallets")
    server.chain.register(info.hotkey_ss58, info.coldkey_ss58, 10.0, False)
    await server.refresh_metagraph()
    digest, summary = make_summary(
        done, server.keys.miner.ss58_address, server.keys.miner2.ss58_address
    )
    miners = dict(summary.miners)
    miners[info.hotkey_ss58] = [
        MinerZipcodeSummary(zipcode="94110", reasons=["T1_TOO_FEW"]),
        miners[server.keys.miner2.ss58_address][0],
    ]
    await post_summary(server, done, summary.model_copy(update={"miners": miners}), digest)
    args = ["report", "--wallet", "m", "--hotkey", "h", "--wallet-path", str(tmp_path / "wallets"),
            "--api-url", server.base_url]  # fmt: skip
    runner = CliRunner()
    text = await anyio.to_thread.run_sync(lambda: runner.invoke(app, args))
    assert text.exit_code == 0, text.output
    assert "T1_TOO_FEW" in text.output and "94110" in text.output
    assert "500000" in text.output and "650000" in text.output  # claimed vs observed
    as_json = await anyio.to_thread.run_sync(lambda: runner.invoke(app, [*args, "--json"]))
    assert as_json.exit_code == 0, as_json.output
    doc = json.loads(as_json.output)
    assert doc["epoch_id"] == done.epoch_id
    assert sorted(z["zipcode"] for z in doc["zipcodes"]) == ["10001", "94110"]


def test_miner_doc_explains_every_reason_code() -> None:
    text = DOC.read_text()
    section = text[text.index("## Why did I get 0?") :]
    missing = [r.value for r in Reason if f"`{r.value}`" not in section]
    assert not missing, f"docs/miner.md 'Why did I get 0?' lacks {missing}"
