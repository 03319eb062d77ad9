"""The shipped alert rules and our real /metrics output, checked by promtool.

``promtool`` comes from Debian's ``prometheus`` package; ``.ci/run`` installs it, so these tests
never skip: a missing promtool is a failure, not a pass.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from resi.api.metrics import ApiMetrics
from resi.validate.metrics import MeteredSource, ValidatorMetrics, serve_metrics
from resi.validate.weights_keeper import WeightsPlan

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "examples" / "prometheus" / "alerts.yml"
RULES_TEST = ROOT / "examples" / "prometheus" / "alerts_test.yml"
DASHBOARD_DIR = ROOT / "examples" / "grafana"

# Every threshold the operating plan sets has exactly one rule.
EXPECTED_ALERTS = {
    "ResiEpochTransitionFailed",
    "ResiValidatorAgreementLow",
    "ResiApiLatencyHigh",
    "ResiApiErrorRateHigh",
    "ResiValidatorWeightsStale",
}


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("promtool")
    assert exe, "promtool is missing: install Debian's `prometheus` package (.ci/run does)"
    return subprocess.run(
        [exe, *args], input=stdin, capture_output=True, text=True, timeout=120, check=False
    )


def exported_names(text: str) -> set[str]:
    """Metric family names declared by ``# TYPE`` lines of an exposition."""
    return {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}


def referenced_names(expr: str) -> set[str]:
    """``resi_*`` metric families an expression uses (histogram suffixes stripped)."""
    names = set(re.findall(r"\bresi_[a-z0-9_]+", expr))
    return {re.sub(r"_(bucket|sum|count)$", "", n) for n in names}


def rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_alert_rules_pass_promtool_unit_tests() -> None:
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", str(RULES_TEST))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_one_rule_per_threshold_and_every_rule_is_unit_tested() -> None:
    names = [r["alert"] for r in rules()]
    assert sorted(names) == sorted(EXPECTED_ALERTS)  # one each, none twice
    tests = yaml.safe_load(RULES_TEST.read_text())["tests"]
    firing = {
        case["alertname"]
        for t in tests
        for case in t.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    quiet = {
        case["alertname"]
        for t in tests
        for case in t.get("alert_rule_test", [])
        if not case.get("exp_alerts")
    }
    # each rule is shown to fire above its threshold and to stay quiet below it
    assert firing == EXPECTED_ALERTS and quiet == EXPECTED_ALERTS


def _api_exposition() -> str:
    m = ApiMetrics()
    m.requests.inc("stats", "200")
    m.requests.inc("commit", "503")
    m.latency.observe(0.02, "stats")
    m.transition_failures.inc()
    m.selection_seconds.observe(0.3)
    m.completed_honeypots.set(2)
    m.admin_actions.inc("pause-selection")
    return m.render()


def _validator_exposition() -> str:
    m = ValidatorMetrics()
    m.epochs.inc("validated")
    with m.phase("score"):
        pass
    m.outcomes.inc("tier3", "T3_PASS")
    m.lookups.inc("found")
    m.lookup_seconds.observe(0.05)
    m.s3_bytes.inc("download", amount=1234)
    m.s3_seconds.observe(0.01, "GET")
    m.consensus_share.set(0.75)
    m.record_weights(100, WeightsPlan("epoch", "2026-01-01T00-00-00", 1, {"a": 1.0}))
    m.weights_interval_seconds.set(4320)
    m.chain_errors.inc("set_weights")
    return m.render()


def test_rules_reference_only_metrics_we_export() -> None:
    exported = exported_names(_api_exposition()) | exported_names(_validator_exposition())
    for rule in rules():
        used = referenced_names(rule["expr"])
        assert used, rule["alert"]
        assert used <= exported, (rule["alert"], used - exported)


def test_grafana_panels_reference_only_metrics_we_export() -> None:
    exported = exported_names(_api_exposition()) | exported_names(_validator_exposition())
    dashboards = sorted(DASHBOARD_DIR.glob("*.json"))
    assert dashboards
    text = "\n".join(p.read_text() for p in dashboards)
    used = referenced_names(text)
    assert any(n.startswith("resi_validator_") for n in used)  # validator panels exist
    assert used <= exported, used - exported


@pytest.mark.parametrize("which", ["api", "validator"])
def test_metrics_expositions_pass_promtool_check_metrics(which: str) -> None:
    text = _api_exposition() if which == "api" else _validator_exposition()
    checked = promtool("check", "metrics", stdin=text)
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.anyio
async def test_validator_metrics_endpoint_serves_what_promtool_accepts(anyio_backend: str) -> None:
    """The real `--metrics-port` server: fed through ``MeteredSource``, scraped over HTTP."""

    class GoneSource:
        async def search(self, zipcode: str) -> list[Any]:
            return []

        async def lookup(self, listing: Any) -> None:
            return None

        async def aclose(self) -> None:
            return None

    metrics = ValidatorMetrics()
    source = MeteredSource(GoneSource(), metrics)  # type: ignore[arg-type]
    assert await source.lookup(object()) is None  # type: ignore[arg-type]
    async with serve_metrics(metrics, "127.0.0.1", 0) as url:
        async with httpx.AsyncClient() as http:
            response = await http.get(url + "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert 'resi_validator_lookups_total{result="gone"} 1' in response.text
    assert "resi_validator_lookup_seconds_count 1" in response.text
    checked = promtool("check", "metrics", stdin=response.text)
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.anyio
async def test_real_api_metrics_pass_promtool_and_hide_open_epochs(api_server: Any) -> None:
    """A running API's /metrics (both databases): promtool accepts it, and the per-epoch gauges
    describe only the COMPLETED epoch, never the honeypots of the active one."""
    from resi.api import client as paths
    from resi.api.background import export_completed

    state = api_server.state
    state.metrics = ApiMetrics()  # forget what the background pass may have exported
    await export_completed(state, api_server.epochs.active.epoch_id)
    await export_completed(state, api_server.epochs.pending.epoch_id)
    assert state.metrics.completed_honeypots.get() is None  # open epochs: nothing exported
    assert state.metrics.completed_achieved.get() is None
    await export_completed(state, api_server.epochs.completed.epoch_id)
    async with httpx.AsyncClient() as http:
        await http.get(api_server.base_url + paths.STATS)
        response = await http.get(api_server.base_url + paths.METRICS)
    assert response.status_code == 200
    text = response.text
    assert "resi_api_requests_total{" in text
    assert "resi_api_completed_epoch_honeypots 1" in text  # the seeded COMPLETED epoch has one
    start = api_server.epochs.completed.start.timestamp()
    assert f"resi_api_completed_epoch_start_timestamp_seconds {int(start)}" in text
    checked = promtool("check", "metrics", stdin=text)
    assert checked.returncode == 0, checked.stdout + checked.stderr
