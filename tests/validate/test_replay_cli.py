"""`resi replay-epoch --from-report` recomputes offline and refuses a doctored report."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from resi.cli.app import app
from resi.score.engine import validate_epoch
from resi.score.models import Lookup, LookupStatus
from resi.validate.report import build_report, replay_report, write_json
from tests.score.builders import CONFIG, EPOCH, T0, assignment, record, rows, submission


def _report(tmp_path: Path) -> tuple[Path, dict]:
    subs = [
        submission(f"hk{i}", rows(20, scraped_at=T0 + timedelta(seconds=i)), at=i) for i in range(5)
    ]
    rec = record([assignment(), assignment("10002", honeypot=True)], subs)
    lookups: dict[str, Lookup] = {}
    while not (result := validate_epoch(rec, lookups, CONFIG)).complete:
        for req in result.pending_lookups:
            c = req.claimed
            from resi.score.models import Observed

            lookups[req.key] = Lookup(
                LookupStatus.FOUND,
                Observed(
                    c["price"], c["bedrooms"], c["bathrooms"], c["living_area_sqft"], c["zipcode"]
                ),
            )
    doc = build_report(rec, result, lookups, CONFIG, validator="5Validator")
    path = tmp_path / "validation_report.json"
    write_json(path, doc)
    return path, json.loads(path.read_text())


def test_report_replays_to_recorded_hash(tmp_path: Path) -> None:
    path, doc = _report(tmp_path)
    assert replay_report(doc).consensus_hash == doc["consensus_hash"]
    run = CliRunner().invoke(app, ["replay-epoch", EPOCH, "--from-report", str(path), "--json"])
    assert run.exit_code == 0, run.output
    out = json.loads(run.stdout)
    assert out["match"] is True and out["consensus_hash"] == doc["consensus_hash"]
    assert out["winners"]["10001"] == ["hk0", "hk1", "hk2"]


def test_doctored_lookup_in_report_is_detected(tmp_path: Path) -> None:
    """Someone edits a recorded lookup to make a winner look like a liar: replay disagrees."""
    path, doc = _report(tmp_path)
    first_key = doc["decisions"][0]["spot"]["evidence"][0]["key"]
    doc["inputs"]["lookups"][first_key] = {"status": "GONE", "observed": None, "detail": ""}
    path.write_text(json.dumps(doc))
    run = CliRunner().invoke(app, ["replay-epoch", EPOCH, "--from-report", str(path)])
    assert run.exit_code == 1
    assert "DIFFERS" in run.stdout


def test_report_for_another_epoch_is_refused(tmp_path: Path) -> None:
    path, _ = _report(tmp_path)
    run = CliRunner().invoke(
        app, ["replay-epoch", "2020-01-01T00-00-00", "--from-report", str(path)]
    )
    assert run.exit_code == 2


def test_validate_without_wallet_exits_with_one_line(tmp_path: Path) -> None:
    run = CliRunner().invoke(
        app,
        [
            "validate",
            "--once",
            "--subtensor.network",
            "devnet",
            "--wallet",
            "nobody",
            "--wallet-path",
            str(tmp_path),
            "--workdir",
            str(tmp_path / "w"),
            "--set",
            f"devnet_chain_path={tmp_path / 'chain.sqlite'}",
        ],
    )
    assert run.exit_code == 1
    assert "not found" in run.output and "Traceback" not in run.output
