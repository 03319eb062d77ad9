"""Benchmark: peak memory of reading hostile files as the validator does (issue 12).

Writes hostile listings files (in a child process, so building them does not count), then reads
each through the validator's capped worker (``FileReader``) under the default limits for a
zipcode of ``--expected`` listings, and prints the outcome, time, and peak RSS of the validator
process and of the worker:

- ``incompressible``: a 200 MiB file (random strings, the upload cap) that the footer refuses;
- ``dictionary_bomb``: a few KiB that would decode to 2 000 × 1 MiB;
- ``compression_bomb``: a few KiB of zstd inflating to 600 MiB in one plain page, read under
  limits loose enough to pass the footer, so only the worker's address-space cap stops it;
- ``extremes``: numbers at the edges of their types (readable; tier 2 judges them).

    .venv/bin/python bench/bench_hostile.py [--expected 500] [--size-mib 200]

The long fuzzing run (read → assess → spot check on generated and byte-mutated files; CI runs
a bounded number of examples):

    FUZZ_EXAMPLES=2000 .venv/bin/pytest tests/score/test_hostile_values.py \
        tests/validate/test_hostile_files.py -k "fuzz or any_value" -q
"""

from __future__ import annotations

import argparse
import base64
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from resi.config import ScoringSettings
from resi.devnet import hostile
from resi.scrape.listing import FileMetadata, Listing, ReadLimits
from resi.validate.filecheck import FileReader
from resi.validate.inputs import read_limits, read_outcome

META = FileMetadata("2025-10-01T16-00-00", "ab" * 16, "bench", "10001")


def _listings(n: int) -> list[Listing]:
    t = datetime(2025, 10, 1, 16, 5, tzinfo=UTC)
    return [
        Listing(
            listing_id=str(1000 + i),
            source="sim",
            url=f"http://sim/homedetails/{1000 + i}_zpid/",
            zipcode="10001",
            address=f"{i} Main St",
            city="New York",
            state="NY",
            price=500_000 + i,
            status="FOR_SALE",
            property_type="CONDO",
            scraped_at=t,
        )
        for i in range(n)
    ]


def make(kind: str, path: Path, size_mib: int) -> None:
    """Write one hostile file (runs in a child process)."""
    if kind == "incompressible":
        import pyarrow as pa
        import pyarrow.parquet as pq

        from resi.scrape.listing import listings_to_table

        rows = 2_000
        per_row = (size_mib << 20) * 4 // 3 // rows  # zstd gets base64 back to ~3/4
        t = listings_to_table(_listings(rows))
        junk = [base64.b64encode(os.urandom(per_row * 3 // 4)).decode() for _ in range(rows)]
        t = t.set_column(t.schema.get_field_index("address"), "address", pa.array(junk))
        pq.write_table(t.replace_schema_metadata(META.to_kv()), path, compression="zstd")
    elif kind == "compression_bomb":
        hostile.compression_bomb(path, _listings(1), META, inflated_mib=600)
    else:
        hostile.WRITERS[kind](path, _listings(50), META)


def _vm_hwm_kib(pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--expected", type=int, default=500)
    p.add_argument("--size-mib", type=int, default=200)
    p.add_argument("--make", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.make:
        make(args.make[0], Path(args.make[1]), args.size_mib)
        return
    config = ScoringSettings()
    limits = read_limits(args.expected, config)
    loose = ReadLimits(10, 8, 1 << 30, 1 << 30)
    reader = FileReader(config.read_memory_mib, config.read_timeout_seconds)
    budget_mib = limits.budget(limits.max_rows) / 2**20
    print(f"limits: {limits} -> per-file decoded budget <= {budget_mib:.1f} MiB")
    print(f"worker address-space cap: start-up size + {config.read_memory_mib} MiB")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("incompressible", "dictionary_bomb", "compression_bomb", "extremes"):
            path = Path(tmp) / f"{kind}.parquet"
            cmd = [sys.executable, __file__, "--size-mib", str(args.size_mib)]
            subprocess.run([*cmd, "--make", kind, str(path)], check=True)
            use = loose if kind == "compression_bomb" else limits
            t0 = time.perf_counter()
            out = read_outcome(path, use, reader)
            secs = time.perf_counter() - t0
            worker = reader._proc.pid if reader._proc else None
            worker_hwm = _vm_hwm_kib(worker) / 1024 if worker else float("nan")
            print(
                f"{kind:17s} file {path.stat().st_size / 2**20:8.2f} MiB  "
                f"{out.reason or 'READ':16s} {secs:6.2f} s  "
                f"validator peak {_vm_hwm_kib() / 1024:7.1f} MiB  worker peak {worker_hwm:7.1f} MiB"
            )
    reader.close()
    print(
        f"validator ru_maxrss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MiB"
    )
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
