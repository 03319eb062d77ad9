"""Soak: the devnet for many consecutive short epochs, watching every process for leaks.

Runs ``resi devnet`` (mixed scenario: honest and cheating miners, 2 validators) with
``--keep DIR`` and, while it runs, samples every process it started: RSS, open files, and the
API database's size (with its WAL). The API archives epochs after ``--archive-after`` epoch
lengths and prunes archived ones past ``--retention`` (``archive_after_epochs``,
``archived_retention_epochs``). At the end it prints, per epoch, validators that validated and
set matching weights and the consensus agreement; commits lost (acknowledged by the API to a
`resi mine` miner, missing from the validators' reports); the resource curve per process and
its growth from the second quarter of the run to the last; and the epochs pruned. Exits non-zero
when any of those is off.

    .venv/bin/python bench/soak.py --epochs 42 --epoch-seconds 60 --keep /tmp/soak
    .venv/bin/python bench/soak.py --epochs 3 --epoch-seconds 20   # the CI size
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from resi.devnet.procs import process_tree


@dataclass
class Sample:
    t: float
    procs: dict[str, tuple[float, int]]  # label -> (RSS MB, open files)
    db_mb: float


@dataclass
class Watch:
    root_pid: int
    db: Path
    every: float
    samples: list[Sample] = field(default_factory=list)
    labels: dict[int, str] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def _children(self) -> dict[int, int]:
        return process_tree(self.root_pid)

    def _label(self, pid: int) -> str:
        if pid not in self.labels:
            try:
                cmd = (Path(f"/proc/{pid}/cmdline").read_bytes()).split(b"\0")
            except OSError:
                cmd = []
            words = [w.decode(errors="replace") for w in cmd]
            if pid == self.root_pid:
                role = "devnet"
            elif "serve-api" in words:
                role = "api"
            elif "validate" in words:
                role = "validator"
            elif "mine" in words:
                role = "miner"
            elif any("scenario" in w for w in words):
                role = "scenario-miners"
            elif words and "weed" in Path(words[0]).name:
                role = "seaweedfs"
            else:
                role = Path(words[0]).name if words else "?"
            n = sum(1 for v in self.labels.values() if v.split("#")[0] == role)
            self.labels[pid] = f"{role}#{n}"
        return self.labels[pid]

    def sample(self, t0: float) -> None:
        procs: dict[str, tuple[float, int]] = {}
        for pid in self._children():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                fds = len(os.listdir(f"/proc/{pid}/fd"))
            except OSError:
                continue
            rss = next((int(x.split()[1]) for x in status.splitlines() if x.startswith("VmRSS")), 0)
            procs[self._label(pid)] = (rss / 1024, fds)
        db = sum(p.stat().st_size for p in self.db.parent.glob(self.db.name + "*") if p.is_file())
        self.samples.append(Sample(time.monotonic() - t0, procs, db / 1e6))

    def run(self) -> None:
        t0 = time.monotonic()
        while not self.stop.wait(self.every):
            self.sample(t0)


def _quarters(values: list[float]) -> tuple[float, float]:
    """Median of the second quarter and of the last quarter (the first is warm-up)."""
    n = len(values)
    q = max(1, n // 4)
    return statistics.median(values[q : 2 * q] or values), statistics.median(values[-q:])


def acknowledged(work: Path, miner: str, epoch_id: str) -> int:
    """Commits the API acknowledged to a `resi mine` miner (its state file), 0 if it has none."""
    try:
        state = json.loads((work / miner / "epochs" / epoch_id / "state.json").read_text())
    except (OSError, ValueError):
        return 0
    zipcodes = dict(state.get("zipcodes", {})).values()
    return sum(1 for z in zipcodes if z.get("phase") == "committed")


def report(result: dict, watch: Watch, keep: Path, scenario: list[str]) -> bool:
    db, work = keep / "api.sqlite", keep / "work"
    ok = True
    epochs = result["epochs"]
    print(f"epochs mined and summarised: {len(epochs)} (devnet complete: {result['complete']})")
    mined = [e["epoch_id"] for e in epochs]
    with sqlite3.connect(db) as conn:
        present = dict(conn.execute("SELECT state, COUNT(*) FROM epochs GROUP BY state").fetchall())
        ids = {r[0] for r in conn.execute("SELECT epoch_id FROM epochs")}
    pruned = [e for e in mined if e not in ids]
    print("epoch                validated posted weighted agreement commits-lost")
    lost_total = 0
    for e in epochs:
        own = [v["consensus_hash"] for v in e["validators"]]
        validated = sum(1 for h in own if h)
        posted = sum(1 for v in e["validators"] if v["posted_hash"])
        weighted = sum(1 for v in e["validators"] if v["weights_match"])
        # agreement of the validators' own reports (the API's copy may be pruned already)
        agreement = 1.0 if validated == len(own) and len(set(own)) == 1 else e["agreement"]
        lost = sum(max(0, acknowledged(work, m["name"], e["epoch_id"]) - m["commits"])
                   for m in e["miners"])  # fmt: skip
        lost_total += lost
        n = len(e["validators"])
        gone = e["epoch_id"] in pruned
        print(f"{e['epoch_id']}  {validated}/{n}       {posted}/{n}{'*' if gone else ' '}   "
              f"{weighted}/{n}      {agreement:6.0%}    {lost}")  # fmt: skip
        ok = ok and validated == n and weighted == n and agreement == 1.0 and lost == 0
        ok = ok and (posted == n or gone)
    if pruned:
        print("* pruned from the API database by retention before the summary was taken")
    print(f"commits lost: {lost_total} (acknowledged to a miner, missing from the reports)")
    for p in result.get("problems", []):
        print(f"problem: {p}")
        ok = False

    labels = sorted({k for s in watch.samples for k in s.procs})
    rows = watch.samples
    step = max(1, len(rows) // 12)
    print("resources over time (RSS MB / open files per process, API database MB):")
    print("   t(s) " + " ".join(f"{lab:>16s}" for lab in labels) + "   db MB")
    for s in rows[::step] + ([rows[-1]] if rows and (len(rows) - 1) % step else []):
        cells = [f"{s.procs[lab][0]:8.0f}/{s.procs[lab][1]:<7d}" if lab in s.procs else " " * 16
                 for lab in labels]  # fmt: skip
        print(f"{s.t:7.0f} " + " ".join(cells) + f" {s.db_mb:7.2f}")
    print("growth, second quarter -> last quarter (median):")
    for lab in labels:
        rss = [s.procs[lab][0] for s in rows if lab in s.procs]
        fds = [float(s.procs[lab][1]) for s in rows if lab in s.procs]
        if len(rss) >= 8:
            (r0, r1), (f0, f1) = _quarters(rss), _quarters(fds)
            print(f"  {lab:16s} RSS {r0:7.0f} -> {r1:7.0f} MB ({(r1 - r0) / r0:+.0%})"
                  f"   files {f0:4.0f} -> {f1:4.0f}")  # fmt: skip
    dbs = [s.db_mb for s in rows]
    if len(dbs) >= 8:
        d0, d1 = _quarters(dbs)
        print(f"  {'api database':16s} {d0:.2f} -> {d1:.2f} MB")

    print(f"epochs in the API database at the end: {present}")
    print(f"mined epochs pruned by retention: {len(pruned)} ({', '.join(pruned) or 'none'})")
    print(f"scenario: {', '.join(scenario)}")
    return ok


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--epochs", type=int, default=42)
    p.add_argument("--epoch-seconds", type=int, default=60)
    p.add_argument("--scenario", default="mixed")
    p.add_argument("--archive-after", type=int, default=2, help="epochs until ARCHIVED")
    p.add_argument("--retention", type=int, default=3, help="archived epochs kept (epochs)")
    p.add_argument("--sample-seconds", type=float, default=5.0)
    p.add_argument("--keep", type=Path, help="keep the devnet's files here (new or empty)")
    args = p.parse_args()
    keep = args.keep or Path(tempfile.mkdtemp(prefix="resi-soak-"))
    env = {
        **os.environ,
        "RESI_ARCHIVE_AFTER_EPOCHS": str(args.archive_after),
        "RESI_ARCHIVED_RETENTION_EPOCHS": str(args.retention),
    }
    cmd = [sys.executable, "-c", "from resi.cli.app import main; main()", "devnet",
           "--epochs", str(args.epochs), "--epoch-seconds", str(args.epoch_seconds),
           "--scenario", args.scenario, "--validators", "2", "--keep", str(keep),
           "--json"]  # fmt: skip
    print(f"load average at start: {os.getloadavg()}", flush=True)
    print("$ " + " ".join(cmd[3:]), flush=True)
    started = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
    watch = Watch(proc.pid, keep / "api.sqlite", args.sample_seconds)
    sampler = threading.Thread(target=watch.run, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    watch.stop.set()
    sampler.join()
    print(f"devnet exited {proc.returncode} after {time.monotonic() - started:.0f} s; "
          f"files in {keep}")  # fmt: skip
    if "{" not in out:
        print(f"the devnet printed no summary; logs in {keep / 'logs'}")
        sys.exit(1)
    result = json.loads(out[out.index("{") :])
    ok = report(result, watch, keep, [args.scenario])
    print(f"load average at end: {os.getloadavg()}")
    sys.exit(0 if ok and proc.returncode == 0 else 1)


if __name__ == "__main__":
    main()
