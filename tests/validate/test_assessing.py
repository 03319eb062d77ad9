"""Files assessed in the reader workers, a chunk at a time: the chunking never shows.

Every test runs real ``resi.validate.filecheck`` worker processes on real Parquet files and
compares with the in-process reference (``read_outcome`` + ``assess_zipcode`` +
``with_distinct_active`` one zipcode at a time, as the validator ran before issue 17).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resi.config import ScoringSettings
from resi.devnet import hostile
from resi.score.distinct import with_distinct_active
from resi.score.models import CommitInput, FileOutcome, Reason
from resi.score.tiers import assess_zipcode
from resi.scrape.listing import FileMetadata, sha256_file, table_to_listings, write_listings
from resi.validate.assessing import OK, Job, chunks, run_job
from resi.validate.filecheck import FileReader
from resi.validate.inputs import read_limits, read_outcome
from tests.score.builders import CONFIG, EPOCH, NONCE, SEED, T0, assignment, rows, table

ZIP = "10001"
ASSIGNMENT = assignment(ZIP, expected=20)
HONEST = table_to_listings(table(rows(20)))

# what a file in a test zipcode can be: honest ones of several sizes, every hostile kind, a
# copy of the file before it, and a download that never arrived
KINDS = ("honest", "short", "long", "copy", "missing", *hostile.KINDS)


@pytest.fixture(scope="module")
def worker() -> Iterator[FileReader]:
    r = FileReader(CONFIG.read_memory_mib, CONFIG.read_timeout_seconds)
    yield r
    r.close()


def _zipcode(root: Path, kinds: Sequence[str]) -> list[tuple[CommitInput, str, Path]]:
    """One file per kind, committed one second apart by hotkeys m0, m1, ..."""
    out: list[tuple[CommitInput, str, Path]] = []
    for i, kind in enumerate(kinds):
        hotkey = f"m{i}"
        path = root / f"{hotkey}.parquet"
        meta = FileMetadata(epoch_id=EPOCH, nonce=NONCE, miner_hotkey=hotkey, zipcode=ZIP)
        status = OK
        if kind in hostile.WRITERS:
            options: dict[str, Any] = {"inflated_mib": 8} if kind == "compression_bomb" else {}
            hostile.WRITERS[kind](path, HONEST, meta, **options)
        else:
            n = {"short": 12, "long": 30}.get(kind, 20)
            records = rows(n, ZIP, start_id=1000 + 7 * i)
            if kind == "copy" and out:
                records = rows(20, ZIP, start_id=1000 + 7 * (i - 1))  # the previous honest ids
            write_listings(path, table(records), meta)
            status = Reason.FILE_MISSING.value if kind == "missing" else OK
        commit = CommitInput(
            hotkey=hotkey,
            zipcode=ZIP,
            key=f"data/hotkey={hotkey}/epoch={EPOCH}/zipcode={ZIP}/x.parquet",
            sha256=sha256_file(path),
            rows=20,
            received_at=T0 + timedelta(seconds=i),
        )
        out.append((commit, status, path))
    return out


def _reference(
    files: Sequence[tuple[CommitInput, str, Path]], config: ScoringSettings = CONFIG
) -> list[dict[str, Any]]:
    limits = read_limits(ASSIGNMENT.expected_listings, config)
    pairs = [
        (c, read_outcome(p, limits) if s == OK else FileOutcome.failed(Reason(s)))
        for c, s, p in files
    ]
    done = assess_zipcode(
        ASSIGNMENT, pairs, epoch_id=EPOCH, nonce=NONCE, validation_seed=SEED, config=config
    )
    return [a.to_json() for a in with_distinct_active(done, pairs)]


def _job(files: Sequence[tuple[CommitInput, str, Path]], config: ScoringSettings = CONFIG) -> Job:
    return Job(ASSIGNMENT, tuple(files), EPOCH, NONCE, SEED, config)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    kinds=st.lists(st.sampled_from(KINDS), min_size=1, max_size=7),
    max_files=st.integers(1, 8),
    max_rows=st.integers(1, 120),
)
def test_any_chunking_gives_every_file_its_in_process_assessment(
    worker: FileReader, kinds: list[str], max_files: int, max_rows: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        files = _zipcode(Path(tmp), kinds)
        got = [
            a.to_json()
            for part in chunks(files, max_files, max_rows)
            for a in run_job(worker, _job(part), CONFIG.read_timeout_seconds).assessments
        ]
        assert got == _reference(files)


def test_chunks_hold_at_most_their_files_and_committed_rows() -> None:
    files = _zipcode_commits([5, 5, 5, 30, 1, 1])
    parts = chunks(files, max_files=2, max_rows=10)
    assert [len(p) for p in parts] == [2, 1, 1, 2]  # 30 rows alone: one file over the cap
    assert [f for p in parts for f in p] == files  # in order, nothing lost


def _zipcode_commits(sizes: Sequence[int]) -> list[tuple[CommitInput, str, Path]]:
    return [
        (
            CommitInput(f"m{i}", ZIP, "k", "s", n, T0),
            OK,
            Path(f"/nowhere/{i}"),
        )
        for i, n in enumerate(sizes)
    ]


def test_a_bomb_only_the_workers_cap_stops_costs_its_chunk_mates_nothing(
    tmp_path: Path, worker: FileReader
) -> None:
    """Limits loose enough to let a 600 MiB page through: the chunk runs out of the worker's
    memory, its files go again alone, and only the bomb is LIMIT_EXCEEDED."""
    loose = ScoringSettings(max_bytes_per_row=1 << 30, max_string_bytes=1 << 30)
    files = _zipcode(tmp_path, ["honest", "long", "honest"])
    bomb = tmp_path / "bomb.parquet"
    meta = FileMetadata(epoch_id=EPOCH, nonce=NONCE, miner_hotkey="bomber", zipcode=ZIP)
    hostile.compression_bomb(bomb, HONEST, meta, inflated_mib=600)
    bomber = replace(files[0][0], hotkey="bomber", sha256=sha256_file(bomb))
    files.insert(1, (bomber, OK, bomb))

    got = run_job(worker, _job(files, loose), CONFIG.read_timeout_seconds).assessments

    assert got[1].reasons == (Reason.LIMIT_EXCEEDED,) and not got[1].liar
    honest = [files[0], *files[2:]]
    assert [a.to_json() for a in (got[0], *got[2:])] == _reference(honest, loose)
    # and the worker is still there for the next job
    assert [a.to_json() for a in run_job(worker, _job(honest), 60).assessments] == _reference(
        honest
    )


def test_a_time_limit_no_file_can_meet_makes_each_read_limit_exceeded(tmp_path: Path) -> None:
    files = _zipcode(tmp_path, ["honest", "short", "missing"])
    reader = FileReader(CONFIG.read_memory_mib, CONFIG.read_timeout_seconds)
    try:
        got = run_job(reader, _job(files), 1e-6).assessments  # no worker starts in 1 µs
    finally:
        reader.close()
    # the missing download has nothing to read: its own reason, whatever the worker did
    assert [a.reasons for a in got] == [
        (Reason.LIMIT_EXCEEDED,),
        (Reason.LIMIT_EXCEEDED,),
        (Reason.FILE_MISSING,),
    ]
    assert "longer than" in got[0].detail
