"""The validator's epoch checkpoint: append-only JSON lines, crash-safe, resumable."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from resi.errors import ConfigError
from resi.score.models import (
    ClaimedRow,
    FileAssessment,
    Lookup,
    LookupStatus,
    Metrics,
    Observed,
    SampleRow,
)
from resi.validate.checkpoint import CHECKPOINT_NAME, EpochCheckpoint

EPOCH = "2025-10-01T16-00-00"


def _assessment(hotkey: str, zipcode: str) -> FileAssessment:
    return FileAssessment(
        hotkey=hotkey,
        zipcode=zipcode,
        sha256="ab" * 32,
        rows=3,
        reasons=(),
        liar=False,
        metrics=Metrics(3, 3, 3, 3, 0),
        fingerprint="cd" * 32,
        k=1,
        sample=(SampleRow(index=1, key="42", claimed={"listing_id": "42", "price": 1000}),),
    )


def _fill(path: Path, zipcodes: int) -> EpochCheckpoint:
    ckpt = EpochCheckpoint.load(path, EPOCH)
    ckpt.downloads["5A|60614"] = {"sha256": "ab" * 32, "status": "OK"}
    ckpt.downloads["5B|60614"] = {"sha256": "ef" * 32, "status": "DOWNLOAD_UNVERIFIED"}
    ckpt.save()
    for z in range(zipcodes):
        ckpt.add_assessments(f"{60600 + z}", [_assessment("5A", f"{60600 + z}")])
    ckpt.lookups["42"] = Lookup(LookupStatus.FOUND, Observed(1000, 2.0, 1.0, 900.0, "60614"))
    ckpt.lookups["43"] = Lookup(LookupStatus.GONE, detail="gone")
    ckpt.save()
    return ckpt


def test_roundtrip_and_later_record_wins(tmp_path: Path) -> None:
    path = tmp_path / CHECKPOINT_NAME
    ckpt = _fill(path, 3)
    ckpt.downloads["5B|60614"] = {"sha256": "ef" * 32, "status": "OK"}  # retried, now verified
    ckpt.save()
    back = EpochCheckpoint.load(path, EPOCH)
    assert back.downloads == ckpt.downloads
    assert back.downloads["5B|60614"]["status"] == "OK"
    assert back.lookups == ckpt.lookups
    assert back.zipcode_assessments("60601") == [_assessment("5A", "60601")]
    assert back.done == ckpt.done == {"60600", "60601", "60602"}
    assert not ckpt.assessments  # what this session added is not kept twice in memory
    assert back.zipcode_assessments("99999") is None


def test_saving_appends_only_the_changes(tmp_path: Path) -> None:
    """Cost per zipcode is independent of the epoch: earlier bytes are never rewritten."""
    path = tmp_path / CHECKPOINT_NAME
    ckpt = _fill(path, 50)
    before = path.read_bytes()
    ckpt.save()  # nothing changed: nothing written
    assert path.read_bytes() == before
    ckpt.add_assessments("70000", [_assessment("5C", "70000")])
    after = path.read_bytes()
    assert after.startswith(before)
    small = _fill(tmp_path / "small.jsonl", 1)
    small_before = small.path.read_bytes()
    small.add_assessments("70000", [_assessment("5C", "70000")])
    # the appended record is the same size whatever the epoch holds already
    assert len(after) - len(before) == len(small.path.read_bytes()) - len(small_before)


def test_torn_last_line_is_dropped_and_appends_continue(tmp_path: Path) -> None:
    path = tmp_path / CHECKPOINT_NAME
    _fill(path, 2)
    intact = path.read_bytes()
    with path.open("ab") as f:  # a crash in the middle of appending a record
        f.write(b'{"kind": "assessment", "zipcode": "7')
    resumed = EpochCheckpoint.load(path, EPOCH)
    assert resumed.done == set(resumed.assessments) == {"60600", "60601"}
    assert path.read_bytes() == intact  # the torn tail is cut off
    resumed.add_assessments("60602", [_assessment("5A", "60602")])
    assert EpochCheckpoint.load(path, EPOCH).done == {"60600", "60601", "60602"}


def test_every_truncation_point_loads_a_prefix(tmp_path: Path) -> None:
    """Killed at any byte, the checkpoint loads as some prefix of what was recorded."""
    path = tmp_path / CHECKPOINT_NAME
    _fill(path, 2)
    full = EpochCheckpoint.load(path, EPOCH)
    data = path.read_bytes()
    for cut in range(0, len(data), 7):
        path.write_bytes(data[:cut])
        got = EpochCheckpoint.load(path, EPOCH)
        assert got.downloads.items() <= full.downloads.items()
        assert got.assessments.items() <= full.assessments.items()
        assert got.done <= full.done
        assert got.lookups.items() <= full.lookups.items()


def test_corruption_before_the_end_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / CHECKPOINT_NAME
    _fill(path, 2)
    lines = path.read_bytes().split(b"\n")
    lines[1] = b"garbage"
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(ConfigError, match="corrupt"):
        EpochCheckpoint.load(path, EPOCH)


def test_other_version_or_epoch_is_refused(tmp_path: Path) -> None:
    path = tmp_path / CHECKPOINT_NAME
    _fill(path, 1)
    with pytest.raises(ConfigError, match="epoch"):
        EpochCheckpoint.load(path, "2025-10-01T20-00-00")
    data = path.read_text().replace('"schema_version": 2', '"schema_version": 1', 1)
    path.write_text(data)
    with pytest.raises(ConfigError, match="schema version"):
        EpochCheckpoint.load(path, EPOCH)


def test_compact_sampled_rows_round_trip_as_the_dicts_they_stand_for(tmp_path: Path) -> None:
    # the shared index need not list names in position order
    row = ClaimedRow({"price": 1, "listing_id": 0, "bathrooms": 2}, ("42", 1000, 1.5))
    assert row.as_dict() == dict(row) and list(row.as_dict()) == list(row)
    compact = replace(_assessment("5A", "60614"), sample=(SampleRow(1, "42", row),))
    ckpt = EpochCheckpoint.load(tmp_path / CHECKPOINT_NAME, EPOCH)
    ckpt.add_assessments("60614", [compact])
    [back] = EpochCheckpoint.load(tmp_path / CHECKPOINT_NAME, EPOCH).zipcode_assessments("60614")
    assert back == compact


def test_assessments_given_as_json_arrays_are_written_as_they_are(tmp_path: Path) -> None:
    """The reader workers' answers go in untouched; they load as the assessments they encode."""
    one, two = _assessment("5A", "60614"), _assessment("5B", "60614")
    arrays = [json.dumps([a.to_json()]).encode() for a in (one, two)]
    ckpt = EpochCheckpoint.load(tmp_path / CHECKPOINT_NAME, EPOCH)
    ckpt.add_assessment_arrays("60614", [arrays[0], b"[]", arrays[1]])
    ckpt.add_assessment_arrays("60615", [])  # nobody committed there
    loaded = EpochCheckpoint.load(tmp_path / CHECKPOINT_NAME, EPOCH)
    assert loaded.zipcode_assessments("60614") == [one, two]
    assert loaded.zipcode_assessments("60615") == [] and loaded.done == {"60614", "60615"}
    with pytest.raises(ValueError):
        ckpt.add_assessment_arrays("60616", [b'{"hotkey": "5C"}'])
    assert "60616" not in EpochCheckpoint.load(tmp_path / CHECKPOINT_NAME, EPOCH).done
