"""`resi devnet`: the whole subnet on this machine; rich progress while it runs, tables after."""

from __future__ import annotations

import json
import signal
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from resi.cli.common import JsonOption, console, err_console, handle_errors, run_async
from resi.devnet.plan import (
    BEHAVIOURS,
    MIN_VALIDATORS_WITH_OUTLIER,
    OUTLIER_SETTINGS,
    SCENARIOS,
    DevnetPlan,
    behaviours_for,
)
from resi.errors import ConfigError, DevnetError

if TYPE_CHECKING:
    # The orchestrator pulls in aiohttp, the sim market and the catalog: import it only when
    # `resi devnet` runs, so every other `resi` command starts fast.
    from rich.console import Group

    from resi.devnet.orchestrator import Progress
    from resi.devnet.report import DevnetResult, EpochSummary, OutlierView


@handle_errors
def command(
    miners: int | None = typer.Option(
        None, "--miners", help="Number of miners (default: the scenario's own list)."
    ),
    validators: int | None = typer.Option(
        None,
        "--validators",
        help="Number of validators (default 2, or 3 with --outlier-validator).",
    ),
    epochs: int = typer.Option(2, "--epochs", help="Epochs to mine (each is validated after)."),
    epoch_seconds: int = typer.Option(
        45, "--epoch-seconds", help="Epoch length in seconds (must divide a day)."
    ),
    scenario: str = typer.Option(
        "mixed",
        "--scenario",
        help=f"Named scenario ({', '.join(SCENARIOS)}), or behaviours separated by commas "
        f"({', '.join(BEHAVIOURS)}).",
    ),
    keep: Path | None = typer.Option(
        None, "--keep", help="Keep every file (chain, DB, S3, reports, logs) in this directory."
    ),
    seed: int = typer.Option(7, "--seed", help="Seed of the simulated market and cheaters."),
    keep_api: float = typer.Option(
        0.0,
        "--keep-api",
        help="After the run, keep the API (and the explorer at its address) running this many "
        "seconds to browse; Ctrl-C stops early.",
    ),
    outlier_validator: bool = typer.Option(
        False,
        "--outlier-validator",
        help="Misconfigure the last validator on purpose ("
        + ", ".join(f"{k}={v}" for k, v in OUTLIER_SETTINGS.items())
        + ") and show, per epoch, that it disagrees, that quorum holds without it, and the "
        "first differing decisions of the consensus_diff.json it writes. Needs 3 or more "
        "validators (the default becomes 3).",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Run API, chain, S3, market, miners and validators on 127.0.0.1 and show who earned what."""
    # With the option and no count, run the smallest set that has a majority beside the outlier
    # (what a newcomer typing just the option expects); a count given explicitly is respected,
    # and refused by plan.validate() if it is too small to have a majority.
    raised = validators is None and outlier_validator
    if validators is None:
        validators = MIN_VALIDATORS_WITH_OUTLIER if outlier_validator else 2
    keep_dir = keep.expanduser().resolve() if keep is not None else None
    if keep_dir is not None and keep_dir.exists() and any(keep_dir.iterdir()):
        # A previous run's chain, database and workdirs would mix with this run's.
        raise ConfigError(f"--keep {keep} is not empty; pass a new or empty directory")
    plan = DevnetPlan(
        behaviours=behaviours_for(scenario, miners),
        validators=validators,
        epochs=epochs,
        epoch_seconds=epoch_seconds,
        data_dir=keep_dir or Path(),
        keep=keep_dir is not None,
        seed=seed,
        keep_api_seconds=keep_api,
        outlier_validator=outlier_validator,
    )
    plan.validate()
    if keep_dir is None:
        # Created only once the options are known to be good, so bad flags leave nothing behind.
        plan = replace(plan, data_dir=Path(tempfile.mkdtemp(prefix="resi-devnet-")))
    data_dir = plan.data_dir
    if not as_json:
        console.print(
            f"[bold]resi devnet[/]: {len(plan.behaviours)} miners "
            f"({', '.join(plan.behaviours)}), {validators} validators, "
            f"{epochs} epochs of {epoch_seconds} s; data in {data_dir}"
        )
        if plan.outlier_name is not None:
            console.print(outlier_note(plan, raised=raised))
    shown: list[DevnetResult] = []

    def show(result: DevnetResult) -> None:
        shown.append(result)
        if as_json:
            typer.echo(json.dumps(result.to_json(), indent=2))
        else:
            render(result)

    # Ctrl-C and `kill` (SIGTERM, as from a supervisor or a CI runner) raise KeyboardInterrupt
    # wherever the loop is; the orchestrator's shielded cleanup then stops every child (each in
    # its own session, so nobody else would). Not asyncio's own SIGINT handling: it cancels the
    # main task, and a cancellation that lands in a shielded section is lost, so a Ctrl-C
    # during start-up used to be ignored and the run went on to the end.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        result = _run_with_progress(plan, quiet=as_json, on_result=show)
    except DevnetError as exc:
        where = exc.log_path or str(data_dir / "logs")
        err_console.print(f"[bold red]devnet failed:[/] {exc}\nlogs kept in {where}")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        # Children and S3 are already stopped (the orchestrator's cleanup is shielded).
        err_console.print(f"interrupted; every part stopped. Logs kept in {data_dir / 'logs'}")
        raise typer.Exit(130) from None
    if not shown:
        show(result)
    if not result.complete:
        raise typer.Exit(1)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def outlier_note(plan: DevnetPlan, *, raised: bool) -> str:
    """The line that says which validator is misconfigured, how, and why there are 3 or more."""
    name = plan.outlier_name or "-"
    setting = ", ".join(f"{k}={v}" for k, v in plan.validator_settings(name).items())
    why = (
        f" (--outlier-validator runs {MIN_VALIDATORS_WITH_OUTLIER} validators unless "
        "--validators says otherwise: a majority needs two that agree)"
        if raised
        else ""
    )
    return (
        f"outlier: {name} runs with {setting}; the other {plan.validators - 1} validators use "
        f"the defaults{why}"
    )


def _run_with_progress(
    plan: DevnetPlan, *, quiet: bool, on_result: Callable[[DevnetResult], None]
) -> DevnetResult:
    from rich.live import Live
    from rich.text import Text

    from resi.devnet.orchestrator import run_devnet

    if quiet:
        return run_async(run_devnet, plan, lambda p: None, on_result)
    with Live(Text("starting"), console=console, refresh_per_second=4, transient=True) as live:

        def observe(p: Progress) -> None:
            live.update(_progress_view(p))

        return run_async(run_devnet, plan, observe, on_result)


def _progress_view(p: Progress) -> Group:
    from rich.console import Group
    from rich.text import Text

    lines = [Text.assemble(("● ", "cyan"), (p.phase, "bold"))]
    if p.epoch_id:
        lines.append(
            Text(
                f"  epoch {p.epoch_id}: next in {p.seconds_to_next:4.0f} s · "
                f"{p.commits} commits by {p.miners_committed} miners"
            )
        )
    if p.mined:
        lines.append(
            Text(f"  mined epochs validated: {p.validated}/{len(p.mined)} ({', '.join(p.mined)})")
        )
    return Group(*lines)


# --------------------------------------------------------------------------- tables


def render(result: DevnetResult) -> None:
    """Print every epoch's tables, then where the data is."""
    for epoch in result.epochs:
        _render_epoch(epoch)
    if result.kept:
        console.print(
            f"data kept in [bold]{result.data_dir}[/]; replay an epoch with "
            f"`resi replay-epoch ID --from-report <report>` (reports under "
            f"{result.data_dir}/work/validator*/)"
        )
    if result.explorer_url:
        console.print(
            f"explorer: [bold]{result.explorer_url}[/] (stops with the run; "
            "`--keep-api SECONDS` keeps it up to browse)"
        )
    for problem in result.problems:
        console.print(f"[yellow]problem:[/] {problem}")
    if not result.complete:
        console.print(
            "[yellow]the run did not complete cleanly[/]; "
            f"logs in {result.logs_dir or result.data_dir}"
        )


def _share(u16: int | None, total: int) -> str:
    """A stored u16 weight as its share of the validator's weights (and the raw value)."""
    if u16 is None:
        return "-"
    return f"{u16 / total if total else 0.0:.4f} ({u16})"


def _render_epoch(e: EpochSummary) -> None:
    from rich.table import Table

    console.rule(f"epoch {e.epoch_id}")
    zips = Table(title="zipcode winners (rank 1, 2, 3)", title_justify="left")
    for col in ("zipcode", "expected", "honeypot", "commits", "first commit", "winners"):
        zips.add_column(col)
    for z in e.zipcodes:
        zips.add_row(
            z.zipcode,
            str(z.expected),
            "yes" if z.honeypot else "",
            str(z.committers),
            z.first_committer or "-",
            ", ".join(z.winners) or "-",
        )
    console.print(zips)
    miners = Table(title="miners", title_justify="left")
    for col in ("uid", "miner", "commits", "score", "weight on chain (u16)", "reasons"):
        miners.add_column(col, justify="right" if col in ("uid", "commits", "score") else "left")
    for m in e.miners:
        weight = _share(m.chain_u16, e.chain_total_u16)
        reasons = ", ".join(m.reasons) + ("; " + "; ".join(m.notes) if m.notes else "")
        style = "red" if m.liar else ("green" if m.score > 0 else "")
        miners.add_row(
            str(m.uid),
            m.name,
            str(m.commits),
            f"{m.score:.4f}",
            weight,
            reasons or "-",
            style=style,
        )
    if e.burn_score:
        miners.add_row(
            "0", "burn", "-", f"{e.burn_score:.4f}", _share(e.burn_u16, e.chain_total_u16), ""
        )
    console.print(miners)
    vals = Table(title="validators", title_justify="left")
    for col in ("validator", "consensus hash", "posted to API", "agrees", "weights on chain"):
        vals.add_column(col)
    for v in e.validators:
        agrees = e.agrees(v)
        vals.add_row(
            v.name,
            (v.consensus_hash or "-")[:16],
            (v.posted_hash or "-")[:16],
            "-" if agrees is None else ("yes" if agrees else "[red]no[/]"),
            f"match at block {v.weights_block}" if v.weights_match else "[red]no match[/]",
        )
    console.print(vals)
    quorum = "reached" if e.quorum else "[red]not reached[/]"
    console.print(
        f"consensus: majority {(e.majority_hash or '-')[:16]}, agreement {e.agreement:.0%}, "
        f"quorum {quorum} (majority stake {e.majority_stake_share:.0%})\n"
    )
    if e.outlier is not None:
        _render_outlier(e, e.outlier)


def _reasons(reasons: tuple[str, ...]) -> str:
    return ", ".join(reasons) or "-"


def _render_outlier(e: EpochSummary, o: OutlierView) -> None:
    """The misconfigured validator (`--outlier-validator`): verdict, then its diff."""
    from rich.table import Table

    setting = ", ".join(f"{k}={v}" for k, v in o.settings.items())
    holders = [v.name for v in e.validators if e.majority_hash and v.posted_hash == e.majority_hash]
    verdict = "[red]disagrees[/]" if o.disagrees else "[yellow]does not disagree[/]"
    quorum = "still reached" if e.quorum else "[red]not reached[/]"
    console.print(
        f"outlier {o.validator} ({setting}) {verdict}: posted {(o.posted_hash or '-')[:16]}, "
        f"majority {(e.majority_hash or '-')[:16]} ({', '.join(holders) or 'nobody'}); "
        f"quorum {quorum} (majority stake {e.majority_stake_share:.0%})"
    )
    if not o.diff_found:
        console.print(f"[yellow]{o.validator} wrote no consensus_diff.json for this epoch[/]\n")
        return
    settings = "; ".join(
        f"setting {name}: outlier {own!r}, majority {other!r}"
        for name, (own, other) in o.scoring.items()
    )
    console.print(
        f"its consensus_diff.json (cause: {o.cause}; vs {o.compared_with}'s report)"
        + (f": {settings}" if settings else "")
    )
    total = f"{o.decisions_total}{' or more' if o.decisions_more else ''}"
    diff = Table(
        title=f"first {len(o.decisions)} of {total} differing decisions",
        title_justify="left",
    )
    for col in ("zipcode", "miner", "tier", "reason", "outlier's reasons", "majority's reasons"):
        diff.add_column(col)
    for d in o.decisions:
        diff.add_row(
            d.zipcode,
            d.miner,
            d.tier,
            d.reason,
            _reasons(d.outlier_reasons),
            _reasons(d.majority_reasons),
        )
    console.print(diff)
    console.print()
