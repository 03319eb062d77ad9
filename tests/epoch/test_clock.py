"""The epoch clock: ids, windows, boundaries, leap days, odd and invalid lengths."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from resi.epoch.clock import EpochClock, format_epoch_id, parse_epoch_id
from resi.epoch.models import EpochState
from resi.errors import EpochError


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def test_default_four_hour_epochs_align_to_midnight() -> None:
    c = EpochClock(14_400)
    assert c.epoch_id_at(at(2025, 10, 1, 16, 0, 0)) == "2025-10-01T16-00-00"
    assert c.epoch_id_at(at(2025, 10, 1, 19, 59, 59)) == "2025-10-01T16-00-00"
    assert c.epoch_id_at(at(2025, 10, 2, 0, 0, 0)) == "2025-10-02T00-00-00"


def test_boundary_microsecond_before_end_is_same_epoch() -> None:
    c = EpochClock(14_400)
    end = at(2025, 10, 1, 20)
    assert c.epoch_id_at(end - timedelta(microseconds=1)) == "2025-10-01T16-00-00"
    assert c.epoch_id_at(end) == "2025-10-01T20-00-00"
    assert c.seconds_until_next(end - timedelta(microseconds=1)) == pytest.approx(1e-6)
    assert c.seconds_until_next(end) == 14_400


def test_leap_day_rolls_into_march() -> None:
    c = EpochClock(14_400)
    last = c.epoch_id_at(at(2024, 2, 29, 23, 0))
    assert last == "2024-02-29T20-00-00"
    assert c.next_id(last) == "2024-03-01T00-00-00"
    assert c.next_id("2023-02-28T20-00-00") == "2023-03-01T00-00-00"


@pytest.mark.parametrize("seconds", [20, 30, 60, 45, 1, 86_400, 675])
def test_odd_lengths_tile_the_day(seconds: int) -> None:
    c = EpochClock(seconds)
    eid = c.epoch_id_at(at(2025, 1, 1, 0, 0, 0))
    assert eid == "2025-01-01T00-00-00"
    steps = 86_400 // seconds
    assert c.next_id(eid, steps) == "2025-01-02T00-00-00"
    w = c.window(c.next_id(eid, steps - 1))
    assert w.end == at(2025, 1, 2)


@pytest.mark.parametrize("seconds", [0, -20, 7, 11, 86_401, 172_800])
def test_invalid_length_is_refused(seconds: int) -> None:
    with pytest.raises(EpochError):
        EpochClock(seconds)


def test_state_and_deadline_margin() -> None:
    c = EpochClock(60, deadline_margin_seconds=10)
    w = c.window("2025-01-01T00-01-00")
    assert w.deadline == at(2025, 1, 1, 0, 1, 50)
    assert c.state_at(w.epoch_id, at(2025, 1, 1, 0, 0, 59)) is EpochState.PENDING
    assert c.state_at(w.epoch_id, at(2025, 1, 1, 0, 1, 0)) is EpochState.ACTIVE
    assert c.state_at(w.epoch_id, at(2025, 1, 1, 0, 2, 0)) is EpochState.COMPLETED
    assert c.accepts_commits(w.epoch_id, at(2025, 1, 1, 0, 1, 49))
    assert not c.accepts_commits(w.epoch_id, at(2025, 1, 1, 0, 1, 50))


@pytest.mark.parametrize(
    "bad", ["2025-01-01T00:00:00", "2025-13-01T00-00-00", "2025-02-30T00-00-00", "", "x"]
)
def test_malformed_epoch_ids_are_refused(bad: str) -> None:
    with pytest.raises(EpochError):
        parse_epoch_id(bad)


def test_misaligned_id_is_refused() -> None:
    with pytest.raises(EpochError):
        EpochClock(14_400).window("2025-01-01T01-00-00")


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(EpochError):
        EpochClock(60).epoch_id_at(datetime(2025, 1, 1))


def test_format_roundtrip() -> None:
    start = at(2031, 12, 31, 23, 59, 40)
    assert parse_epoch_id(format_epoch_id(start)) == start
