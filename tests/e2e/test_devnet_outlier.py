"""Issue 16: `resi devnet --outlier-validator` shows a misconfigured validator's diff.

One real run (API, SeaweedFS, devnet chain, simulated market, one `resi mine`, three
`resi validate`), kept small: one honest miner, one 30 s epoch. The third validator runs with
``RESI_TIER1_MAX_RATIO=0.5``, so the honest miner's files are "too many rows" for it alone. The
devnet waits (on the file, with a deadline) for its consensus_diff.json and must show: it
disagreed, quorum holds on the two default validators' hash, and the first differing decision is
the honest file that the majority ranked and the outlier refused at tier 1. Nobody copies
weights: each validator's chain weights are its own report's scores.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

# The run ends on events (reports, weights, the diff file); the bounds only catch a hang.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

RESI = str(Path(sys.executable).with_name("resi"))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`resi devnet --outlier-validator --json` (no --validators: the option makes it 3)."""
    keep = tmp_path_factory.mktemp("devnet-outlier")
    proc = subprocess.run(
        [RESI, "devnet", "--outlier-validator", "--scenario", "honest", "--miners", "1",
         "--epochs", "1", "--epoch-seconds", "30", "--keep", str(keep), "--json"],
        capture_output=True, text=True, timeout=850, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, f"devnet failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-4000:]}"
    summary: dict[str, Any] = json.loads(proc.stdout)
    summary["keep"] = keep
    return summary


def _report(keep: Path, validator: str, epoch_id: str) -> dict[str, Any]:
    path = keep / "work" / validator / "epochs" / epoch_id / "out" / "validation_report.json"
    report: dict[str, Any] = json.loads(path.read_text())
    return report


def test_the_outlier_disagrees_and_quorum_holds_on_the_default_validators_hash(
    run: dict[str, Any],
) -> None:
    assert run["complete"] and run["problems"] == []
    (epoch,) = run["epochs"]
    v0, v1, v2 = epoch["validators"]
    assert [v["name"] for v in (v0, v1, v2)] == ["validator0", "validator1", "validator2"]
    assert v0["posted_hash"] == v1["posted_hash"] == v0["consensus_hash"] == v1["consensus_hash"]
    assert epoch["majority_hash"] == v0["consensus_hash"] != v2["consensus_hash"]
    assert v2["posted_hash"] == v2["consensus_hash"]
    assert epoch["quorum"] is True and epoch["agreement"] == pytest.approx(2 / 3)
    outlier = epoch["outlier"]
    assert outlier["validator"] == "validator2" and outlier["hotkey"] == v2["hotkey"]
    assert outlier["settings"] == {"RESI_TIER1_MAX_RATIO": "0.5"}
    assert outlier["disagrees"] is True and outlier["posted_hash"] == v2["posted_hash"]


def test_the_summary_shows_a_real_differing_decision_from_the_outliers_diff(
    run: dict[str, Any],
) -> None:
    (epoch,) = run["epochs"]
    outlier = epoch["outlier"]
    assert outlier["diff_found"] and outlier["cause"] == "rules"
    assert outlier["compared_with"] in ("validator0", "validator1")
    assert outlier["scoring"] == {"tier1_max_ratio": [0.5, None]}
    assert outlier["decisions_total"] >= 1 and outlier["decisions"]
    first = outlier["decisions"][0]
    assert first["miner"] == "miner0-honest"
    assert first["tier"] == "tier1" and first["reason"] == "T1_TOO_MANY"
    assert "T1_TOO_MANY" in first["outlier_reasons"]
    assert "T1_TOO_MANY" not in first["majority_reasons"] and "RANKED" in first["majority_reasons"]
    # It is a decision the two reports really hold, and the file on disk says the same.
    keep: Path = run["keep"]
    hotkey = next(m["hotkey"] for m in epoch["miners"] if m["name"] == "miner0-honest")
    for validator, side in (("validator2", "outlier_reasons"), ("validator0", "majority_reasons")):
        decisions = _report(keep, validator, epoch["epoch_id"])["decisions"]
        (d,) = [d for d in decisions if d["zipcode"] == first["zipcode"] and d["hotkey"] == hotkey]
        assert d["reasons"] == first[side]
    out = keep / "work" / "validator2" / "epochs" / epoch["epoch_id"] / "out"
    written = json.loads((out / "consensus_diff.json").read_text())
    assert written["majority_hash"] == epoch["majority_hash"]
    assert written["decisions"][0]["zipcode"] == first["zipcode"]
    assert not list((keep / "work" / "validator0").rglob("consensus_diff.json"))


def test_nobody_copies_weights(run: dict[str, Any]) -> None:
    """Every validator's chain weights equal its own report (matched per validator); the honest
    miner is paid by the majority, and the outlier burns what it refused."""
    (epoch,) = run["epochs"]
    assert all(v["weights_match"] for v in epoch["validators"])
    (miner,) = epoch["miners"]  # the table comes from validator0's report and weights
    assert miner["score"] > 0 and miner["chain_u16"] > 0
    keep: Path = run["keep"]
    own = _report(keep, "validator2", epoch["epoch_id"])["scores"]
    assert float(own.get(miner["hotkey"], 0)) == 0.0
