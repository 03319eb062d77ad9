"""Benchmark: validate a synthetic epoch from Parquet files on disk, against the pyarrow floor.

Writes M miners × Z zipcodes × R rows as real listing files (not timed), then, each phase in a
fresh subprocess so peak memory is its own:

- **floor**: a minimal pyarrow pass: ``pq.read_table`` of every file, nothing else (no hashing:
  the resi phase does not hash either, its files count as verified downloads);
- **floor-pf**: the same with ``pq.ParquetFile(f).read()``, a cheaper pyarrow call (shown for
  reference; the goal ratios use ``floor``);
- **resi**: ``Validator.score_local``: the code path of ``resi validate`` after the downloads
  (the reader workers reading and assessing chunks of files, the checkpoint in a fresh workdir,
  lookups answered by the simulated market in its own process, the walk until the consensus
  hash).

Prints wall time and peak RSS of both, the ratios (goal ≤ 1.3× wall, ≤ 2× memory at 250 miners)
and, with several ``--miners`` values, the growth curve (goal: linear). Memory is the peak RSS
(``VmHWM``) of each phase's own process: for resi that is the validator's main process,
which also holds the imports and the epoch inputs (its RSS when scoring starts is printed as
``at start``); the reader worker processes are not in it (their own peaks are printed beside
it), and neither is the simulated listing site, which answers lookups from a process of its
own over a pipe, as the real site is not in the validator's process either.

    .venv/bin/python bench/bench_score.py [--miners 250] [--zipcodes 25] [--rows 400]
    .venv/bin/python bench/bench_score.py --miners 50,100,250,500
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _peak_mb() -> float:
    """This process's own peak RSS (``VmHWM``). Not ``ru_maxrss``: Linux carries the parent's
    peak into a child started by vfork+exec (as ``subprocess`` does), which made the floor
    look as large as the bench's parent after writing the files."""
    return _status_mb("self", "VmHWM")


def _status_mb(pid: int | str, key: str) -> float:
    """``VmRSS``/``VmHWM`` of a process in MB (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            return next(int(ln.split()[1]) for ln in fh if ln.startswith(key + ":")) / 1024
    except (OSError, StopIteration):
        return 0.0


def _cpu_seconds(pid: int | str) -> float:
    """User + system CPU time of a running process (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def phase_floor(root: Path, reader: str = "read_table") -> dict[str, float]:
    import pyarrow.parquet as pq

    files = sorted(root.rglob("*.parquet"))
    start_mb = _status_mb("self", "VmRSS")
    t0 = time.perf_counter()
    rows = 0
    for f in files:
        table = pq.read_table(f) if reader == "read_table" else pq.ParquetFile(f).read()
        rows += table.num_rows
    wall = time.perf_counter() - t0
    return {"wall": wall, "peak_mb": _peak_mb(), "start_mb": start_mb, "rows": rows}


def phase_resi(root: Path, work: Path) -> dict[str, object]:
    import httpx

    from resi.cli.common import run_async
    from resi.config import ValidatorSettings
    from resi.validate.loop import Validator
    from resi.validate.synthetic import load_inputs

    inputs, paths = load_inputs(root)
    source = _MarketClient(root)
    settings = ValidatorSettings(network="devnet", source="sim", workdir=work)
    stages: dict[str, float] = {}
    start_mb = _status_mb("self", "VmRSS")  # imports and the epoch's inputs
    worker_peaks: list[float] = []
    worker_cpu: list[float] = []
    t0 = time.perf_counter()
    cpu0 = time.process_time()

    def progress(_epoch: str, stage: str, done: int, total: int) -> None:
        stages[stage] = time.perf_counter() - t0
        if stage == "assess" and done == total:
            stages["assessed_mb"] = _status_mb("self", "VmRSS")

    ended: list[float] = []

    async def run() -> object:
        async with httpx.AsyncClient() as http:
            v = Validator(None, None, source, "5V", work, settings, http, progress)  # type: ignore[arg-type]
            scored = await v.score_local(inputs, paths)
            # timed until the result is in hand: anyio.run's teardown is not validation
            ended.append(time.perf_counter())
            worker_peaks.extend(_status_mb(r.pid, "VmHWM") for r in v.readers if r.pid)
            worker_cpu.extend(_cpu_seconds(r.pid) for r in v.readers if r.pid)
            await source.aclose()
            return scored

    # run as the CLI runs it (run_async): the loop's teardown is not validation either
    scored = run_async(run)
    wall = ended[0] - t0
    main_cpu = time.process_time() - cpu0
    result = scored.result  # type: ignore[attr-defined]
    ckpt = next(work.rglob("checkpoint.jsonl"))
    return {
        "wall": wall,
        "peak_mb": _peak_mb(),
        "start_mb": start_mb,
        "worker_peak_mb": worker_peaks,
        "main_cpu": main_cpu,
        "worker_cpu": worker_cpu,
        "assess_done_at": stages.get("assess", 0.0),
        "assessed_mb": stages.get("assessed_mb", 0.0),
        "lookups": source.lookups,
        "liars": len(result.liars),
        "hash": result.consensus_hash,
        "checkpoint_mb": ckpt.stat().st_size / 1e6,
    }


def _serve_market(conn: Any, root: Path) -> None:
    """The simulated listing site, in a process of its own (as the real site is not the
    validator's): answers listing ids with listings (or None) until it gets None."""
    from resi.validate.synthetic import load_epoch

    market = load_epoch(root).market
    conn.send("ready")
    while (key := conn.recv()) is not None:
        conn.send(market.get(key))


class _MarketClient:
    """A ``ListingSource`` whose lookups go to ``_serve_market`` over a pipe."""

    def __init__(self, root: Path) -> None:
        import multiprocessing

        self._conn, theirs = multiprocessing.Pipe()
        ctx = multiprocessing.get_context("spawn")  # not a fork of this process's memory
        self._proc = ctx.Process(target=_serve_market, args=(theirs, root), daemon=True)
        self._proc.start()
        assert self._conn.recv() == "ready"
        self.lookups = 0

    async def search(self, zipcode: str) -> list[Any]:
        raise NotImplementedError("the validator only looks listings up")

    async def lookup(self, listing: Any) -> Any:
        self.lookups += 1
        self._conn.send(listing.listing_id)
        return self._conn.recv()

    async def aclose(self) -> None:
        self._conn.send(None)
        self._proc.join()


def _child(phase: str, root: Path, work: Path) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, __file__, "--phase", phase, "--root", str(root), "--work", str(work)],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--miners", default="250", help="one count or a comma list (a curve)")
    p.add_argument("--zipcodes", type=int, default=25)
    p.add_argument("--rows", type=int, default=400)
    p.add_argument("--phase", choices=["floor", "floor-pf", "resi"], help=argparse.SUPPRESS)
    p.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.phase in ("floor", "floor-pf"):
        reader = "read_table" if args.phase == "floor" else "ParquetFile"
        print(json.dumps(phase_floor(args.root, reader)))
        return
    if args.phase == "resi":
        print(json.dumps(phase_resi(args.root, args.work)))
        return

    from resi.validate.synthetic import write_epoch

    print(f"load average at start: {os.getloadavg()}")
    curve = []
    ok = True
    for miners in [int(m) for m in args.miners.split(",")]:
        with tempfile.TemporaryDirectory(prefix="bench-score-") as tmp:
            root, work = Path(tmp) / "files", Path(tmp) / "work"
            t = time.perf_counter()
            epoch = write_epoch(root, miners, args.zipcodes, args.rows)
            built = time.perf_counter() - t
            total = miners * args.zipcodes * args.rows
            floor = _child("floor", root, work)
            floor_pf = _child("floor-pf", root, work)
            resi = _child("resi", root, work)
            wall_ratio = float(resi["wall"]) / float(floor["wall"])  # type: ignore[arg-type]
            mem_ratio = float(resi["peak_mb"]) / float(floor["peak_mb"])  # type: ignore[arg-type]
            print(
                f"epoch: {miners} miners x {args.zipcodes} zipcodes x {args.rows} rows"
                f" = {total:,} rows, {len(epoch.paths)} files,"
                f" {epoch.total_bytes / 1e6:.1f} MB (written in {built:.1f} s, not timed)"
            )
            print(
                f"  floor (pq.read_table of every file): {floor['wall']:.2f} s,"
                f" peak RSS {floor['peak_mb']:.0f} MB ({floor['start_mb']:.0f} MB at start)"
            )
            print(
                f"  floor-pf (pq.ParquetFile(f).read(), reference only): {floor_pf['wall']:.2f} s,"
                f" peak RSS {floor_pf['peak_mb']:.0f} MB"
                f" (resi wall is {float(resi['wall']) / float(floor_pf['wall']):.2f}x this)"  # type: ignore[arg-type]
            )
            workers = ", ".join(f"{mb:.0f}" for mb in resi["worker_peak_mb"])  # type: ignore[attr-defined]
            cpu = ", ".join(f"{s:.1f}" for s in resi["worker_cpu"])  # type: ignore[attr-defined]
            print(
                f"  resi (Validator.score_local): {resi['wall']:.2f} s"
                f" (assessed at {resi['assess_done_at']:.2f} s, RSS then"
                f" {resi['assessed_mb']:.0f} MB),"
                f" peak RSS {resi['peak_mb']:.0f} MB ({resi['start_mb']:.0f} MB at start:"
                f" imports, inputs), reader workers' peaks {workers} MB,"
                f" checkpoint {resi['checkpoint_mb']:.1f} MB,"
                f" {resi['lookups']} lookups, {resi['liars']} liars;"
                f" CPU: main process {resi['main_cpu']:.1f} s, reader workers {cpu} s"
            )
            print(f"  consensus hash: {resi['hash']}")
            print(
                f"  RATIO wall {wall_ratio:.2f}x (goal <= 1.3), memory {mem_ratio:.2f}x (goal <= 2)"
            )
            curve.append((miners, total, float(resi["wall"]), float(resi["peak_mb"])))  # type: ignore[arg-type]
            ok = ok and wall_ratio <= 1.3 and mem_ratio <= 2.0
    if len(curve) > 1:
        print("curve (miners, rows, resi wall s, s per million rows, peak MB):")
        for miners, total, wall, peak in curve:
            print(f"  {miners:5d} {total:>11,} {wall:8.2f} {wall / total * 1e6:8.2f} {peak:8.0f}")
    print(f"load average at end: {os.getloadavg()}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
