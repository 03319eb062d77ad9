"""The epoch clock (pure): epoch ids ↔ UTC windows, state at an instant, deadlines.

Epochs are aligned to UTC midnight, so a length must divide a day (86,400 s); that covers the
4 h default as well as devnet lengths of 20, 30 or 60 seconds. The current time is always
passed in, never read here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from resi.epoch.models import EpochState
from resi.errors import EpochError

DAY_SECONDS = 86_400
EPOCH_ID_FORMAT = "%Y-%m-%dT%H-%M-%S"
_EPOCH_ID_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}$")
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class EpochWindow:
    """One epoch's times: ``start`` ≤ t < ``end``; commits accepted until ``deadline``."""

    epoch_id: str
    start: datetime
    end: datetime
    deadline: datetime


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise EpochError("epoch clock needs a timezone-aware datetime")
    return now.astimezone(UTC)


class EpochClock:
    """Epoch arithmetic for one epoch length and submission deadline margin."""

    def __init__(self, epoch_seconds: int, deadline_margin_seconds: float = 0.0) -> None:
        """Raises ``EpochError`` unless ``epoch_seconds`` is a positive divisor of a day and the
        margin is in ``[0, epoch_seconds)``."""
        if (
            isinstance(epoch_seconds, bool)
            or int(epoch_seconds) != epoch_seconds
            or epoch_seconds <= 0
            or DAY_SECONDS % int(epoch_seconds)
        ):
            raise EpochError(f"epoch length {epoch_seconds!r} s must be a divisor of 86400")
        if not 0 <= deadline_margin_seconds < epoch_seconds:
            raise EpochError("deadline margin must be at least 0 and shorter than an epoch")
        self.epoch_seconds = int(epoch_seconds)
        self.length = timedelta(seconds=self.epoch_seconds)
        self.margin = timedelta(seconds=deadline_margin_seconds)

    def start_of(self, now: datetime) -> datetime:
        """Start of the epoch containing ``now``."""
        # Exact integer arithmetic on timedeltas (no float rounding at the boundary).
        elapsed = _aware(now) - _UNIX_EPOCH
        return _UNIX_EPOCH + (elapsed // self.length) * self.length

    def epoch_id_at(self, now: datetime) -> str:
        """Id of the epoch containing ``now``."""
        return format_epoch_id(self.start_of(now))

    def window(self, epoch_id: str) -> EpochWindow:
        """Times of ``epoch_id``; raises ``EpochError`` for a malformed or misaligned id."""
        start = parse_epoch_id(epoch_id)
        if (start - _UNIX_EPOCH) % self.length:
            raise EpochError(f"epoch id {epoch_id} is not aligned to {self.epoch_seconds} s epochs")
        end = start + self.length
        return EpochWindow(epoch_id, start, end, end - self.margin)

    def window_at(self, now: datetime) -> EpochWindow:
        """The window of the epoch containing ``now``."""
        return self.window(self.epoch_id_at(now))

    def next_id(self, epoch_id: str, steps: int = 1) -> str:
        """The id ``steps`` epochs after (negative: before) ``epoch_id``."""
        return format_epoch_id(self.window(epoch_id).start + steps * self.length)

    def state_at(self, epoch_id: str, now: datetime) -> EpochState:
        """PENDING before the start, ACTIVE inside the window, COMPLETED from the end on.

        ARCHIVED is a retention decision of the epoch manager, not a clock state.
        """
        w = self.window(epoch_id)
        now = _aware(now)
        if now < w.start:
            return EpochState.PENDING
        if now < w.end:
            return EpochState.ACTIVE
        return EpochState.COMPLETED

    def accepts_commits(self, epoch_id: str, now: datetime) -> bool:
        """True while ``start ≤ now < deadline``."""
        w = self.window(epoch_id)
        return w.start <= _aware(now) < w.deadline

    def seconds_until_next(self, now: datetime) -> float:
        """Seconds from ``now`` to the start of the next epoch (> 0)."""
        now = _aware(now)
        return (self.start_of(now) + self.length - now).total_seconds()


def format_epoch_id(start: datetime) -> str:
    """``YYYY-MM-DDTHH-MM-SS`` of a UTC instant."""
    return _aware(start).strftime(EPOCH_ID_FORMAT)


def parse_epoch_id(epoch_id: str) -> datetime:
    """The UTC start encoded in ``epoch_id``; raises ``EpochError`` when malformed."""
    if not isinstance(epoch_id, str) or not _EPOCH_ID_RE.match(epoch_id):
        raise EpochError(f"malformed epoch id {epoch_id!r} (want YYYY-MM-DDTHH-MM-SS)")
    try:
        return datetime.strptime(epoch_id, EPOCH_ID_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise EpochError(f"epoch id {epoch_id!r} is not a real date and time") from None
