"""Gather a devnet run's outcome: validators' reports from their workdirs, weights from the
chain file, consensus from the API, and what the scenario miners observed (their event logs).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from resi.api.schemas import Consensus
from resi.chain.base import WeightsRecord
from resi.devnet import commands
from resi.devnet.identities import Identities, open_devnet_chain
from resi.devnet.plan import DevnetPlan
from resi.devnet.procs import Supervisor
from resi.devnet.report import (
    DevnetResult,
    expected_weights,
    matching_record,
    summarise_epoch,
    summarise_outlier,
)
from resi.validate.diagnose import DEFAULT_LIMIT as DIFF_LIMIT
from resi.validate.diagnose import DIFF_NAME

REPORT_NAME = "validation_report.json"
EVENTS_NAME = "events.jsonl"
CONSENSUS_PATH = "/api/v1/epochs/{epoch_id}/consensus"


def find_report(root: Path, epoch_id: str) -> Path | None:
    """The validation report for ``epoch_id`` somewhere under a validator's workdir, or None."""
    if not root.is_dir():
        return None
    for path in sorted(root.rglob(f"*{REPORT_NAME}")):
        if epoch_id in str(path):
            return path
    for path in sorted(root.rglob(f"*{REPORT_NAME}")):
        report = _read_json(path)
        if report is not None and report.get("epoch_id") == epoch_id:
            return path
    return None


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None  # still being written; the next poll reads it whole
    return data if isinstance(data, dict) else None


def load_reports(
    plan: DevnetPlan, ids: Identities, epoch_id: str
) -> tuple[dict[str, dict[str, Any]], dict[str, float]]:
    """Validator hotkey → its report for ``epoch_id``, and → when that report was written."""
    reports: dict[str, dict[str, Any]] = {}
    written: dict[str, float] = {}
    for v in ids.validators:
        path = find_report(commands.workdir(plan, v.name), epoch_id)
        report = _read_json(path) if path is not None else None
        if path is not None and report is not None and report.get("epoch_id") == epoch_id:
            reports[v.hotkey] = report
            written[v.hotkey] = path.stat().st_mtime
    return reports, written


def diff_path(plan: DevnetPlan, name: str, epoch_id: str) -> Path:
    """Where validator ``name`` writes its consensus diff of ``epoch_id`` when in the minority."""
    return commands.workdir(plan, name) / "epochs" / epoch_id / "out" / DIFF_NAME


def load_diff(plan: DevnetPlan, name: str, epoch_id: str) -> dict[str, Any] | None:
    """Validator ``name``'s consensus diff of ``epoch_id``, or None (none yet, or half written)."""
    diff = _read_json(diff_path(plan, name, epoch_id))
    return diff if diff is not None and diff.get("epoch_id") == epoch_id else None


def weights_history(plan: DevnetPlan, ids: Identities) -> dict[str, list[WeightsRecord]]:
    """Validator hotkey → its accepted weight settings, oldest first (blocking)."""
    chain = open_devnet_chain(plan)
    records = chain.weights_history_sync()
    out: dict[str, list[WeightsRecord]] = {v.hotkey: [] for v in ids.validators}
    for record in records:
        out.setdefault(record.validator_hotkey, []).append(record)
    return out


def _scores(report: dict[str, Any]) -> dict[str, float]:
    return {str(k): float(v) for k, v in dict(report.get("scores", {})).items()}


def weights_settled(plan: DevnetPlan, ids: Identities, epoch_id: str) -> bool:
    """True once every validator stored on chain the weights of its report for ``epoch_id``.

    A validator whose scores cannot be set at all (nothing positive) counts as settled.
    """
    reports, written = load_reports(plan, ids, epoch_id)
    if len(reports) < len(ids.validators):
        return False
    history = weights_history(plan, ids)
    for v in ids.validators:
        expected = expected_weights(_scores(reports[v.hotkey]), ids, v.uid)
        if expected is None:
            continue
        if matching_record(history.get(v.hotkey, []), expected, written[v.hotkey]) is None:
            return False
    return True


def load_events(plan: DevnetPlan, name: str) -> list[dict[str, Any]]:
    """The events a scenario miner logged (one JSON object per line); [] when none."""
    path = commands.workdir(plan, name) / EVENTS_NAME
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    events = []
    for line in lines:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a kill; the rest is intact
        if isinstance(event, dict):
            events.append(event)
    return events


def _notes(plan: DevnetPlan, ids: Identities, epoch_id: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for m in ids.miners:
        for event in load_events(plan, m.name):
            if event.get("epoch_id") == epoch_id and event.get("note"):
                out.setdefault(m.name, []).append(str(event["note"]))
    return out


async def fetch_consensus(http: httpx.AsyncClient, api_url: str, epoch_id: str) -> Consensus | None:
    """The API's consensus document for ``epoch_id`` (public route), or None if unavailable."""
    try:
        response = await http.get(api_url + CONSENSUS_PATH.format(epoch_id=epoch_id))
    except httpx.TransportError:
        return None
    if response.status_code != 200:
        return None
    return Consensus.model_validate_json(response.content)


async def collect_result(
    plan: DevnetPlan,
    ids: Identities,
    ep: commands.Endpoints,
    mined: list[str],
    supervisor: Supervisor,
    problems: tuple[str, ...] = (),
) -> DevnetResult:
    """Summarise every mined epoch (reports, chain weights, consensus, scenario notes)."""
    import anyio.to_thread

    history = await anyio.to_thread.run_sync(weights_history, plan, ids)
    epochs = []
    async with httpx.AsyncClient(timeout=5.0) as http:
        for epoch_id in mined:
            reports, written = await anyio.to_thread.run_sync(load_reports, plan, ids, epoch_id)
            consensus = await fetch_consensus(http, ep.api_url, epoch_id)
            posted = (
                {e.validator: e.consensus_hash for e in consensus.validators} if consensus else {}
            )
            summary = summarise_epoch(
                epoch_id,
                reports,
                ids,
                history,
                posted,
                consensus.majority_hash if consensus else None,
                consensus.agreement if consensus else 0.0,
                await anyio.to_thread.run_sync(_notes, plan, ids, epoch_id),
                written,
            )
            if consensus is not None:
                summary = replace(
                    summary,
                    quorum=consensus.quorum,
                    majority_stake_share=consensus.majority_stake_share,
                )
            outlier = next((v for v in ids.validators if v.name == plan.outlier_name), None)
            if outlier is not None:
                diff = await anyio.to_thread.run_sync(load_diff, plan, outlier.name, epoch_id)
                view = summarise_outlier(
                    outlier,
                    plan.validator_settings(outlier.name),
                    diff,
                    reports,
                    ids,
                    posted,
                    summary.majority_hash,
                    file_limit=DIFF_LIMIT,
                )
                summary = replace(summary, outlier=view)
            epochs.append(summary)
    last = epochs[-1] if epochs else None
    complete = not problems and last is not None and all(v.weights_match for v in last.validators)
    return DevnetResult(
        data_dir=str(plan.data_dir),
        # Kept when asked, and when the run did not complete (its logs explain why).
        kept=plan.keep or not complete,
        epochs=tuple(epochs),
        complete=complete,
        problems=problems,
        logs_dir=str(supervisor.log_dir),
    )
