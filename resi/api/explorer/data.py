"""What the explorer shows, gathered from the store: epochs, outcomes per zipcode and miner.

The views are plain frozen values; nothing here renders HTML. Secrets stay out by construction:
no epoch ever shows which zipcodes were honeypots (DESIGN §5: only validators see the flag; the
believed-empty pool is reused, so a public list of past honeypots would tell a fabricator where
not to fabricate), and the reason codes that would name one are shown as ``MASKED_REASONS`` (a
miner's own signed `resi report` shows its real codes). A running epoch shows no achieved total
and no per-zipcode commit counts, and no view ever carries a nonce or validation seed. PENDING
epochs are never listed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from resi.api import epochs as epoch_queries
from resi.api.public_routes import summarize_consensus
from resi.api.schemas import Consensus, ResultSummary
from resi.api.state import ApiState, effective_state
from resi.epoch.models import Epoch, EpochState, ResultSummaryRow
from resi.errors import ChainError

RECENT_EPOCHS = 12
# Public labels of the reason codes that would reveal a honeypot zipcode.
MASKED_REASONS = {"HONEYPOT": "LIAR", "HONEYPOT_EMPTY": "NO_LISTINGS"}
DONE = (EpochState.COMPLETED, EpochState.ARCHIVED)


@dataclass(frozen=True)
class Verdict:
    """A miner's outcome in one zipcode, as most validators reported it."""

    zipcode: str
    rank: int | None
    reasons: tuple[str, ...]
    liar: bool
    votes: int  # validators reporting exactly this verdict
    of: int  # validators reporting on this miner and zipcode


@dataclass(frozen=True)
class ZipcodeView:
    zipcode: str
    place: str
    lat: float
    lon: float
    expected: int
    completed: bool  # outcomes show only once the epoch is completed; honeypots never do
    commits: int | None  # None while running: which zipcodes others skip hints at honeypots
    winners: tuple[str, ...]
    validated: int | None

    @property
    def outcome(self) -> str:
        if not self.completed:
            return "assigned"
        if self.winners:
            return "won"
        if self.validated is None:
            return "pending" if self.commits else "empty"
        return "unranked" if self.commits else "empty"


@dataclass(frozen=True)
class EpochView:
    epoch_id: str
    state: str
    start: datetime
    end: datetime
    target: int
    achieved: int | None  # None until completed (see module docstring)
    zipcodes: tuple[ZipcodeView, ...]
    commits: int
    miners_committed: tuple[str, ...]
    consensus: Consensus
    scores: dict[str, str] = field(default_factory=dict)
    verdicts: dict[str, tuple[Verdict, ...]] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.state in (str(EpochState.COMPLETED), str(EpochState.ARCHIVED))

    @property
    def reporting(self) -> int:
        return len(self.consensus.validators)

    @property
    def agreeing(self) -> int:
        if self.consensus.majority_hash is None:
            return 0
        return sum(
            1 for v in self.consensus.validators if v.consensus_hash == self.consensus.majority_hash
        )

    @property
    def quorum(self) -> bool:
        """More than half of the reporting validators hold the majority hash."""
        return self.reporting > 0 and 2 * self.agreeing > self.reporting

    @property
    def miners(self) -> list[str]:
        return sorted(
            set(self.miners_committed) | set(self.verdicts) | set(self.scores) - {"<burn>"}
        )


def parse_summaries(
    rows: Sequence[ResultSummaryRow],
) -> list[tuple[ResultSummaryRow, ResultSummary]]:
    """Stored summaries parsed back (a row that no longer parses is skipped, never fatal)."""
    out = []
    for row in rows:
        try:
            out.append((row, ResultSummary.model_validate_json(row.summary_json)))
        except ValidationError:
            continue
    return out


def majority_verdicts(summaries: Sequence[ResultSummary]) -> dict[str, tuple[Verdict, ...]]:
    """Per miner, per zipcode: the (rank, reasons, liar) reported by most validators."""
    votes: dict[tuple[str, str], Counter[tuple[Any, ...]]] = {}
    for s in summaries:
        for hotkey, items in s.miners.items():
            for item in items:
                reasons = tuple(MASKED_REASONS.get(r, r) for r in item.reasons)
                key = (item.rank, reasons, item.liar)
                votes.setdefault((hotkey, item.zipcode), Counter())[key] += 1
    out: dict[str, list[Verdict]] = {}
    for (hotkey, zipcode), counter in sorted(votes.items()):
        (rank, reasons, liar), n = sorted(counter.items(), key=lambda kv: (-kv[1], repr(kv[0])))[0]
        out.setdefault(hotkey, []).append(
            Verdict(zipcode, rank, reasons, liar, n, sum(counter.values()))
        )
    return {hk: tuple(v) for hk, v in out.items()}


async def epoch_view(state: ApiState, epoch: Epoch, now: datetime) -> EpochView:
    """The view of one listed (non-PENDING) epoch."""
    eff = effective_state(epoch, now)
    done = eff in DONE
    assignments = await epoch_queries.assignments(state, epoch.epoch_id)
    commits = await state.store.list_commits(epoch.epoch_id)
    results = await state.store.validator_results(epoch.epoch_id) if done else []
    consensus = summarize_consensus(epoch.epoch_id, results)
    parsed = parse_summaries(await state.store.result_summaries(epoch.epoch_id)) if done else []
    chosen = [s for r, s in parsed if r.consensus_hash == consensus.majority_hash] or [
        s for _, s in parsed
    ]
    head = chosen[0] if chosen else None
    per_zip = Counter(c.zipcode for c in commits)
    zipcodes = tuple(
        ZipcodeView(
            zipcode=a.zipcode,
            place=f"{a.city}, {a.state}",
            lat=a.lat,
            lon=a.lon,
            expected=a.expected_listings,
            completed=done,
            commits=per_zip.get(a.zipcode, 0) if done else None,
            winners=tuple(head.zipcodes[a.zipcode].winners)
            if head and a.zipcode in head.zipcodes
            else (),
            validated=head.zipcodes[a.zipcode].validated
            if head and a.zipcode in head.zipcodes
            else None,
        )
        for a in assignments
    )
    return EpochView(
        epoch_id=epoch.epoch_id,
        state=str(eff),
        start=epoch.start,
        end=epoch.end,
        target=epoch.target,
        achieved=epoch.achieved_sum if done else None,
        zipcodes=zipcodes,
        commits=len(commits),
        miners_committed=tuple(sorted({c.hotkey for c in commits})),
        consensus=consensus,
        scores=dict(head.scores) if head else {},
        verdicts=majority_verdicts([s for _, s in parsed]),
    )


async def recent_views(state: ApiState, now: datetime) -> list[EpochView]:
    """Views of the newest listed epochs, newest first (PENDING epochs are never listed)."""
    listed = await state.store.list_epochs(limit=RECENT_EPOCHS + 4)
    shown = [e for e in listed if effective_state(e, now) is not EpochState.PENDING]
    shown.sort(key=lambda e: e.start, reverse=True)
    return [await epoch_view(state, e, now) for e in shown[:RECENT_EPOCHS]]


async def last_weights_blocks(state: ApiState, hotkeys: Sequence[str]) -> dict[str, int | None]:
    """The block of each validator's last accepted weights, where the chain can tell."""
    latest = getattr(state.chain, "latest_weights", None)
    out: dict[str, int | None] = {hk: None for hk in hotkeys}
    if latest is None:
        return out
    for hk in hotkeys:
        try:
            record = await latest(hk)
        except ChainError:  # a chain hiccup only blanks one explorer cell
            continue
        out[hk] = None if record is None else int(record.block)
    return out
