"""Ctrl-C or `kill` on `resi devnet` stops every part it started (API, miners, validators, S3).

Regression guard for orphaned children: each child runs in its own session (so the terminal's
SIGINT reaches only the orchestrator), which makes the orchestrator the only one who can stop
them. Here we interrupt a run once its miners and validators are up and look for leftovers.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

RESI = str(Path(sys.executable).with_name("resi"))


def _processes_mentioning(text: str) -> list[int]:
    """Pids of live (non-zombie) processes whose command line contains ``text``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue  # exited while we looked
        if text in cmdline and state != "Z":
            found.append(int(proc.name))
    return found


def _wait_for(path: Path, within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if path.exists():
            return
        time.sleep(0.2)
    raise AssertionError(f"{path} did not appear within {within} s")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "kill"])
def test_ctrl_c_stops_every_child_and_keeps_the_logs(tmp_path: Path, sig: signal.Signals) -> None:
    keep = tmp_path / "devnet"
    proc = subprocess.Popen(
        [RESI, "devnet", "--scenario", "honest,fabricator", "--validators", "1",
         "--epochs", "1", "--epoch-seconds", "30", "--keep", str(keep)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        # The miners start last; once the honest miner's log exists everything is running.
        _wait_for(keep / "logs" / "miner0-honest.log", within=150)
        time.sleep(2)
        assert _processes_mentioning(str(keep)), "children should be running before Ctrl-C"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted" in err
    assert _processes_mentioning(str(keep)) == []
    assert (keep / "logs" / "api.log").read_text()
