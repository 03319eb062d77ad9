"""Issue 12: 409 EPOCH_CLOSED, from any route, ends a miner's epoch work; it never kills it.

Scenario behaviours run zipcodes in task groups, so the refusal arrives wrapped in (possibly
nested) exception groups; before, that escaped ``run_miner`` and ended the whole scenario
process on a loaded machine.
"""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from resi.devnet.scenarios import Ctx, MinerSpec, ScenarioSpec, _epoch_ended
from resi.errors import ApiError, ApiUnavailable, StorageError
from resi.scrape.miner import epoch_closed

CLOSED = ApiError(409, "EPOCH_CLOSED", "epoch is not accepting submissions")


def _ctx(tmp_path: Path) -> Ctx:
    miner = MinerSpec("m0-hostile", "hostile", "w", "h", tmp_path / "m0")
    spec = ScenarioSpec(
        "http://127.0.0.1:1", None, "http://127.0.0.1:2", tmp_path, 1.0, 0, (miner,)
    )
    return Ctx(spec, miner, "5hk", None, None, None, anyio.CapacityLimiter(1))  # type: ignore[arg-type]


def _events(tmp_path: Path) -> list[dict[str, str]]:
    lines = (tmp_path / "m0" / "events.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_only_409_epoch_closed_counts_as_the_epoch_closing() -> None:
    assert epoch_closed(CLOSED)
    assert not epoch_closed(ApiError(409, "ALREADY_COMMITTED", "x"))
    assert not epoch_closed(ApiError(400, "EPOCH_CLOSED", "x"))
    assert not epoch_closed(ApiUnavailable(0, "UNREACHABLE", "down"))
    assert not epoch_closed(StorageError("s3"))


@pytest.mark.parametrize(
    "exc",
    [
        CLOSED,
        ExceptionGroup("zipcodes", [CLOSED, CLOSED]),
        ExceptionGroup("outer", [ExceptionGroup("folder_access", [CLOSED])]),
    ],
)
def test_grouped_epoch_closed_is_logged_as_the_end_of_the_epoch(
    tmp_path: Path, exc: Exception
) -> None:
    _epoch_ended(_ctx(tmp_path), "2026-01-01T00-00-00", exc)
    [event] = _events(tmp_path)
    assert event["event"] == "epoch_closed" and event["epoch_id"] == "2026-01-01T00-00-00"


def test_other_failures_are_recorded_as_errors_with_every_cause(tmp_path: Path) -> None:
    exc = ExceptionGroup("zipcodes", [CLOSED, ValueError("bug"), StorageError("s3 down")])
    _epoch_ended(_ctx(tmp_path), "2026-01-01T00-00-00", exc)
    [event] = _events(tmp_path)
    assert event["event"] == "error"
    assert "ValueError: bug" in event["note"] and "s3 down" in event["note"]
