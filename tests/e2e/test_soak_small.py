"""The soak harness at CI size: 3 short epochs, 2 validators, honest and cheating miners.

Runs `bench/soak.py` exactly as documented (a subprocess running `resi devnet`), so the harness
cannot rot: every epoch validated by both validators with matching weights and one consensus,
no honest commit lost, per-process resources sampled, and retention pruning the oldest epoch.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

SOAK = Path(__file__).resolve().parents[2] / "bench" / "soak.py"


def test_soak_small(tmp_path: Path) -> None:
    cmd = [sys.executable, str(SOAK), "--epochs", "3", "--epoch-seconds", "30",
           "--archive-after", "1", "--retention", "1", "--sample-seconds", "2",
           "--keep", str(tmp_path / "soak")]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=850)
    text = out.stdout
    assert out.returncode == 0, text[-4000:] + out.stderr[-4000:]
    assert "epochs mined and summarised: 3 (devnet complete: True)" in text
    rows = re.findall(r"^\d{4}-\d\d-\d\dT\S+\s+2/2\s+\S+\s+2/2\s+100%\s+0$", text, re.M)
    assert len(rows) == 3, text
    assert "commits lost: 0" in text
    for role in ("api#0", "validator#0", "validator#1", "scenario-miners#0"):
        assert re.search(rf"^  {re.escape(role)}\s+RSS\s+\d+ ->\s+\d+ MB", text, re.M), role
    pruned = re.search(r"mined epochs pruned by retention: (\d+)", text)
    assert pruned is not None and int(pruned.group(1)) >= 1, text
