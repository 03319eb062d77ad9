"""The epoch manager: keeps the current and next epoch in the store and moves states forward.

Safe to run in several processes at once and to restart at any moment: an epoch's content is a
pure function of (epoch_id, secret, catalog, cooldown history, validated history, empty beliefs),
and it is inserted under a unique key, so racing replicas leave exactly one identical row.

It also closes the calibration loop: once an epoch's reporting window (the epoch after it, when
validators validate it) has passed, the validators' per-zipcode reports are folded once into the
consensus history that the next selections read (docs/honeypots.md).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio

from resi.config import EpochSettings
from resi.epoch.calibration import counts_of, fold
from resi.epoch.catalog import builtin_catalog, calibrate, parse_plain_csv, validated_empty
from resi.epoch.clock import EpochClock
from resi.epoch.models import Assignment, Epoch, EpochState, ZipcodeInfo
from resi.epoch.secrets import epoch_nonce, selection_seed, validation_seed
from resi.epoch.selector import PreparedCatalog, SelectionParams, select_zipcodes
from resi.epoch.store.base import Store

log = logging.getLogger(__name__)

_ORDER = [EpochState.PENDING, EpochState.ACTIVE, EpochState.COMPLETED, EpochState.ARCHIVED]
_OPEN_STATES = (EpochState.PENDING, EpochState.ACTIVE, EpochState.COMPLETED)


@dataclass(frozen=True)
class EpochStatus:
    """Result of one ``ensure`` pass."""

    now: datetime
    current: Epoch
    next: Epoch
    created: tuple[str, ...]
    transitions: tuple[tuple[str, EpochState], ...]


class EpochManager:
    """Creates epochs ahead of time and runs PENDING→ACTIVE→COMPLETED→ARCHIVED."""

    def __init__(
        self,
        store: Store,
        settings: EpochSettings,
        secret: str,
        catalog: Sequence[ZipcodeInfo],
        *,
        deadline_margin_seconds: float = 0.0,
        archive_after_epochs: int = 7,
        calibrate_counts: bool = True,
    ) -> None:
        """``archive_after_epochs``: a COMPLETED epoch is ARCHIVED once this many epoch lengths
        have passed since its end. ``calibrate_counts`` False keeps catalog counts as they are
        (validated-empty zipcodes still become honeypot candidates)."""
        self.store = store
        self.settings = settings
        self.clock = EpochClock(settings.epoch_seconds, deadline_margin_seconds)
        self.params = SelectionParams.from_settings(settings)
        self.archive_after = archive_after_epochs * self.clock.length
        self.calibrate_counts = calibrate_counts
        self._secret = secret
        self._catalog = tuple(catalog)
        self._prepared = PreparedCatalog.of(self._catalog)

    # ------------------------------------------------------------------ pure content

    def build(
        self,
        epoch_id: str,
        state: EpochState,
        *,
        cooldown: set[str],
        history: dict[str, list[int]],
        beliefs: frozenset[str] | set[str] = frozenset(),
    ) -> tuple[Epoch, list[Assignment]]:
        """The epoch row and its assignments (pure); raises ``EpochError`` for a bad id.

        ``history``: consensus counts per zipcode, oldest first; ``beliefs``: zipcodes believed
        empty from imported data (a later positive consensus count ends such a belief).
        """
        window = self.clock.window(epoch_id)
        catalog = self._prepared
        if self.calibrate_counts and history:
            catalog = PreparedCatalog.of(
                calibrate(self._catalog, history, self.settings.calibration_max_step)
            )
        selection = select_zipcodes(
            catalog,
            self.params,
            selection_seed(self._secret, epoch_id),
            cooldown=cooldown,
            empty_zipcodes=self.believed_empty(history, beliefs),
        )
        epoch = Epoch(
            epoch_id=epoch_id,
            start=window.start,
            end=window.end,
            deadline=window.deadline,
            state=state,
            nonce=epoch_nonce(self._secret, epoch_id),
            target=self.params.target,
            tolerance=self.params.tolerance,
            achieved_sum=selection.achieved_sum,
        )
        assignments = [
            Assignment(
                epoch_id=epoch_id,
                position=pos,
                zipcode=p.zipcode.zipcode,
                expected_listings=p.expected_listings,
                state=p.zipcode.state,
                city=p.zipcode.city,
                county=p.zipcode.county,
                market_tier=str(p.zipcode.market_tier),
                region=p.zipcode.region,
                lat=p.zipcode.lat,
                lon=p.zipcode.lon,
                honeypot=p.honeypot,
            )
            for pos, p in enumerate(selection.picks)
        ]
        return epoch, assignments

    def believed_empty(
        self, history: dict[str, list[int]], beliefs: frozenset[str] | set[str] = frozenset()
    ) -> set[str]:
        """Honeypot material: validated empty for ``honeypot_min_empty_epochs`` consecutive
        epochs, or believed empty from imported data and not since found to hold listings."""
        validated = validated_empty(history, self.settings.honeypot_min_empty_epochs)
        imported = {z for z in beliefs if not (history.get(z) and history[z][-1] > 0)}
        return validated | imported

    def validation_seed(self, epoch: Epoch) -> str | None:
        """The epoch's validation seed once it is COMPLETED or ARCHIVED, else None."""
        if epoch.state in (EpochState.COMPLETED, EpochState.ARCHIVED):
            return validation_seed(self._secret, epoch.epoch_id)
        return None

    # ------------------------------------------------------------------ store side

    async def create(self, epoch_id: str, now: datetime) -> bool:
        """Create ``epoch_id`` if missing; True if this call inserted it."""
        window = self.clock.window(epoch_id)
        cooldown = await self.store.zipcodes_used_since(
            window.start - timedelta(hours=self.settings.cooldown_hours), window.start
        )
        history = await self.store.validated_history()
        beliefs = await self.store.empty_beliefs()
        state = self.clock.state_at(epoch_id, now)
        epoch, assignments = self.build(
            epoch_id, state, cooldown=cooldown, history=history, beliefs=beliefs
        )
        inserted = await self.store.insert_epoch(epoch, assignments)
        if inserted:
            log.info(
                "created epoch %s: %d zipcodes, %d expected listings",
                epoch_id,
                len(assignments),
                epoch.achieved_sum,
            )
        return inserted

    async def ensure(self, now: datetime) -> EpochStatus:
        """Make sure the current and next epoch exist and every state matches ``now``."""
        current_id = self.clock.epoch_id_at(now)
        next_id = self.clock.next_id(current_id)
        await self.fold_reports(now)
        created = []
        # Current before next: the next epoch's cooldown must see the current one's zipcodes.
        for epoch_id in (current_id, next_id):
            if await self.store.get_epoch(epoch_id) is None and await self.create(epoch_id, now):
                created.append(epoch_id)
        transitions = await self._advance(now)
        current = await self.store.get_epoch(current_id)
        upcoming = await self.store.get_epoch(next_id)
        assert current is not None and upcoming is not None  # just ensured above
        return EpochStatus(now, current, upcoming, tuple(created), tuple(transitions))

    async def advance(self, now: datetime) -> EpochStatus:
        """Move stored states forward without creating epochs (selection paused by an operator).

        ``current``/``next`` are whatever exists (the window's epochs may be missing).
        """
        transitions = await self._advance(now)
        current_id = self.clock.epoch_id_at(now)
        current = await self.store.get_epoch(current_id)
        upcoming = await self.store.get_epoch(self.clock.next_id(current_id))
        return EpochStatus(now, current, upcoming, (), tuple(transitions))  # type: ignore[arg-type]

    async def fold_reports(self, now: datetime) -> list[str]:
        """Fold the validators' reports of every epoch whose reporting window has closed (the
        epoch after it has ended) into the consensus history, once. Returns the folded ids."""
        folded = await self.store.folded_epochs()
        done = await self.store.list_epochs(
            limit=1_000, states=(EpochState.COMPLETED, EpochState.ARCHIVED)
        )
        out = []
        for epoch in sorted(done, key=lambda e: e.epoch_id):
            if epoch.epoch_id in folded or now < epoch.end + self.clock.length:
                continue
            consensus = fold(await self.store.zipcode_reports(epoch.epoch_id))
            if await self.store.fold_calibration(epoch.epoch_id, counts_of(consensus), now):
                out.append(epoch.epoch_id)
                empty = sorted(z for z, c in consensus.items() if c.count == 0)
                contradicted = sorted(z for z, c in consensus.items() if c.contradicted)
                log.info(
                    "calibration: folded epoch %s (%d zipcodes, %d validated empty, "
                    "%d honeypots contradicted)",
                    epoch.epoch_id,
                    len(consensus),
                    len(empty),
                    len(contradicted),
                )
        return out

    def due_state(self, epoch: Epoch, now: datetime) -> EpochState:
        """The state ``epoch`` should be in at ``now`` (from its stored window)."""
        if now < epoch.start:
            return EpochState.PENDING
        if now < epoch.end:
            return EpochState.ACTIVE
        if now >= epoch.end + self.archive_after:
            return EpochState.ARCHIVED
        return EpochState.COMPLETED

    async def _advance(self, now: datetime) -> list[tuple[str, EpochState]]:
        done = []
        open_epochs = await self.store.list_epochs(limit=1_000, states=_OPEN_STATES)
        for epoch in open_epochs:
            due = self.due_state(epoch, now)
            if _ORDER.index(due) > _ORDER.index(epoch.state):
                if await self.store.set_epoch_state(epoch.epoch_id, due):
                    done.append((epoch.epoch_id, due))
        return done


async def resolve_catalog(store: Store, settings: EpochSettings) -> list[ZipcodeInfo]:
    """The catalog to select from: the stored one if any, else ``catalog_path`` applied to the
    built-in catalog, else the built-in catalog. Raises ``CatalogImportError`` / ``StoreError``."""
    stored = await store.load_catalog()
    if stored:
        return stored
    base = await anyio.to_thread.run_sync(builtin_catalog)
    if settings.catalog_path is None:
        return base
    path = settings.catalog_path.expanduser()
    return await anyio.to_thread.run_sync(lambda: parse_plain_csv(path, base))
