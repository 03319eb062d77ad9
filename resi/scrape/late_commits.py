"""Commits queued through an API outage, sent once the API is back and judged by the API.

While the API is unreachable the miner keeps its files in phase ``written`` (no upload grant
could be had) or ``uploaded`` (the commit could not be sent): that is the queue. If the outage
outlasts the epoch deadline, the miner's deadline stops the epoch, but the queue is still
delivered when the API returns (a ``written`` file first asks for its upload grant): the API
ranks and refuses by its own receive time (DESIGN §6), so a long outage ends in visible 409
refusals, never in a silently forgiven late commit and never in a commit the miner quietly
dropped by its own clock. A refusal is final and is recorded beside the epoch's state
(``late_commits.json``) so it is not sent again. What validators then do with an epoch that
received no commit at all is ``resi.validate.weights_keeper``'s void-epoch rule.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import anyio

from resi.api.client import ApiClient
from resi.api.schemas import CommitItem
from resi.errors import ApiError, ApiUnavailable
from resi.scrape.miner_state import EpochProgress, StateStore

log = logging.getLogger(__name__)

LATE_FILE = "late_commits.json"


@dataclass(frozen=True)
class LateCommit:
    """The API's verdict on one queued commit sent after the (miner's) deadline."""

    epoch_id: str
    zipcode: str
    status: int  # 200 accepted, else the API's refusal status (409 after the deadline)
    code: str  # "ACCEPTED" or the API's error code (e.g. EPOCH_CLOSED)

    @property
    def accepted(self) -> bool:
        return self.status == 200


async def flush_queued_commits(
    client: ApiClient, store: StateStore, now: datetime
) -> list[LateCommit]:
    """Send every queued commit of epochs whose deadline has passed; returns the verdicts.

    Raises ``ApiUnavailable`` (or a 5xx/429 ``ApiError``) while the API is still unreachable;
    what was sent before that is already recorded, the rest stays queued for the next call.
    """
    verdicts: list[LateCommit] = []
    for epoch_id in await _epoch_ids(store):
        state = await store.load(epoch_id)
        if state is None or state.assignment.deadline > now:
            continue  # the running epoch delivers its own commits
        settled = await _read_late(store, epoch_id)
        for zipcode, progress in sorted(state.zipcodes.items()):
            if progress.phase not in ("written", "uploaded") or zipcode in settled:
                continue
            if progress.phase == "written":
                verdict = await _ask_grant(client, state, zipcode)
            else:
                verdict = await _send(client, store, state, zipcode)
            if verdict is None:
                continue
            verdicts.append(verdict)
            if not verdict.accepted:
                settled[zipcode] = asdict(verdict)
                await _write_late(store, epoch_id, settled)
    return verdicts


async def _ask_grant(client: ApiClient, state: EpochProgress, zipcode: str) -> LateCommit | None:
    """A queued file that never got its upload grant asks for it now; the API's verdict.

    None when the grant is given (the epoch is open again, so the running epoch delivers it).
    """
    progress = state.zipcodes[zipcode]
    assert progress.sha256 is not None
    try:
        await client.folder_access(state.epoch_id, zipcode, progress.sha256)
    except ApiError as exc:
        return _refused(state.epoch_id, zipcode, "upload grant", exc)
    return None


def _refused(epoch_id: str, zipcode: str, what: str, exc: ApiError) -> LateCommit:
    """The final verdict for a refusal; re-raises what is still an outage (5xx, 429, down)."""
    if isinstance(exc, ApiUnavailable) or exc.status >= 500 or exc.status == 429:
        raise exc
    log.error(
        "epoch %s zipcode %s: queued %s refused by the API (%d %s): %s",
        epoch_id, zipcode, what, exc.status, exc.code, exc.message,
    )  # fmt: skip
    return LateCommit(epoch_id, zipcode, exc.status, exc.code)


async def _send(
    client: ApiClient, store: StateStore, state: EpochProgress, zipcode: str
) -> LateCommit:
    progress = state.zipcodes[zipcode]
    assert progress.key and progress.sha256 and progress.rows is not None
    item = CommitItem(zipcode=zipcode, key=progress.key, sha256=progress.sha256, rows=progress.rows)
    assignment = state.assignment
    try:
        receipt = await client.post_status(
            assignment.epoch_id, assignment.nonce, "IN_PROGRESS", commits=[item]
        )
    except ApiError as exc:
        return _refused(state.epoch_id, zipcode, "commit", exc)
    accepted = {a.zipcode: a for a in receipt.accepted}
    progress.phase = "committed"
    if zipcode in accepted:
        progress.committed_at = accepted[zipcode].received_at
    await store.save(state)
    log.warning("epoch %s zipcode %s: queued commit accepted late", state.epoch_id, zipcode)
    return LateCommit(state.epoch_id, zipcode, 200, "ACCEPTED")


async def _epoch_ids(store: StateStore) -> list[str]:
    root = anyio.Path(store.workdir / "epochs")
    if not await root.is_dir():
        return []
    return sorted([p.name async for p in root.iterdir() if await (p / "state.json").is_file()])


def _late_path(store: StateStore, epoch_id: str) -> Path:
    return store.epoch_dir(epoch_id) / LATE_FILE


async def _read_late(store: StateStore, epoch_id: str) -> dict[str, dict[str, object]]:
    try:
        raw = await anyio.Path(_late_path(store, epoch_id)).read_text()
    except FileNotFoundError:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    # A corrupt record only means a refused commit is sent (and refused) once more.
    return data if isinstance(data, dict) else {}


async def _write_late(
    store: StateStore, epoch_id: str, settled: dict[str, dict[str, object]]
) -> None:
    path = anyio.Path(_late_path(store, epoch_id))
    tmp = path.with_name(f".{LATE_FILE}.tmp")
    await tmp.write_text(json.dumps(settled, sort_keys=True, indent=1))
    await tmp.replace(path)
