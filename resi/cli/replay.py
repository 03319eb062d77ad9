"""`resi replay-epoch ID`: recompute an epoch's result and check its consensus hash.

``--from-report FILE`` replays offline from the inputs and lookups recorded in a validation report
(no network at all). ``--from-api`` re-downloads the epoch through the API (validator keys needed)
and rescores it, reusing the report's recorded lookups when ``--from-report`` is also given.
With neither, the report is found automatically: in the local validator workdir, else this
hotkey's posted report through the API and S3; the command says which source it used.
``--compare HOTKEY`` prints where this report and HOTKEY's posted report differ.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from resi.cli.common import (
    ApiUrlOption,
    ChainEndpointOption,
    ConfigOption,
    HotkeyOption,
    JsonOption,
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
    fail,
    handle_errors,
    run_async,
    settings_from,
)

if TYPE_CHECKING:
    # The scorer pulls in pyarrow: imported when the command runs.
    from resi.config import ValidatorSettings
    from resi.score.models import EpochResult, Lookup


@handle_errors
def command(
    epoch_id: str = typer.Argument(..., help="Epoch id, e.g. 2025-10-01T16-00-00."),
    from_report: Path = typer.Option(
        None, "--from-report", help="validation_report.json to replay (offline)."
    ),
    from_api: bool = typer.Option(
        False, "--from-api", help="Re-download the epoch's files via the API and rescore."
    ),
    compare: str = typer.Option(
        None, "--compare", help="Show where the report differs from HOTKEY's posted report."
    ),
    workdir: Path = typer.Option(
        None, "--workdir", help="Validator workdir to look for the report in."
    ),
    wallet: str = WalletOption,
    hotkey: str = HotkeyOption,
    wallet_path: Path = WalletPathOption,
    network: str = NetworkOption,
    chain_endpoint: str = ChainEndpointOption,
    netuid: int = NetuidOption,
    api_url: str = ApiUrlOption,
    source: str = SourceOption,
    sim_url: str = SimUrlOption,
    json_out: bool = JsonOption,
    config: Path = ConfigOption,
    sets: list[str] = SetOption,
) -> None:
    """Recompute an epoch; exit 1 if the hash differs from the recorded one (or, with
    ``--compare``, from HOTKEY's)."""
    from resi.config import ValidatorSettings
    from resi.validate.report import load_report, record_from_report, replay_report

    flags = {
        **client_flags(
            wallet, hotkey, wallet_path, api_url, source, sim_url, network, netuid, chain_endpoint
        ),
        "workdir": workdir,
    }
    settings = settings_from(ValidatorSettings, flags, config, sets)
    where = None
    if from_report is not None:
        doc = load_report(from_report)
        where = f"report {from_report}"
    elif not from_api:
        doc, where = _find_report(settings, epoch_id)
    else:
        doc = None
    if doc is not None and doc["epoch_id"] != epoch_id:
        raise fail(f"report is for epoch {doc['epoch_id']}, not {epoch_id}", code=2)
    if compare is not None:
        assert doc is not None and where is not None
        other = run_async(_fetch, settings, epoch_id, compare)
        _print_diff(doc, other, where, json_out)
        raise typer.Exit(0 if doc.get("consensus_hash") == other.get("consensus_hash") else 1)
    if where is not None and not json_out:
        console.print(f"source: {where}", highlight=False)
    recorded = doc["consensus_hash"] if doc is not None else None
    if from_api:
        check_network(settings)
        lookups = record_from_report(doc)[1] if doc is not None else {}
        result = run_async(_rescore, settings, epoch_id, lookups)
    else:
        assert doc is not None
        result = replay_report(doc)
    _print(result, recorded, json_out, where)
    if recorded is not None and result.consensus_hash != recorded:
        raise typer.Exit(1)


def _find_report(settings: ValidatorSettings, epoch_id: str) -> tuple[dict[str, Any], str]:
    """The report of ``epoch_id`` and where it came from: the local validator workdir, else this
    hotkey's posted report through the API and S3. Exits 2 when neither has it."""
    from resi.validate.report import REPORT_NAME, load_report

    local = Path(settings.workdir).expanduser() / "epochs" / epoch_id / "out" / REPORT_NAME
    if local.exists():
        return load_report(local), f"local validator workdir ({local})"
    from resi.errors import ResiError
    from resi.wallet import load_keypair

    try:
        keypair = load_keypair(settings.wallet_name, settings.wallet_hotkey, settings.wallet_path)
        own = str(keypair.ss58_address)
        doc = run_async(_fetch, settings, epoch_id, own)
    except ResiError as exc:
        raise fail(
            f"no report of {epoch_id}: not in {local.parent}, and none through the API "
            f"({exc}); give --from-report FILE or --from-api",
            code=2,
        ) from None
    return doc, f"API and S3 (report of {own})"


async def _fetch(settings: ValidatorSettings, epoch_id: str, hotkey: str) -> dict[str, Any]:
    """``hotkey``'s posted report of ``epoch_id`` through the API's presigned link."""
    import httpx

    from resi.api.client import ApiClient
    from resi.validate.diagnose import fetch_report
    from resi.wallet import load_keypair

    keypair = load_keypair(settings.wallet_name, settings.wallet_hotkey, settings.wallet_path)
    async with ApiClient.from_settings(settings, keypair) as client:
        async with httpx.AsyncClient(timeout=settings.http_timeout) as http:
            with tempfile.TemporaryDirectory(prefix="resi-report-") as tmp:
                doc, _ = await fetch_report(
                    client, http, epoch_id, hotkey, Path(tmp) / "report.json",
                    max_bytes=settings.max_file_bytes,
                )  # fmt: skip
    return doc


def _print_diff(own: dict[str, Any], other: dict[str, Any], where: str, json_out: bool) -> None:
    from resi.validate.diagnose import diff_reports, format_diff

    diff = diff_reports(own, other)
    if json_out:
        print(json.dumps({**diff, "source": where}, sort_keys=True, default=str))
        return
    console.print(f"source: {where}", highlight=False)
    for line in format_diff(diff):
        console.print(line, highlight=False, markup=False)


async def _rescore(
    settings: ValidatorSettings, epoch_id: str, lookups: dict[str, Lookup]
) -> EpochResult:
    from resi.validate.factory import open_validator

    with tempfile.TemporaryDirectory(prefix="resi-replay-") as tmp:
        async with open_validator(settings, workdir=Path(tmp)) as validator:
            scored = await validator.score_epoch(epoch_id, known_lookups=lookups)
    return scored.result


def _print(
    result: EpochResult, recorded: str | None, json_out: bool, where: str | None = None
) -> None:
    same = recorded is None or result.consensus_hash == recorded
    if json_out:
        print(
            json.dumps(
                {
                    "epoch_id": result.epoch_id,
                    "consensus_hash": result.consensus_hash,
                    "recorded_hash": recorded,
                    "source": where,
                    "match": same,
                    "winners": {z: list(h) for z, h in sorted(result.winners.items())},
                    "scores": dict(sorted(result.score_strings.items())),
                },
                sort_keys=True,
            )
        )
        return
    from rich.table import Table

    table = Table(title=f"epoch {result.epoch_id}")
    table.add_column("zipcode")
    table.add_column("rows", justify="right")
    for rank in range(1, 4):
        table.add_column(f"rank {rank}")
    for zipcode, hotkeys in sorted(result.winners.items()):
        cells = [*hotkeys, *([""] * (3 - len(hotkeys)))][:3]
        table.add_row(zipcode, str(result.validated_counts.get(zipcode, 0)), *cells)
    console.print(table)
    console.print(f"consensus hash: [bold]{result.consensus_hash}[/]", highlight=False)
    if recorded is not None:
        verdict = "[green]matches[/]" if same else f"[red]DIFFERS[/] from recorded {recorded}"
        console.print(f"recorded hash:  {verdict}", highlight=False)
