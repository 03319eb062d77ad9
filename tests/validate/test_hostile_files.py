"""Issue 12: hostile files get a reason code, within bounded memory, the same on every run.

The reader checks the footer before any row is read and decodes under the file's budget; the
validator reads in a capped worker process (``FileReader``) so even a bomb the footer hides
cannot grow the validator. Fuzzing mutates real files byte by byte and runs read → assess →
spot check: every file gets exactly one outcome, nothing raises, and two runs hash the same.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resi.devnet import hostile
from resi.score.engine import validate_epoch
from resi.score.models import EpochRecord, FileOutcome, Reason
from resi.score.tiers import fingerprint
from resi.scrape.listing import FileMetadata, ReadLimits, table_to_listings, write_listings
from resi.validate.failures import EpochFailures
from resi.validate.filecheck import FileReader
from resi.validate.inputs import read_limits, read_outcome
from tests.score.builders import (
    CONFIG,
    EPOCH,
    NONCE,
    SEED,
    assignment,
    rows,
    submission,
    table,
    truthful_lookups,
)

LIMITS = read_limits(20, CONFIG)
META = FileMetadata(epoch_id=EPOCH, nonce=NONCE, miner_hotkey="evil", zipcode="10001")
LISTINGS = table_to_listings(table(rows(20)))


@pytest.fixture(scope="module")
def reader() -> Any:
    r = FileReader(CONFIG.read_memory_mib, CONFIG.read_timeout_seconds)
    yield r
    r.close()


EXPECTED = {
    "extremes": None,  # readable: tier 2 judges the values
    "dictionary_bomb": Reason.LIMIT_EXCEEDED,
    "compression_bomb": Reason.LIMIT_EXCEEDED,
    "corrupt": Reason.PARQUET_UNREADABLE,
    "odd_ids": None,
}


@pytest.mark.parametrize("kind", hostile.KINDS)
def test_each_hostile_kind_gets_its_reason_in_and_out_of_the_worker(
    kind: str, tmp_path: Path, reader: FileReader
) -> None:
    options: dict[str, Any] = {"inflated_mib": 32} if kind == "compression_bomb" else {}
    written = hostile.WRITERS[kind](tmp_path / f"{kind}.parquet", LISTINGS, META, **options)
    here = read_outcome(written.path, LIMITS)
    there = read_outcome(written.path, LIMITS, reader)
    assert here.reason == there.reason == EXPECTED[kind]
    if here.table is not None and there.table is not None:
        # NaN != NaN, so compare every value's string encoding
        assert fingerprint(here.table) == fingerprint(there.table)


def test_dictionary_bomb_is_refused_before_it_is_expanded(tmp_path: Path) -> None:
    # 2 000 rows × 1 MiB would be ~2 GiB decoded; the file is a few KiB
    written = hostile.dictionary_bomb(tmp_path / "bomb.parquet", LISTINGS, META)
    assert written.size < 64 * 1024
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    generous = ReadLimits(max_rows=10_000, max_row_groups=8, max_bytes_per_row=4096,
                          max_string_bytes=2 << 20)  # fmt: skip
    out = read_outcome(written.path, generous)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert out.reason is Reason.LIMIT_EXCEEDED and "decodes to" in out.detail
    assert grown_kib < 200 * 1024  # the dictionary (1 MiB) and indices, never the expansion


def test_footer_caps_rows_row_groups_and_strings(tmp_path: Path) -> None:
    many = write_listings(tmp_path / "many.parquet", table(rows(50)), META)
    small = ReadLimits(max_rows=49, max_row_groups=8, max_bytes_per_row=4096,
                       max_string_bytes=2048)  # fmt: skip
    assert read_outcome(many.path, small).reason is Reason.LIMIT_EXCEEDED
    groups = tmp_path / "groups.parquet"
    t = table(rows(20)).replace_schema_metadata(META.to_kv())
    pq.write_table(t, groups, row_group_size=1)
    out = read_outcome(groups, LIMITS)
    assert out.reason is None  # 20 groups fit the default cap of 64
    assert read_outcome(groups, ReadLimits(20, 19, 4096, 2048)).reason is Reason.LIMIT_EXCEEDED
    long = rows(20)
    long[0]["address"] = "x" * 5000
    written = write_listings(tmp_path / "long.parquet", table(long), META)
    out = read_outcome(written.path, LIMITS)
    assert out.reason is Reason.LIMIT_EXCEEDED and "address" in out.detail


def test_worker_memory_cap_catches_what_the_footer_does_not_show(
    tmp_path: Path, reader: FileReader
) -> None:
    """Limits loose enough to let a 600 MiB page through: the worker's cap still holds."""
    written = hostile.compression_bomb(tmp_path / "big.parquet", LISTINGS, META, inflated_mib=600)
    loose = ReadLimits(max_rows=10, max_row_groups=8, max_bytes_per_row=1 << 30,
                       max_string_bytes=1 << 30)  # fmt: skip
    out = read_outcome(written.path, loose, reader)
    assert out.reason is Reason.LIMIT_EXCEEDED
    # the worker survives and reads the next file normally
    ok = write_listings(tmp_path / "ok.parquet", table(rows(20)), META)
    assert read_outcome(ok.path, LIMITS, reader).reason is None


def _mutated(data: bytes, edits: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for pos, value in edits:
        out[pos % len(out)] = value
    return bytes(out)


_BASE: dict[str, bytes] = {}


def _base_file(tmp: Path) -> bytes:
    if "b" not in _BASE:
        t = table(rows(20)).replace_schema_metadata(
            FileMetadata(EPOCH, NONCE, "fuzz", "10001").to_kv()
        )
        path = tmp / "base.parquet"
        pq.write_table(t, path, compression="zstd", row_group_size=7)
        _BASE["b"] = path.read_bytes()
    return _BASE["b"]


@settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "40")),
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(edits=st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=6))
def test_fuzz_mutated_files_read_assess_spot_check(
    tmp_path: Path, edits: list[tuple[int, int]]
) -> None:
    data = _mutated(_base_file(tmp_path), edits)
    path = tmp_path / "m.parquet"
    path.write_bytes(data)
    outcome = read_outcome(path, LIMITS)  # never raises
    assert (outcome.table is None) != (outcome.reason is None)
    if outcome.table is not None:  # whatever was decoded fits the file's budget
        assert outcome.table.nbytes <= LIMITS.budget(outcome.table.num_rows)
    fuzz_commit, _ = submission("fuzz", rows(20), at=5)
    honest = submission("good", rows(20), at=60)
    record = EpochRecord(
        epoch_id=EPOCH,
        nonce=NONCE,
        validation_seed=SEED,
        assignments=(assignment(expected=20),),
        commits=(fuzz_commit, honest[0]),
        files={("fuzz", "10001"): outcome, ("good", "10001"): honest[1]},
    )
    lookups = truthful_lookups(rows(20))
    first = validate_epoch(record, lookups, CONFIG)
    second = validate_epoch(record, lookups, CONFIG)
    assert first.complete and first.consensus_hash == second.consensus_hash
    got = {d.hotkey: d for d in first.decisions}
    assert set(got) == {"fuzz", "good"} and all(d.reasons for d in got.values())


def test_outcome_without_a_table_is_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "garbage.parquet"
    path.write_bytes(b"PAR1" + b"\x00" * 100 + b"PAR1")
    assert read_outcome(path, LIMITS).reason is Reason.PARQUET_UNREADABLE
    assert isinstance(FileOutcome.failed(Reason.LIMIT_EXCEEDED).reason, Reason)
    assert pa.__version__  # pyarrow in use (the reader's bounds rely on its allocator)


def test_failed_epoch_is_recorded_after_bounded_attempts(tmp_path: Path) -> None:
    f = EpochFailures.load(tmp_path / "failed.json")
    assert not f.record("2025-01-01T00-00-00", "ScoreError: x", 3)
    assert not f.record("2025-01-01T00-00-00", "ScoreError: x", 3)
    assert f.record("2025-01-01T00-00-00", "ScoreError: y", 3)
    again = EpochFailures.load(tmp_path / "failed.json")
    assert again.failed["2025-01-01T00-00-00"]["reason"] == "ScoreError: y"
    assert again.failed_total == 1 and f.attempts_total == 3
    f.record("2025-01-01T01-00-00", "boom", 3)
    f.succeeded("2025-01-01T01-00-00")
    assert "2025-01-01T01-00-00" not in EpochFailures.load(tmp_path / "failed.json").attempts
